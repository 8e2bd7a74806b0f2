/**
 * Many instances, one database: the provider keeps no sign-in state in process memory. Two provider processes (main.ts
 * in children, as an operator runs them) share one database behind a round-robin proxy that sends each request to the
 * next instance, so every step of a flow lands on the other instance than the step before.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import mongoose from 'mongoose';
import { createAccount } from '../../src/accounts/accounts.ts';
import { deriveMfaPeppers } from '../../src/provider/mfa_secrets.ts';
import { createDefaultFactors } from '../../src/factors/registry.ts';
import { createSecretBox, generateKey } from '../../src/factors/shared/secret_box.ts';
import { formatKeyRing } from '../../src/config/key_ring.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { ACR } from '../../src/policy/acr.ts';
import { saveClient } from '../../src/provider/clients.ts';
import { appCode, secretOfUri, wrongCode } from '../factors/support.ts';
import { freshDbName, mongoBaseUri } from '../helpers/db.ts';
import { SHOP_ORIGIN, type TestClient } from '../helpers/server.ts';
import { Browser, Shop, findForm, type Page } from '../helpers/shop.ts';
import { isChallenge, submitCode } from '../helpers/step_up.ts';
import { freePort } from '../helpers/net.ts';
import { roundRobin } from '../helpers/round_robin.ts';

const MAIN = join(process.cwd(), 'src', 'main.ts');

interface Instance {
  readonly child: ChildProcess;
  readonly port: number;
  output(): string;
}

/** main.ts in a child process; resolves once it listens (its banner ends with "Stop with Ctrl+C"). */
async function startInstance(env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: process.cwd(), env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Stop with Ctrl+C')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`an instance exited (${code}) before it listened:\n${output}`)));
  });
  await ready;
  return { child, port, output: () => output };
}

async function stopInstance(instance: Instance | undefined): Promise<void> {
  if (!instance || instance.child.exitCode !== null) return;
  const exited = once(instance.child, 'exit');
  instance.child.kill('SIGTERM');
  await exited;
}

describe('many instances on one database (two processes behind a round-robin proxy)', function () {
  this.timeout(120_000);
  let dataDir: string;
  let conn: mongoose.Connection;
  let proxy: ReturnType<typeof roundRobin>;
  let instances: Instance[] = [];
  let issuer: string;
  let shop: Shop;
  let totp: TotpFactor;

  /**
   * A customer with an authenticator app, enrolled with the deployment's own factor keys. The instances keep real time,
   * so the enrolment is confirmed with the previous time step's code: the current one is left for the sign-in.
   */
  async function customerWithApp(name: string): Promise<{ email: string; password: string; secret: string }> {
    const email = `${name}-${randomBytes(3).toString('hex')}@example.com`;
    const password = `${name}-password-9`;
    const created = await createAccount(conn, { email, password, name });
    const begun = await totp.enrol.begin({ id: created.id, email });
    if (!begun.ok) throw new Error(`begin failed: ${begun.code}`);
    const secret = secretOfUri(begun.view.otpauthUri);
    // A step boundary passing between making the code and checking it makes it too old: once more, then it holds.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const confirmed = await totp.enrol.confirm(created.id, await appCode(secret, Date.now() - 30_000));
      if (confirmed.ok) return { email, password, secret };
      if (attempt === 1) throw new Error(`confirm failed: ${confirmed.code}`);
    }
    throw new Error('unreachable');
  }

  /** Password step of a shop's `acr_values=…mfa` sign-in in a fresh browser: the code page. */
  async function toCodePage(customer: { email: string; password: string }): Promise<{ browser: Browser; page: Page; pending: Awaited<ReturnType<Shop['startLogin']>> }> {
    const browser = new Browser([SHOP_ORIGIN]);
    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const login = await browser.go(pending.url.href);
    const page = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
    expect(isChallenge(page), `expected the code page, got ${page.status}`).to.equal(true);
    return { browser, page, pending };
  }

  before(async function () {
    dataDir = await mkdtemp(join(tmpdir(), 'oidc-stepup-instances-'));
    const dbUri = `${mongoBaseUri()}/${freshDbName('instances')}`;
    conn = await mongoose.createConnection(dbUri).asPromise();
    // The deployment's secrets, the same for every instance (as an operator configures them).
    const factorKeys = { activeKeyId: 'k1', keys: { k1: generateKey() } };
    const pepper = randomBytes(32);
    const { registry } = createDefaultFactors({
      conn, secretBox: createSecretBox(factorKeys), issuer: 'oidc-stepup', recoveryPepper: deriveMfaPeppers(pepper).recoveryCodes,
    });
    totp = registry.all.find((factor) => factor.enrol && !factor.challenge && factor.role === 'primary') as TotpFactor;

    const proxyPort = await freePort();
    issuer = `http://127.0.0.1:${proxyPort}`;
    const env = {
      NODE_ENV: 'development', ISSUER: issuer, MONGODB_URI: dbUri, FACTOR_KEYS: formatKeyRing(factorKeys), MFA_PEPPER: pepper.toString('base64'),
      DEV_SEED: 'false', LOG_LEVEL: 'warn', DATA_DIR: dataDir, EMBEDDED_DB_SNAPSHOT: 'off',
    };
    // One after the other: the first start generates the development signing and cookie keys in the database.
    instances = [await startInstance(env)];
    instances.push(await startInstance(env));
    proxy = roundRobin(instances.map((instance) => instance.port));
    proxy.server.listen(proxyPort, '127.0.0.1');
    await once(proxy.server, 'listening');

    const clientId = 'many-instances-shop';
    const redirectUri = `${SHOP_ORIGIN}/${clientId}/callback`;
    const saved = await saveClient(conn, { clientId, name: 'Shop', redirectUris: [redirectUri], postLogoutRedirectUris: [], firstParty: true });
    const client: TestClient = { clientId, clientSecret: saved.clientSecret as string, redirectUri, postLogoutRedirectUri: `${SHOP_ORIGIN}/${clientId}/signed-out` };
    shop = await Shop.discover(issuer, client);
  });
  after(async function () {
    proxy?.server.closeAllConnections();
    await new Promise<void>((resolve) => (proxy ? proxy.server.close(() => resolve()) : resolve()));
    await Promise.all(instances.map(stopInstance));
    await conn?.dropDatabase().catch(() => undefined);
    await conn?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a sign-in with an authenticator-app code started on one instance finishes on the other', async function () {
    const customer = await customerWithApp('across');
    const before = [...proxy.served];
    const { browser, page, pending } = await toCodePage(customer);
    const done = await submitCode(browser, page, await appCode(customer.secret));
    expect(done.status, `expected the redirect to the shop, got ${done.status}:\n${done.html.replace(/<head>[\s\S]*<\/head>/, "").slice(0, 800)}`).to.equal(0);
    const tokens = await shop.finishLogin(pending, done.url);
    expect(tokens.claims()?.acr).to.equal(ACR.mfa);
    expect(proxy.served.map((count, i) => count - (before[i] ?? 0)).every((count) => count > 0), 'both instances served the flow').to.equal(true);
  });

  it('a lockout started on one instance holds on the other, even for the right code', async function () {
    const customer = await customerWithApp('locked');
    let { browser, page } = await toCodePage(customer);
    for (let attempt = 0; attempt < 5; attempt += 1) page = await submitCode(browser, page, await wrongCode(customer.secret));
    expect(page.html).to.include('Too many wrong codes');
    ({ browser, page } = await toCodePage(customer));
    const refused = await submitCode(browser, page, await appCode(customer.secret));
    expect(refused.status).to.equal(429);
    expect(refused.html).to.include('Too many wrong codes');
  });

  it('a code accepted by one instance is refused as a replay by the other', async function () {
    const customer = await customerWithApp('replay');
    const code = await appCode(customer.secret);
    const first = await toCodePage(customer);
    expect((await submitCode(first.browser, first.page, code)).status).to.equal(0);
    const second = await toCodePage(customer);
    const replayed = await submitCode(second.browser, second.page, code);
    expect(replayed.status).to.be.within(400, 499);
    expect(isChallenge(replayed)).to.equal(true);
  });

  it("the security console's session holds on both instances", async function () {
    const email = `console-${randomBytes(3).toString('hex')}@example.com`;
    await createAccount(conn, { email, password: 'console-password-1', name: 'Console' });
    const browser = new Browser();
    const login = await browser.go(`${issuer}/account`);
    const overview = await browser.submit(findForm(login, '/login'), { email, password: 'console-password-1' });
    expect(overview.url).to.equal(`${issuer}/account`);
    for (let i = 0; i < 4; i += 1) {
      const again = await browser.go(`${issuer}/account`);
      expect(again.status, `request ${i}`).to.equal(200);
      expect(again.html).to.include(email);
    }
  });
});
