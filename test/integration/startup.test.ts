/**
 * `npm start` as an operator sees it: main.ts in a child process (the same Node binary and tsx loader as the tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { freePort } from '../helpers/net.ts';

const MAIN = join(process.cwd(), 'src', 'main.ts');


/** A clean environment: nothing from the test run's own configuration leaks in. */
function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...extra };
}

function startMain(env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  return { child, output: () => ({ stdout, stderr }) };
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('start-up (main.ts)', function () {
  this.timeout(60_000);

  it('production without mail and MFA secrets refuses to start and lists every missing setting', async function () {
    const { child, output } = startMain(baseEnv({ NODE_ENV: 'production' }));
    const [code] = await once(child, 'exit') as [number | null];
    expect(code).to.equal(1);
    const { stderr } = output();
    for (const variable of ['MONGODB_URI', 'JWKS', 'COOKIE_KEYS', 'SMTP_URL', 'MAIL_FROM', 'FACTOR_KEYS', 'MFA_PEPPER']) {
      expect(stderr, variable).to.match(new RegExp(`^  - ${variable} is required when NODE_ENV=production`, 'm'));
    }
  });

  describe('development with no configuration', function () {
    let dataDir: string;
    let run: ReturnType<typeof startMain> | undefined;
    let issuer: string;

    before(async function () {
      dataDir = await mkdtemp(join(tmpdir(), 'oidc-stepup-startup-'));
      const port = await freePort();
      issuer = `http://127.0.0.1:${port}`;
      run = startMain(baseEnv({
        NODE_ENV: 'development', PORT: String(port), ISSUER: issuer, DATA_DIR: dataDir, EMBEDDED_DB_SNAPSHOT: 'off', DEV_SEED: 'false', LOG_LEVEL: 'warn',
      }));
      await waitFor(() => run!.output().stdout.includes('Stop with Ctrl+C') || run!.child.exitCode !== null, 45_000);
      if (run.child.exitCode !== null) throw new Error(`main exited early: ${run.output().stderr}`);
    });
    after(async function () {
      if (run?.child.exitCode === null) {
        const exited = once(run.child, 'exit');
        run.child.kill('SIGTERM');
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    });

    it('the banner says where dev mail is readable, and the page is there', async function () {
      expect(run!.output().stdout).to.include(`read it at ${issuer}/dev/mail`);
      const response = await fetch(`${issuer}/dev/mail`);
      expect(response.status).to.equal(200);
      expect(await response.text()).to.include('No mail has been sent yet.');
    });

    it('warns loudly that the MFA secrets were generated', function () {
      const warning = run!.output().stdout.split('\n').find((line) => line.includes('DEVELOPMENT MFA SECRETS IN USE'));
      expect(warning, run!.output().stdout).to.be.a('string');
      expect(JSON.parse(warning!).generated).to.deep.equal(['FACTOR_KEYS', 'MFA_PEPPER']);
    });

    it('serves /metrics and the health probes', async function () {
      expect((await fetch(`${issuer}/healthz`)).status).to.equal(200);
      expect((await fetch(`${issuer}/readyz`)).status).to.equal(200);
      const metrics = await (await fetch(`${issuer}/metrics`)).text();
      expect(metrics).to.include('http_requests_total{method="GET",route="/healthz",status="200"} 1');
    });

    it('stops gracefully on SIGTERM', async function () {
      const exited = once(run!.child, 'exit');
      run!.child.kill('SIGTERM');
      const [code] = await exited as [number | null];
      expect(code).to.equal(0);
    });
  });
});
