/**
 * The acr answer: relying parties compare `acr` as a string (mod_auth_openidc's `Require claim acr:…`, Authlib's
 * `claims_options`), and OIDC Core §5.5.1.1 makes the returned value one of the requested ones for an essential
 * request. So when a request names acr values, the ID token, the JWT access token and introspection carry the
 * strongest requested value the authentication satisfies; with none named, the level reached. `amr` says what was
 * done. Over HTTP with openid-client as the shop.
 */
import { expect } from 'chai';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { createAccount } from '../../src/accounts/accounts.ts';
import type { Factor } from '../../src/factors/contract.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { ACR, MULTI_FACTOR_ALIAS } from '../../src/policy/acr.ts';
import { saveClient } from '../../src/provider/clients.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, Shop, findForm, useShop, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';
import { lastCodeMailedTo } from '../helpers/mail.ts';

const SHOP = 'http://localhost:7777/';

describe('the acr answer: the strongest requested value the sign-in satisfies', function () {
  const server = useTestServer('acr_answer', { mailer: 'config' });
  const shop = useShop(server);
  const clock = useFrozenClock();
  let app: Factor;
  let email: Factor;
  let recovery: Factor;
  /** A shop registered with `default_acr_values` (an internal app that always wants a second factor). */
  let strictShop: Shop;

  before(async function () {
    app = server.factors.all.find((factor) => factor.role === 'primary' && factor.enrol && !factor.challenge) as Factor;
    email = server.factors.all.find((factor) => factor.role === 'primary' && factor.challenge) as Factor;
    recovery = server.factors.all.find((factor) => factor.role === 'backup') as Factor;
    const redirectUri = `${SHOP}strict/callback`;
    const saved = await saveClient(server.conn, {
      clientId: 'strict-shop', name: 'Strict Shop', redirectUris: [redirectUri], postLogoutRedirectUris: [`${SHOP}strict/out`],
      firstParty: true, defaultAcrValues: [ACR.mfa],
    });
    strictShop = await Shop.discover(server.issuer, {
      clientId: saved.clientId, clientSecret: saved.clientSecret as string, redirectUri, postLogoutRedirectUri: `${SHOP}strict/out`,
    });
  });


  /** A customer with an authenticator app, email codes and recovery codes, enrolled through the factor APIs. */
  async function customer(name: string): Promise<{ email: string; password: string; secret: string; recoveryCodes: string[] }> {
    const address = `${name}@example.com`;
    const password = `${name}-password-7`;
    const created = await createAccount(server.conn, { email: address, password, name });
    const secret = await enrolTotp(app as unknown as TotpFactor, { id: created.id, email: address });
    clock.tick(60_000);
    expect((await email.enrol?.begin({ id: created.id, email: address }))?.ok).to.equal(true);
    expect((await email.enrol?.confirm?.(created.id, lastCodeMailedTo(server, address)))?.ok).to.equal(true);
    const recoveryCodes = await (recovery as unknown as { generate(id: string): Promise<string[]> }).generate(created.id);
    clock.tick(60_000);
    return { email: address, password, secret, recoveryCodes };
  }

  /** Password, then the challenge page with `method` open. */
  async function challenge(browser: Browser, who: { email: string; password: string }, params: Record<string, string>, from = shop) {
    const pending = await from.startLogin(params);
    const loginPage = await browser.go(pending.url.href);
    const page: Page = await browser.submit(findForm(loginPage, '/login'), { email: who.email, password: who.password, remember: 'yes' });
    expect(isChallenge(page), `expected the challenge, got ${page.status}:\n${page.html.slice(0, 600)}`).to.equal(true);
    return { pending, page };
  }

  async function withMethod(browser: Browser, page: Page, method: Factor): Promise<Page> {
    if (findForm(page, '/mfa').fields.method === method.id) return page;
    const path = new URL(findForm(page, '/mfa').action, server.issuer).pathname.replace(/\/mfa$/, '');
    return browser.go(new URL(`${path}?method=${method.id}`, server.issuer).href);
  }

  async function signInWithApp(params: Record<string, string>, from = shop, tokenParams: Record<string, string> = {}) {
    const who = await customer(`app${Math.random().toString(36).slice(2, 8)}`);
    const browser = new Browser([SHOP]);
    const { pending, page } = await challenge(browser, who, params, from);
    const done = await submitCode(browser, await withMethod(browser, page, app), await nextCode(clock, who.secret));
    expect(done.status).to.equal(0);
    return { browser, tokens: await from.finishLogin(pending, done.url, tokenParams) };
  }

  const essential = (values: string[]): string => JSON.stringify({ id_token: { acr: { essential: true, values } } });

  it('acr_values mfa, the customer uses the app (level 3): the ID token says mfa, amr says the app code', async function () {
    const { tokens } = await signInWithApp({ acr_values: ACR.mfa });
    expect(tokens.claims()?.acr).to.equal(ACR.mfa);
    expect(tokens.claims()?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
  });

  it('an essential acr claim: the answer is one of its values (OIDC Core 5.5.1.1), the strongest satisfied', async function () {
    expect((await signInWithApp({ claims: essential([ACR.mfa]) })).tokens.claims()?.acr).to.equal(ACR.mfa);
    expect((await signInWithApp({ claims: essential([ACR.mfa, ACR.mfaApp]) })).tokens.claims()?.acr).to.equal(ACR.mfaApp);
  });

  it('a voluntary acr claim is answered too', async function () {
    const claims = JSON.stringify({ id_token: { acr: { values: [ACR.pwd, ACR.mfa] } } });
    const { tokens } = await signInWithApp({ claims, acr_values: ACR.mfa });
    expect(tokens.claims()?.acr).to.equal(ACR.mfa);
  });

  it('the client\'s default_acr_values stand in for acr_values', async function () {
    const { tokens } = await signInWithApp({}, strictShop);
    expect(tokens.claims()?.acr).to.equal(ACR.mfa);
  });

  it('the PAPE multi-factor alias is answered with the alias', async function () {
    const { tokens } = await signInWithApp({ acr_values: MULTI_FACTOR_ALIAS });
    expect(tokens.claims()?.acr).to.equal(MULTI_FACTOR_ALIAS);
  });

  it('the answer belongs to each request: the same session answers pwd, mfa, the alias, and the level reached when none is named', async function () {
    const { browser } = await signInWithApp({ acr_values: ACR.mfa });
    for (const [params, expected] of [
      [{ acr_values: ACR.pwd }, ACR.pwd],
      [{ acr_values: `${ACR.pwd} ${ACR.mfa}` }, ACR.mfa],
      [{ acr_values: `${MULTI_FACTOR_ALIAS} ${ACR.pwd}` }, MULTI_FACTOR_ALIAS],
      [{ acr_values: 'urn:example:unknown' }, ACR.mfaApp],
      [{}, ACR.mfaApp],
    ] as const) {
      const pending = await shop.startLogin(params);
      const page = await browser.go(pending.url.href);
      expect(page.status, JSON.stringify(params)).to.equal(0);
      expect((await shop.finishLogin(pending, page.url)).claims()?.acr, JSON.stringify(params)).to.equal(expected);
    }
  });

  it('an email code (level 2) answers mfa to a request naming pwd and mfa, and the alias when the alias was asked', async function () {
    const who = await customer('mailer');
    for (const [acrValues, expected] of [[`${ACR.pwd} ${ACR.mfa}`, ACR.mfa], [MULTI_FACTOR_ALIAS, MULTI_FACTOR_ALIAS]] as const) {
      clock.tick(120_000); // past the resend cooldown of the previous round
      const browser = new Browser([SHOP]);
      const { pending, page } = await challenge(browser, who, { acr_values: acrValues });
      const sent = await browser.submit(findForm(await withMethod(browser, page, email), '/mfa/send'));
      const done = await submitCode(browser, sent, lastCodeMailedTo(server, who.email));
      expect(done.status, `${acrValues}: ${done.html.replace(/<style[\s\S]*<\/style>/, '').slice(0, 3000)}`).to.equal(0);
      const claims = (await shop.finishLogin(pending, done.url)).claims();
      expect(claims?.acr).to.equal(expected);
      expect(claims?.amr).to.include('mfa').and.include(email.amr[0]);
    }
  });

  it('a recovery code (level 3) answers the essential mfa-app request, and mfa to an mfa request', async function () {
    const who = await customer('recoverer');
    for (const [params, expected, code] of [
      [{ claims: essential([ACR.mfaApp]) }, ACR.mfaApp, who.recoveryCodes[0]],
      [{ acr_values: ACR.mfa }, ACR.mfa, who.recoveryCodes[1]],
    ] as const) {
      const browser = new Browser([SHOP]);
      const { pending, page } = await challenge(browser, who, params);
      const recovered = await submitCode(browser, await withMethod(browser, page, recovery), code as string);
      expect(recovered.html).to.include('You signed in with a recovery code');
      const done = await browser.submit(findForm(recovered, 'continue-form'));
      expect(done.status).to.equal(0);
      expect((await shop.finishLogin(pending, done.url)).claims()?.acr).to.equal(expected);
    }
  });

  it('an essential acr naming only values this provider does not know fails with unmet_authentication_requirements', async function () {
    const who = await customer('unknownacr');
    const pending = await shop.startLogin({ claims: essential(['urn:example:acr:unknown']) });
    const browser = new Browser([SHOP]);
    const loginPage = await browser.go(pending.url.href);
    const page = await browser.submit(findForm(loginPage, '/login'), { email: who.email, password: who.password });
    expect(page.status).to.equal(0);
    expect(new URL(page.url).searchParams.get('error')).to.equal('unmet_authentication_requirements');
    expect(new URL(page.url).searchParams.get('iss'), 'error responses carry iss too (RFC 9207)').to.equal(server.issuer);
  });

  it('the JWT access token and introspection carry the same answer as the ID token (RFC 9470)', async function () {
    const { tokens } = await signInWithApp({ acr_values: ACR.mfa, scope: 'openid orders:read', resource: server.api.resource }, shop, { resource: server.api.resource });
    const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: server.issuer, audience: server.api.resource, typ: 'at+jwt' });
    expect(payload.acr).to.equal(ACR.mfa);
    expect(payload.amr).to.deep.equal(['pwd', 'otp', 'mfa']);

    const opaque = await signInWithApp({ acr_values: MULTI_FACTOR_ALIAS, scope: 'openid' });
    const introspected = await oidc.tokenIntrospection(shop.config, opaque.tokens.access_token);
    expect(introspected.active).to.equal(true);
    expect(introspected.acr).to.equal(MULTI_FACTOR_ALIAS);
  });
});
