/**
 * How many MongoDB commands one whole sign-in costs, counted with the driver's command monitoring (never timed):
 * from the shop's authorization request in a fresh browser to the shop's token response; and one refresh-token grant,
 * one view of the security console's overview. The server has the factors `src/main.ts` registers (the email-code
 * factor too: it has a mailer). Each flow runs once to warm up (index builds, model compilation, the first client load) and is then measured again with a fresh browser
 * and a fresh account, so the numbers are the steady state. The driver's own commands (handshakes, monitoring) are not
 * counted (`DRIVER_COMMANDS`). A failure prints the breakdown per collection, per step and in order.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import * as oidc from 'openid-client';
import { createAccount } from '../../src/accounts/accounts.ts';
import type { TotpFactor } from '../../src/factors/index.ts';
import { ACR } from '../../src/policy/acr.ts';
import { enrolTotp } from '../factors/support.ts';
import { describeCommands, recordCommands, type CommandRecorder } from '../helpers/mongo_commands.ts';
import { startTestServer, type TestAccount, type TestServer } from '../helpers/server.ts';
import { Browser, Shop, findForm, signIn, type Page } from '../helpers/shop.ts';
import { freezeClock as freezeNow, type FrozenClock } from '../helpers/clock.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';

/**
 * The budgets. Each request reads a document once and its first read fetches, in the same `aggregate`, what the request
 * reads next (`src/store/request_reads.ts`, `src/provider/read_plan.ts`): the shop client is read in every request
 * that needs it (never cached between requests), yet costs a command of its own only at the authorization request of a
 * fresh browser; an account comes with its factors' documents; a throttled attempt that succeeds with nothing to reset
 * costs only its reservation (`src/factors/shared/attempts.ts`). The MFA sign-in's 20: the authorization request (the
 * client, the interaction's save); each sign-in page one read of the interaction with its client, session, account
 * and proofs; the password step the throttle's reservation, then the account by email with its factors' documents
 * (never before the reservation: docs/SECURITY.md), the interaction's save; the code step the throttle's reservation, the code's time step marked used, the interaction's
 * save; the resume the interaction with its client and account, its removal, the grant, the code, the session and
 * the session's authentication state (held by the interaction until the browser has a session); the token request one
 * read of the client with the code, its grant, session, account and proofs, the code consumed, the access token saved.
 */
const MFA_SIGN_IN_BUDGET = 20;
const PASSWORD_SIGN_IN_BUDGET = 16;
/**
 * A step-up of a signed-in browser (acr_values=…mfa on a password session): the code page only, then the token. Its 17:
 * the authorization request (the session with the client, the client's grant, the account with its factors' documents
 * and the proofs in one read; the interaction and the session saved), the code page (the interaction with what it
 * names), the code step (the interaction; the throttle's reservation, the time step, the proof, the interaction's
 * save), the resume (the session with the interaction, its client and grant; the interaction's removal, the code, the
 * session's rotation), the token request (one read, the code consumed, the access token).
 */
const STEP_UP_BUDGET = 17;
/**
 * A refresh-token grant of a confidential shop (its refresh token is not rotated): one read of the client with the
 * refresh token, its grant, session, account with the factors' documents (the `email_verified` claim asks the email
 * factor) and proofs; the access token saved.
 */
const REFRESH_GRANT_BUDGET = 2;
/**
 * The security console's overview of a signed-in customer: one read of the console session with its account, the
 * account's factors' documents, its stored choice of method and its company; the recent security events.
 */
const CONSOLE_OVERVIEW_BUDGET = 2;

/** The steps of a sign-in, by request (an interaction page is named once its response shows which page it is). */
const STEP_NAMES: Record<string, string> = {
  'GET /auth': 'authorization request',
  'GET /auth/:uid': 'resume',
  'GET /interaction/:uid': 'interaction page',
  'POST /interaction/:uid/login': 'password POST',
  'POST /interaction/:uid/mfa': 'code POST',
  'POST /interaction/:uid/confirm': 'consent POST',
};

/** A browser that labels the recorder's steps with the request it is making (numbered, in flow order). */
class CountingBrowser extends Browser {
  private readonly recorder: CommandRecorder;
  private requests = 0;

  constructor(stopAt: string[], recorder: CommandRecorder) {
    super(stopAt);
    this.recorder = recorder;
  }

  override async request(url: string, init: Parameters<Browser['request']>[1] = {}): Promise<Page> {
    this.requests += 1;
    const label = (name: string): string => `${this.requests} ${name}`;
    const method = init.method ?? 'GET';
    const path = new URL(url).pathname.replace(/^\/(interaction|auth)\/[^/]+/, '/$1/:uid');
    const isInteractionPage = method === 'GET' && path === '/interaction/:uid';
    this.recorder.step(label(STEP_NAMES[`${method} ${path}`] ?? `${method} ${path}`));
    const page = await super.request(url, init);
    if (isInteractionPage) this.recorder.renameStep(label(isChallenge(page) ? 'challenge page' : page.html.includes('/confirm"') ? 'consent page' : 'login page'));
    return page;
  }
}

describe('MongoDB commands of a sign-in, a refresh and a console page (steady state, counted with the driver\'s command monitoring)', function () {
  let server: TestServer;
  let shop: Shop;
  let clock: FrozenClock;
  let recorder: CommandRecorder;
  let totp: TotpFactor;

  async function freshAccount(withApp: boolean): Promise<{ account: TestAccount; secret?: string }> {
    const id = randomBytes(5).toString('hex');
    const account = { email: `perf_${id}@example.com`, password: `perf-password-${id}`, name: `Perf ${id}` };
    const created = await createAccount(server.conn, account);
    const testAccount = { id: created.id, ...account };
    return withApp ? { account: testAccount, secret: await enrolTotp(totp, testAccount) } : { account: testAccount };
  }

  /**
   * One sign-in from a fresh browser, counted from the authorization request to the token response: password, then
   * (with `secret`) the authenticator-app code asked for by `acr_values=…mfa`. Returns the breakdown.
   */
  async function signInCounted(account: TestAccount, secret?: string): Promise<{ count: number; breakdown: string }> {
    const pending = await shop.startLogin(secret ? { acr_values: ACR.mfa } : {});
    const code = secret ? await nextCode(clock, secret) : undefined;
    const browser = new CountingBrowser([server.clients.firstParty.redirectUri], recorder);

    recorder.start('0 before the first request');
    const loginPage = await browser.go(pending.url.href);
    let page = await browser.submit(findForm(loginPage, '/login'), { email: account.email, password: account.password });
    if (code) {
      expect(isChallenge(page), `expected the code page, got ${page.status}:\n${page.html.slice(0, 800)}`).to.equal(true);
      page = await submitCode(browser, page, code);
    }
    expect(page.status, `expected the redirect to the shop, got ${page.status}:\n${page.html.slice(0, 800)}`).to.equal(0);
    const tokens = await shop.finishLogin(pending, page.url);
    const commands = recorder.stop();

    expect(tokens.claims()?.acr).to.equal(secret ? ACR.mfa : ACR.pwd);
    return { count: commands.length, breakdown: describeCommands(commands, recorder.excluded) };
  }

  /** A password session made beforehand (not counted), then a step-up counted from its authorization request. */
  async function stepUpCounted(account: TestAccount, secret: string): Promise<{ count: number; breakdown: string }> {
    const browser = new CountingBrowser([server.clients.firstParty.redirectUri], recorder);
    const first = await shop.startLogin();
    const loginPage = await browser.go(first.url.href);
    const signedIn = await browser.submit(findForm(loginPage, '/login'), { email: account.email, password: account.password, remember: 'yes' });
    await shop.finishLogin(first, signedIn.url);
    clock.tick(1_000);

    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const code = await nextCode(clock, secret);
    recorder.start('0 before the first request');
    const page = await browser.go(pending.url.href);
    expect(isChallenge(page), `expected the code page, got ${page.status}:\n${page.html.slice(0, 800)}`).to.equal(true);
    const done = await submitCode(browser, page, code);
    expect(done.status, `expected the redirect to the shop, got ${done.status}:\n${done.html.slice(0, 800)}`).to.equal(0);
    const tokens = await shop.finishLogin(pending, done.url);
    const commands = recorder.stop();
    expect(tokens.claims()?.acr).to.equal(ACR.mfa);
    return { count: commands.length, breakdown: describeCommands(commands, recorder.excluded) };
  }

  before(async function () {
    server = await startTestServer('mongo_commands', { monitorCommands: true, mailer: 'config' });
    totp = server.factors.all.find((factor) => factor.enrol && !factor.challenge && factor.role === 'primary') as TotpFactor;
    shop = await Shop.discover(server.issuer, server.clients.firstParty);
    recorder = recordCommands(server.conn);
    // The shop's own requests (token, and JWKS if it fetched them) are steps of the flow too.
    shop.config[oidc.customFetch] = (url, options) => {
      const { pathname } = new URL(url);
      recorder.step(pathname === '/token' ? 'token' : `shop ${options.method} ${pathname}`);
      return fetch(url, options);
    };
    clock = freezeNow();
    // Warm-up: index builds, model compilation and the first load of the client are not what a sign-in costs.
    const warmMfa = await freshAccount(true);
    await signInCounted(warmMfa.account, warmMfa.secret);
    await signInCounted((await freshAccount(false)).account);
    const warmStepUp = await freshAccount(true);
    await stepUpCounted(warmStepUp.account, warmStepUp.secret as string);
  });
  after(async function () {
    clock?.uninstall();
    recorder?.detach();
    await server?.stop();
  });

  it(`a fresh browser's MFA sign-in (password, authenticator-app code, token request) sends at most ${MFA_SIGN_IN_BUDGET} commands`, async function () {
    const { account, secret } = await freshAccount(true);
    const { count, breakdown } = await signInCounted(account, secret);
    expect(count, `MFA sign-in: ${breakdown}\n`).to.be.at.most(MFA_SIGN_IN_BUDGET);
  });

  it(`a fresh browser's password-only sign-in (password, token request) sends at most ${PASSWORD_SIGN_IN_BUDGET} commands`, async function () {
    const { account } = await freshAccount(false);
    const { count, breakdown } = await signInCounted(account);
    expect(count, `password sign-in: ${breakdown}\n`).to.be.at.most(PASSWORD_SIGN_IN_BUDGET);
  });

  it(`a refresh-token grant sends at most ${REFRESH_GRANT_BUDGET} commands`, async function () {
    const { account } = await freshAccount(false);
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const { pending, callbackUrl } = await signIn(shop, browser, account, { params: { scope: 'openid email offline_access', prompt: 'consent' } });
    const first = await shop.finishLogin(pending, callbackUrl);
    expect(first.refresh_token, 'a refresh token').to.be.a('string');
    await oidc.refreshTokenGrant(shop.config, first.refresh_token as string);
    clock.tick(5_000);
    recorder.start('refresh grant');
    const refreshed = await oidc.refreshTokenGrant(shop.config, first.refresh_token as string);
    const commands = recorder.stop();
    expect(refreshed.access_token).to.be.a('string');
    expect(commands.length, `refresh grant: ${describeCommands(commands, recorder.excluded)}\n`).to.be.at.most(REFRESH_GRANT_BUDGET);
  });

  it(`the security console's overview, signed in with an authenticator app and recovery codes, sends at most ${CONSOLE_OVERVIEW_BUDGET} commands`, async function () {
    const { account } = await freshAccount(true);
    const browser = new Browser();
    const login = await browser.go(`${server.issuer}/account`);
    const overview = await browser.submit(findForm(login, '/login'), { email: account.email, password: account.password });
    expect(overview.status, overview.html.slice(0, 800)).to.equal(200);
    await browser.go(`${server.issuer}/account`);
    recorder.start('console overview');
    const page = await browser.go(`${server.issuer}/account`);
    const commands = recorder.stop();
    expect(page.status).to.equal(200);
    expect(page.html).to.include(account.email);
    expect(commands.length, `console overview: ${describeCommands(commands, recorder.excluded)}\n`).to.be.at.most(CONSOLE_OVERVIEW_BUDGET);
  });

  it(`a step-up of a signed-in browser (code page, token request) sends at most ${STEP_UP_BUDGET} commands`, async function () {
    const { account, secret } = await freshAccount(true);
    const { count, breakdown } = await stepUpCounted(account, secret as string);
    expect(count, `step-up: ${breakdown}\n`).to.be.at.most(STEP_UP_BUDGET);
  });
});
