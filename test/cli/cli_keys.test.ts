import { expect } from 'chai';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runCli } from '../../src/cli/run.ts';
import { parseConfiguredKeys } from '../../src/provider/keys.ts';

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

  it('gives a different key set on every run', async function () {
    const first = await run(['keys', 'generate']);
    const second = await run(['keys', 'generate']);
    expect(envValue(first.stdout, 'COOKIE_KEYS')).to.not.equal(envValue(second.stdout, 'COOKIE_KEYS'));
    expect(envValue(first.stdout, 'JWKS')).to.not.equal(envValue(second.stdout, 'JWKS'));
  });

  it('refuses unexpected arguments with exit code 2', async function () {
    const { code, stderr } = await run(['keys', 'generate', '--bits', '4096']);
    expect(code).to.equal(2);
    expect(stderr).to.match(/keys generate/);
  });
});
