/**
 * A relying party nobody here wrote: Apache httpd with mod_auth_openidc (Debian's `apache2` and
 * `libapache2-mod-auth-openidc`), configured with the README's file `deploy/apache/mod_auth_openidc.conf`, in front
 * of a static app. Headless Chromium signs in at `/app/`, steps up at `/invoice/` (the module's `Require claim acr:…mfa`
 * accepts the provider's answer, the invoice scope is granted) and signs out through the provider. Needs the Debian
 * packages (CI installs them); skipped outside CI when they are missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { saveClient } from '../../src/provider/clients.ts';
import { ACR } from '../../src/policy/acr.ts';
import { launchChromium, type HeadlessChromium } from '../helpers/browser.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { nextCode } from '../helpers/step_up.ts';
import { freePort } from '../helpers/net.ts';

const APACHE = '/usr/sbin/apache2';
const MODULE = '/usr/lib/apache2/modules/mod_auth_openidc.so';
const RECIPE = resolve(import.meta.dirname, '../../deploy/apache/mod_auth_openidc.conf');


/** The server part around the recipe: modules, a port, a document root; the recipe itself is included unchanged. */
function serverConfig(dir: string, port: number): string {
  const modules = ['mpm_event', 'authz_core', 'authn_core', 'authz_user', 'dir', 'mime', 'auth_openidc'];
  return [
    'ServerName 127.0.0.1',
    `ServerRoot ${dir}`,
    `Listen 127.0.0.1:${port}`,
    `PidFile ${dir}/httpd.pid`,
    `DefaultRuntimeDir ${dir}`,
    `ErrorLog ${dir}/error.log`,
    'LogLevel warn',
    // As root, httpd serves through an unprivileged user.
    ...(process.getuid?.() === 0 ? ['User www-data', 'Group www-data'] : []),
    ...modules.map((name) => `LoadModule ${name}_module /usr/lib/apache2/modules/mod_${name}.so`),
    'TypesConfig /etc/mime.types',
    `DocumentRoot ${dir}/htdocs`,
    'DirectoryIndex index.html',
    `Include ${RECIPE}`,
    '',
  ].join('\n');
}

describe('Apache httpd + mod_auth_openidc in front of an app (the README\'s recipe, headless Chromium)', function () {
  this.timeout(90_000);
  let port: number;
  let origin: string;
  let dir: string;
  let httpd: ChildProcess | undefined;
  let chromium: HeadlessChromium;
  let client: { clientId: string; clientSecret: string };

  before(async function () {
    if (!existsSync(APACHE) || !existsSync(MODULE)) {
      if (process.env.CI) throw new Error('apache2 and libapache2-mod-auth-openidc must be installed in CI (.ci/run does it)');
      this.skip();
    }
    port = await freePort();
    origin = `http://127.0.0.1:${port}`;
  });
  const server = useTestServer('apache_rp');
  const clock = useFrozenClock();

  before(async function () {
    const saved = await saveClient(server.conn, {
      clientId: 'apache-app', name: 'Staff App', redirectUris: [`${origin}/app/redirect_uri`],
      postLogoutRedirectUris: [`${origin}/signed-out.html`], firstParty: true,
    });
    client = { clientId: saved.clientId, clientSecret: saved.clientSecret as string };
    dir = await mkdtemp(join(tmpdir(), 'oidc-stepup-httpd-'));
    await chmod(dir, 0o755);
    for (const [path, body] of [['app/index.html', 'the app'], ['invoice/index.html', 'pay by invoice'], ['signed-out.html', 'signed out']] as const) {
      await mkdir(join(dir, 'htdocs', path, '..'), { recursive: true });
      await writeFile(join(dir, 'htdocs', path), `<!doctype html><title>${body}</title><p>${body}</p>\n`);
    }
    await writeFile(join(dir, 'httpd.conf'), serverConfig(dir, port));
    httpd = spawn(APACHE, ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], {
      env: {
        PATH: process.env.PATH ?? '', OIDC_ISSUER: server.issuer, OIDC_CLIENT_ID: client.clientId,
        OIDC_CLIENT_SECRET: client.clientSecret, APP_ORIGIN: origin, OIDC_PASSPHRASE: 'test-passphrase-0123456789abcdef',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    httpd.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    httpd.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    // Up once it answers (the app's public page needs no sign-in).
    const deadline = performance.now() + 20_000;
    while (!(await fetch(`${origin}/signed-out.html`).then((r) => r.ok, () => false))) {
      if (httpd.exitCode !== null) throw new Error(`httpd exited (${httpd.exitCode}):\n${output}`);
      if (performance.now() > deadline) throw new Error(`httpd did not answer:\n${output}`);
      await new Promise((done) => setTimeout(done, 25)); // polling a starting process, not waiting for time to pass
    }
    chromium = await launchChromium();
  });

  after(async function () {
    await chromium?.close();
    if (httpd && httpd.exitCode === null) {
      const exited = once(httpd, 'exit');
      httpd.kill('SIGTERM');
      await exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function errorLog(): Promise<string> {
    return readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
  }

  it('signs in at /app/, steps up at /invoice/ with a code (acr accepted, invoice granted), and signs out through the provider', async function () {
    const customer = server.mfaAccounts.ivan;
    const page = await chromium.context.newPage();

    await page.goto(`${origin}/app/`);
    await page.getByLabel('Email').fill(customer.email);
    await page.getByLabel('Password').fill(customer.password);
    await Promise.all([page.waitForURL(`${origin}/app/`), page.getByRole('button', { name: 'Sign in' }).click()]);
    expect(await page.locator('p').textContent(), await errorLog()).to.equal('the app');

    // The step-up: the module's `Require claim` fails on acr pwd and sends the browser back with acr_values=…mfa.
    await page.goto(`${origin}/invoice/`);
    await page.getByLabel('Authentication code').waitFor();
    expect(await page.getByLabel('Password').count(), 'a signed-in customer sees the code page only').to.equal(0);
    await page.getByLabel('Authentication code').fill(await nextCode(clock, server.totpSecrets.ivan));
    await Promise.all([page.waitForURL(`${origin}/invoice/`), page.getByRole('button', { name: 'Verify code' }).click()]);
    expect(await page.locator('p').textContent(), await errorLog()).to.equal('pay by invoice');

    const info = JSON.parse(await (await page.goto(`${origin}/app/redirect_uri?info=json`))?.text() ?? '{}') as { id_token?: { acr?: string; amr?: string[] }; access_token?: string };
    expect(info.id_token?.acr).to.equal(ACR.mfa);
    expect(info.id_token?.amr).to.include('otp');
    const introspection = await fetch(`${server.issuer}/token/introspection`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: info.access_token ?? '' }),
    }).then((r) => r.json()) as { active?: boolean; scope?: string; acr?: string };
    expect(introspection.active).to.equal(true);
    expect(introspection.scope?.split(' ')).to.include('invoice');
    expect(introspection.acr).to.equal(ACR.mfa);

    // Sign-out through the provider (RP-initiated logout), back to the app's public page: mod_auth_openidc sends the
    // id_token_hint of the signed-in customer, so the provider asks no question.
    await page.goto(`${origin}/app/redirect_uri?logout=${encodeURIComponent(`${origin}/signed-out.html`)}`);
    await page.waitForURL(`${origin}/signed-out.html`);
    await page.goto(`${origin}/app/`);
    await page.getByLabel('Password').waitFor();
    expect(page.url().startsWith(server.issuer), 'signed out at the provider: the app asks for the password again').to.equal(true);
    await page.close();
  });
});
