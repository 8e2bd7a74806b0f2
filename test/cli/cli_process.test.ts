import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import mongoose, { type Connection } from 'mongoose';
import { verifyLogin } from '../../src/accounts/accounts.ts';
import { findClient } from '../../src/provider/clients.ts';
import { freshDbUri } from './db_uri.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm run cli -- …args` in the project root, as an operator would. */
function npmRunCli(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'cli', '--', ...args], { cwd: PROJECT_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('operators CLI as a process (npm run cli)', function () {
  this.timeout(60_000);
  let uri: string;
  let conn: Connection;
  let emptyDataDir: string;

  before(async function () {
    uri = freshDbUri('cli_process');
    conn = await mongoose.createConnection(uri).asPromise();
    emptyDataDir = await mkdtemp(join(tmpdir(), 'cli-process-'));
  });
  after(async function () {
    await conn.dropDatabase();
    await conn.close();
    await rm(emptyDataDir, { recursive: true, force: true });
  });

  it('adds a user with a piped password on the database of MONGODB_URI, lists it, and exits 0', async function () {
    const env = { ...process.env, MONGODB_URI: uri };
    const added = await npmRunCli(['user', 'add', '--email', 'spawned@example.com', '--name', 'Spawned', '--invoice', '--password-stdin'], env, 'spawned password\n');
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stdout).to.match(/Created account spawned@example\.com \(id [\w-]+\), privileges: invoice\./);
    expect(added.stderr).to.not.include('Unsupported runtime');
    expect(await verifyLogin(conn, 'spawned@example.com', 'spawned password')).to.include({ email: 'spawned@example.com' });

    const listed = await npmRunCli(['user', 'list'], env);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.stdout).to.match(/spawned@example\.com\s+Spawned\s+-\s+-\s+invoice\s+active/);
  });

  it('registers a private_key_jwt client from a JWKS file, refuses a private key (exit 2), removes only with --yes', async function () {
    const env = { ...process.env, MONGODB_URI: uri };
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicFile = join(emptyDataDir, 'public.json');
    const privateFile = join(emptyDataDir, 'private.json');
    await writeFile(publicFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] }));
    await writeFile(privateFile, JSON.stringify({ keys: [await exportJWK(privateKey)] }));
    const base = ['client', 'add', '--id', 'pk-proc', '--auth', 'private_key_jwt', '--redirect-uri', 'https://shop.example/cb'];

    const refused = await npmRunCli([...base, '--jwks', privateFile], env);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.include('jwks.keys[0] contains private key members (d)');
    expect(refused.stderr).to.not.match(/\n\s+at /);

    const added = await npmRunCli([...base, '--jwks', publicFile], env);
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stdout).to.match(/token endpoint auth:\s+private_key_jwt/).and.match(/jwks:\s+1 public key: k1 EC P-256/);
    expect(added.stdout).to.not.include('client_secret');
    expect((await findClient(conn, 'pk-proc'))?.tokenEndpointAuthMethod).to.equal('private_key_jwt');

    const unconfirmed = await npmRunCli(['client', 'remove', 'pk-proc'], env);
    expect(unconfirmed.code).to.equal(2);
    expect(unconfirmed.stderr).to.include('add --yes to confirm');
    const removed = await npmRunCli(['client', 'remove', 'pk-proc', '--yes'], env);
    expect(removed.code, removed.stderr).to.equal(0);
    expect(removed.stdout).to.include('Removed client pk-proc');
    expect(await findClient(conn, 'pk-proc')).to.equal(null);
  });

  it('without a database: the message on stderr and exit code 1; bad arguments: exit code 2', async function () {
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: emptyDataDir };
    delete env.MONGODB_URI;
    const noDb = await npmRunCli(['company', 'list'], env);
    expect(noDb.code).to.equal(1);
    expect(noDb.stderr).to.include('No database: set MONGODB_URI, or start the dev server (npm start) and run this again.');
    expect(noDb.stderr).to.not.match(/\n\s+at /);

    const bad = await npmRunCli(['company', 'add', '--policy', 'forced'], env);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('company add: --name is required');
  });
});
