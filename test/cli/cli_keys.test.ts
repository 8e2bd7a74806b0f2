import { expect } from 'chai';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runCli } from '../../src/cli/run.ts';
import { loadConfig } from '../../src/config/index.ts';
import { parseConfiguredKeys } from '../../src/config/provider_keys.ts';

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    stdin: Object.assign(Readable.from([]), { isTTY: false }),
    // No MONGODB_URI and an empty data dir: a command that touched the database would fail.
    env: {},
    cwd: await mkdtemp(join(tmpdir(), 'cli-keys-')),
  });
  return { code, stdout, stderr };
}

function envValue(output: string, name: string): string {
  const line = output.split('\n').find((l) => l.startsWith(`${name}=`));
  expect(line, `${name} line`).to.be.a('string');
  return line!.slice(name.length + 1).replace(/^'(.*)'$/, '$1');
}

describe('operators CLI: keys generate', function () {
  it('prints a key set that production configuration accepts, without a database', async function () {
    const { code, stdout, stderr } = await run(['keys', 'generate']);
    expect(stderr).to.equal('');
    expect(code).to.equal(0);
    const parsed = parseConfiguredKeys({ jwks: envValue(stdout, 'JWKS'), cookieKeys: envValue(stdout, 'COOKIE_KEYS') });
    expect(parsed.problems).to.deep.equal([]);
    expect(parsed.keys!.jwks.keys.map((k) => k.alg)).to.have.members(['RS256', 'ES256']);
  });

  it('prints every secret a production start needs: loadConfig accepts them as they are', async function () {
    const { stdout } = await run(['keys', 'generate']);
    const config = loadConfig({
      NODE_ENV: 'production',
      MONGODB_URI: 'mongodb://db.internal:27017/oidc_stepup',
      ISSUER: 'https://id.shop.example',
      SMTP_URL: 'smtps://mailer:secret@smtp.shop.example',
      MAIL_FROM: 'no-reply@shop.example',
      JWKS: envValue(stdout, 'JWKS'),
      COOKIE_KEYS: envValue(stdout, 'COOKIE_KEYS'),
      FACTOR_KEYS: envValue(stdout, 'FACTOR_KEYS'),
      MFA_PEPPER: envValue(stdout, 'MFA_PEPPER'),
    });
    expect(config.factorKeys?.activeKeyId).to.match(/^\d{4}-\d{2}-\d{2}$/);
    expect(config.mfaPepper?.length).to.equal(32);
  });

  it('gives a different key set on every run', async function () {
    const first = await run(['keys', 'generate']);
    const second = await run(['keys', 'generate']);
    expect(envValue(first.stdout, 'COOKIE_KEYS')).to.not.equal(envValue(second.stdout, 'COOKIE_KEYS'));
    expect(envValue(first.stdout, 'JWKS')).to.not.equal(envValue(second.stdout, 'JWKS'));
    expect(envValue(first.stdout, 'FACTOR_KEYS')).to.not.equal(envValue(second.stdout, 'FACTOR_KEYS'));
    expect(envValue(first.stdout, 'MFA_PEPPER')).to.not.equal(envValue(second.stdout, 'MFA_PEPPER'));
  });

  it('refuses unexpected arguments with exit code 2', async function () {
    const { code, stderr } = await run(['keys', 'generate', '--bits', '4096']);
    expect(code).to.equal(2);
    expect(stderr).to.match(/keys generate/);
  });
});
