/**
 * The plugin API as an existing deployment uses it: its own Koa app, its own oidc-provider configuration (static
 * clients, its claims, its features, its token hooks), with `createStepUp` laid over it in a few lines. The shop is
 * openid-client over real HTTP.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import Koa from 'koa';
import mount from 'koa-mount';
import type { Connection } from 'mongoose';
import Provider, { type Configuration } from 'oidc-provider';
import {
  ACR, createAccount, createMongoAdapter, createStepUp, deriveMfaPeppers, generateKey, generateProviderKeys, type StepUp,
} from '../../src/index.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { enrolTotp } from '../factors/support.ts';
import { connectFreshDb } from '../helpers/db.ts';
import type { TestClient } from '../helpers/server.ts';
import { Browser, Shop, findForm } from '../helpers/shop.ts';
import { freezeClock, type FrozenClock } from '../helpers/clock.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';

const SHOP_ORIGIN = 'http://localhost:7777';

describe('createStepUp: step-up MFA added to an existing oidc-provider deployment', function () {
  let conn: Connection;
  let server: Server;
  let issuer: string;
  let stepUp: StepUp;
  let client: TestClient;
  let clock: FrozenClock;
  const refreshTokensAsked: string[] = [];

  before(async function () {
    conn = await connectFreshDb('plugin');
    server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = {
      clientId: 'their-shop',
      clientSecret: 'their-shop-secret-0123456789abcdef',
      redirectUri: `${SHOP_ORIGIN}/cb`,
      postLogoutRedirectUri: `${SHOP_ORIGIN}/bye`,
    };

    // ── what the README's "plugin" section shows ──
    stepUp = createStepUp({
      conn,
      issuer,                                          // serves the security console at /account
      issuerName: 'Their Shop ID',
      secrets: { factorKeys: { activeKeyId: 'k1', keys: { k1: generateKey() } }, peppers: deriveMfaPeppers(generateKey()) },
    });
    await stepUp.ensureIndexes();
    const keys = await generateProviderKeys();
    const theirs: Configuration = {
      adapter: createMongoAdapter(conn),
      jwks: keys.jwks as Configuration['jwks'],
      cookies: { keys: [...keys.cookieKeys] },
      clients: [{
        client_id: client.clientId,
        client_secret: client.clientSecret,
        redirect_uris: [client.redirectUri],
        post_logout_redirect_uris: [client.postLogoutRedirectUri],
        scope: 'openid email profile offline_access invoice',
        grant_types: ['authorization_code', 'refresh_token'],
        first_party: true,
      }],
      claims: { openid: ['sub'], profile: ['name'] },
      pkce: { required: () => true },
      ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600, RefreshToken: 86_400 },
      issueRefreshToken(_ctx, shopClient, code) {
        refreshTokensAsked.push([...code.scopes].join(' '));
        return shopClient.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
      },
    };
    const provider = new Provider(issuer, stepUp.configure(theirs));
    const app = new Koa();
    app.keys = [...keys.cookieKeys];
    app.use(stepUp.middleware(provider));
    app.use(mount(provider));
    // ──

    const handle = app.callback();
    server.on('request', (req, res) => void handle(req, res));
    clock = freezeClock();
  });
  after(async function () {
    clock?.uninstall();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await conn?.dropDatabase().catch(() => undefined);
    await conn?.close();
  });

  it('refuses a configuration that already decides what the plugin provides, naming each', function () {
    expect(() => stepUp.configure({ findAccount: async () => undefined, interactions: { url: () => '/login' } }))
      .to.throw(/findAccount.*interactions\.url/);
  });

  it('keeps the deployment\'s settings and adds the acr values, claims and the invoice scope', function () {
    const merged = stepUp.configure({
      cookies: { keys: ['a-cookie-key-of-at-least-32-characters!'] },
      claims: { openid: ['sub', 'sid'], profile: ['name', 'nickname'] }, scopes: ['openid', 'orders'], acrValues: ['legacy'],
    });
    expect(merged.claims?.openid).to.have.members(['sub', 'sid', 'acr', 'amr', 'auth_time']);
    expect(merged.claims?.profile).to.deep.equal(['name', 'nickname']);
    expect(merged.scopes).to.include.members(['openid', 'orders', 'invoice']);
    expect([...(merged.acrValues ?? [])]).to.include.members([ACR.pwd, ACR.mfa, ACR.mfaApp, 'legacy']);
    expect(merged.features?.devInteractions?.enabled).to.equal(false);
    expect(merged.clients?.map((client) => client.client_id)).to.deep.equal(['account-console']);
  });

  it('signs a customer in with password + authenticator code on the plugin\'s pages, tokens say mfa', async function () {
    const account = await createAccount(conn, { email: 'pat@their-shop.example', password: 'pat-password-123', name: 'Pat Plugin' });
    const totp = stepUp.factors.all.find((factor) => factor.enrol && !factor.challenge && factor.role === 'primary') as TotpFactor;
    const secret = await enrolTotp(totp, account);
    const shop = await Shop.discover(issuer, client);
    const browser = new Browser([SHOP_ORIGIN]);

    // oidc-provider grants offline_access only with prompt=consent (OIDC Core §11): the consent page is shown then.
    const pending = await shop.startLogin({ acr_values: ACR.mfa, scope: 'openid profile offline_access', prompt: 'consent' });
    const login = await browser.go(pending.url.href);
    expect(login.status).to.equal(200);
    expect(login.headers.get('content-security-policy')).to.include("form-action 'self'");
    const challenge = await browser.submit(findForm(login, '/login'), { email: account.email, password: 'pat-password-123', remember: 'yes' });
    expect(isChallenge(challenge), challenge.html.slice(0, 500)).to.equal(true);
    const consent = await submitCode(browser, challenge, await nextCode(clock, secret));
    const done = await browser.submit(findForm(consent, '/confirm'));
    expect(done.status).to.equal(0);

    const tokens = await shop.finishLogin(pending, done.url);
    const claims = tokens.claims();
    expect(claims).to.include({ sub: account.id, acr: ACR.mfa });
    expect(claims?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(tokens.refresh_token, 'their issueRefreshToken still decides').to.be.a('string');
    expect(refreshTokensAsked).to.have.length(1);
  });

  it('never hands out the invoice scope to a customer without the privilege', async function () {
    const account = await createAccount(conn, { email: 'quinn@their-shop.example', password: 'quinn-password-1', name: 'Quinn' });
    const shop = await Shop.discover(issuer, client);
    const browser = new Browser([SHOP_ORIGIN]);
    const pending = await shop.startLogin({ scope: 'openid invoice offline_access' });
    const login = await browser.go(pending.url.href);
    const done = await browser.submit(findForm(login, '/login'), { email: account.email, password: 'quinn-password-1' });
    expect(done.status, done.html.slice(0, 500)).to.equal(0);
    const tokens = await shop.finishLogin(pending, done.url);
    expect((tokens.scope ?? '').split(' ')).to.not.include('invoice');
    expect(tokens.claims()?.acr).to.equal(ACR.pwd);
  });

  it('serves the customers\' security console, which signs in through the provider as its own client', async function () {
    const browser = new Browser();
    const first = await browser.request(`${issuer}/account`);
    expect(first.status).to.be.within(302, 303);
    const auth = new URL(first.headers.get('location') ?? '', issuer);
    expect(auth.pathname).to.equal('/auth');
    expect(auth.searchParams.get('client_id')).to.equal('account-console');
    const login = await browser.go(auth.href);
    expect(login.status).to.equal(200);
    expect(login.html).to.include('type="password"');
  });

  it('answers a tampered interaction with the plugin\'s error page, not a 500', async function () {
    const page = await new Browser().go(`${issuer}/interaction/not-a-real-uid`);
    expect(page.status).to.equal(400);
    expect(page.html).to.include('expired or is not valid');
  });
});
