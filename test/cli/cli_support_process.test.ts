import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mongoose, { type Connection } from 'mongoose';
import { createAccount } from '../../src/accounts/accounts.ts';
import { listEvents } from '../../src/audit/audit_log.ts';
import { loadConfig } from '../../src/config/index.ts';
import { resolveMfaSecrets } from '../../src/provider/mfa_secrets.ts';
import { createRecoveryFactor } from '../../src/factors/index.ts';
import { createAttemptLimiter } from '../../src/factors/shared/attempts.ts';
import { freshDbUri } from './db_uri.ts';
import { failOnce } from '../factors/support.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `npm run cli -- …args` in the project root with stdin a pipe (not a terminal), as a script would. */
function npmRunCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'cli', '--', ...args], { cwd: PROJECT_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

describe('operators CLI as a process: support commands', function () {
  this.timeout(60_000);
  let uri: string;
  let conn: Connection;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    uri = freshDbUri('cli_support_process');
    conn = await mongoose.createConnection(uri).asPromise();
    env = { ...process.env, MONGODB_URI: uri, USER: 'bob' };
    for (const name of ['SMTP_URL', 'JWKS', 'COOKIE_KEYS', 'FACTOR_KEYS', 'MFA_PEPPER', 'NODE_ENV']) delete env[name];
  });
  after(async function () {
    await conn.dropDatabase();
    await conn.close();
  });

  it('reset-factors from a script: refused without --yes (exit 2), done with it, and says no mail went out', async function () {
    const account = await createAccount(conn, { email: 'scripted@example.com', name: 'Scripted', password: 'a long password' });
    const secrets = await resolveMfaSecrets(loadConfig({ MONGODB_URI: uri }), conn);
    const recovery = createRecoveryFactor({ conn, attempts: createAttemptLimiter(conn), pepper: secrets.peppers.recoveryCodes, otherFactors: () => [] });
    await recovery.generate(account.id);

    const refused = await npmRunCli(['user', 'reset-factors', 'scripted@example.com'], env);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.include('add --yes to confirm').and.include('Usage: npm run cli -- user reset-factors EMAIL [--yes]');
    expect(await recovery.isEnrolled(account.id)).to.equal(true);

    const done = await npmRunCli(['user', 'reset-factors', 'scripted@example.com', '--yes'], env);
    expect(done.code, done.stderr).to.equal(0);
    expect(done.stdout).to.include('Reset the second factors of scripted@example.com: removed Recovery code (recovery_code).');
    expect(done.stdout).to.include('The customer was not emailed: no SMTP_URL is set');
    expect(await recovery.isEnrolled(account.id)).to.equal(false);
    expect((await listEvents(conn, account.id))[0]).to.deep.include({ event: 'factors_reset', actor: { type: 'support', id: 'bob' } });
  });

  it('unlock lifts a lockout and exits 0', async function () {
    const account = await createAccount(conn, { email: 'unlock@example.com', name: 'Unlock', password: 'a long password' });
    const limiter = createAttemptLimiter(conn);
    for (let i = 0; i < 5; i += 1) await failOnce(limiter, account.id);
    const run = await npmRunCli(['user', 'unlock', 'unlock@example.com'], env);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include('Second factor of unlock@example.com: the lockout was lifted.');
    expect(await limiter.status(account.id)).to.include({ locked: false });
  });
});
