/**
 * `requireAuthentication` / `verifyStepUp` (RFC 9470, RFC 6750) against tokens signed here, so each refusal is one
 * claim away from an accepted token: a Koa API behind the middleware answers over HTTP with the exact challenge.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import Koa from 'koa';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { ACR, MULTI_FACTOR_ALIAS } from '../../src/policy/acr.ts';
import { bearerTokenOf, requireAuthentication, verifyStepUp, type StepUpRequirement } from '../../src/resource/step_up.ts';
import { useFrozenClock } from '../helpers/clock.ts';

const ISSUER = 'https://id.shop.test';
const AUDIENCE = 'https://shop.test/api';
const INVOICE = { scope: 'invoice', acr: ACR.mfa, maxAgeSeconds: 900 } as const;
const STEP_UP_CHALLENGE = 'error="insufficient_user_authentication", error_description="%s", acr_values="urn:oidc-stepup:acr:mfa", max_age="900"';

interface Signer { key: CryptoKey; kid: string }

async function signer(kid: string): Promise<Signer & { jwk: Record<string, unknown> }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { key: privateKey, kid, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

/** A JWT access token as the provider issues it (RFC 9068), fresh from an MFA step-up; `claims` change it. */
async function accessToken(with_: Signer, claims: JWTPayload = {}, typ = 'at+jwt'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = {
    iss: ISSUER, aud: AUDIENCE, sub: 'customer-1', client_id: 'example-shop', jti: `jti-${now}-${Math.random()}`,
    iat: now, exp: now + 600, scope: 'openid invoice', acr: ACR.mfa, amr: ['pwd', 'otp', 'mfa'], auth_time: now - 60,
    ...claims,
  };
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: with_.kid, typ }).sign(with_.key);
}

describe('RFC 9470 step-up for a shop\'s API: requireAuthentication and verifyStepUp', function () {
  const clock = useFrozenClock();
  let provider: Awaited<ReturnType<typeof signer>>;
  let attacker: Awaited<ReturnType<typeof signer>>;
  let requirement: StepUpRequirement;
  let api: Server;
  let apiUrl: string;

  before(async function () {
    provider = await signer('provider-key');
    attacker = await signer('provider-key'); // same kid, another key: a forged signature
    requirement = { issuer: ISSUER, audience: AUDIENCE, ...INVOICE, keys: createLocalJWKSet({ keys: [provider.jwk] }) };
    const app = new Koa();
    app.use(requireAuthentication(requirement));
    app.use(function placeOrder(ctx) {
      ctx.status = 201;
      ctx.body = { customer: ctx.state.stepUp?.subject, acr: ctx.state.stepUp?.acr };
    });
    const handle = app.callback();
    api = createServer((req, res) => {
      void handle(req, res);
    });
    api.listen(0, '127.0.0.1');
    await once(api, 'listening');
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/invoice-orders`;
  });
  after(function () {
    api?.close();
  });

  async function call(authorization?: string): Promise<{ status: number; challenge: string | null; body: Record<string, unknown> }> {
    const response = await fetch(apiUrl, { method: 'POST', headers: authorization === undefined ? {} : { authorization } });
    return { status: response.status, challenge: response.headers.get('www-authenticate'), body: await response.json() as Record<string, unknown> };
  }

  it('accepts a fresh MFA token with the invoice scope for this API, and hands the customer to the handler', async function () {
    const answer = await call(`Bearer ${await accessToken(provider)}`);
    expect(answer.status).to.equal(201);
    expect(answer.body).to.deep.equal({ customer: 'customer-1', acr: ACR.mfa });
  });

  it('no token: 401 with a bare Bearer challenge (RFC 6750 §3.1: no error code)', async function () {
    const answer = await call();
    expect(answer.status).to.equal(401);
    expect(answer.challenge).to.equal('Bearer');
    expect((await call('Basic Y3VzdG9tZXI6cGFzc3dvcmQ=')).challenge, 'another scheme is no Bearer token').to.equal('Bearer');
  });

  it('a malformed Authorization header: 400 invalid_request', async function () {
    const answer = await call('Bearer two tokens');
    expect(answer.status).to.equal(400);
    expect(answer.challenge).to.equal('Bearer error="invalid_request", error_description="The Authorization header is not a valid Bearer token"');
  });

  it('a bad signature: 401 invalid_token', async function () {
    const answer = await call(`Bearer ${await accessToken(attacker)}`);
    expect(answer.status).to.equal(401);
    expect(answer.challenge).to.equal('Bearer error="invalid_token", error_description="The access token signature is invalid"');
    expect(answer.body).to.deep.equal({ error: 'invalid_token', error_description: 'The access token signature is invalid' });
  });

  it('a token for another API (audience): 401 invalid_token', async function () {
    const answer = await call(`Bearer ${await accessToken(provider, { aud: 'https://other-shop.test/api' })}`);
    expect(answer.status).to.equal(401);
    expect(answer.challenge).to.equal('Bearer error="invalid_token", error_description="The access token is meant for another API"');
  });

  it('an expired token: 401 invalid_token', async function () {
    const token = await accessToken(provider);
    clock.tick(601_000);
    const answer = await call(`Bearer ${token}`);
    expect(answer.status).to.equal(401);
    expect(answer.challenge).to.equal('Bearer error="invalid_token", error_description="The access token expired"');
  });

  it('a token from another issuer, or an ID token (typ JWT) of the same issuer: 401 invalid_token', async function () {
    expect((await call(`Bearer ${await accessToken(provider, { iss: 'https://evil.test' })}`)).challenge)
      .to.equal('Bearer error="invalid_token", error_description="The access token was issued by another provider"');
    expect((await call(`Bearer ${await accessToken(provider, {}, 'JWT')}`)).challenge)
      .to.equal('Bearer error="invalid_token", error_description="The token is not an access token (RFC 9068 at+jwt)"');
    expect((await call('Bearer opaque-token-of-userinfo')).challenge)
      .to.equal('Bearer error="invalid_token", error_description="The access token is not a valid signed JWT"');
  });

  it('a DPoP-bound token sent as a Bearer token: 401 invalid_token (RFC 9449 §7.1)', async function () {
    const answer = await call(`Bearer ${await accessToken(provider, { cnf: { jkt: 'thumbprint' } })}`);
    expect(answer.status).to.equal(401);
    expect(answer.challenge).to.equal('Bearer error="invalid_token", error_description="The access token is bound to a key and cannot be used as a Bearer token"');
  });

  it('the invoice scope missing: 403 insufficient_scope naming it', async function () {
    const answer = await call(`Bearer ${await accessToken(provider, { scope: 'openid orders' })}`);
    expect(answer.status).to.equal(403);
    expect(answer.challenge).to.equal('Bearer error="insufficient_scope", error_description="The access token lacks the scope invoice", scope="invoice"');
  });

  it('acr too low (a password sign-in): 401 insufficient_user_authentication with acr_values and max_age (RFC 9470 §3)', async function () {
    for (const acr of [ACR.pwd, undefined, 'urn:other:gold']) {
      const answer = await call(`Bearer ${await accessToken(provider, { acr, amr: ['pwd'] })}`);
      expect(answer.status, String(acr)).to.equal(401);
      expect(answer.challenge).to.equal(`Bearer ${STEP_UP_CHALLENGE.replace('%s', 'A stronger authentication is required')}`);
      expect(answer.body).to.deep.equal({ error: 'insufficient_user_authentication', error_description: 'A stronger authentication is required' });
    }
  });

  it('auth_time older than 15 minutes, or none: 401 insufficient_user_authentication', async function () {
    const now = Math.floor(Date.now() / 1000);
    for (const authTime of [now - 901, undefined]) {
      const answer = await call(`Bearer ${await accessToken(provider, { auth_time: authTime })}`);
      expect(answer.status).to.equal(401);
      expect(answer.challenge).to.equal(`Bearer ${STEP_UP_CHALLENGE.replace('%s', 'A more recent authentication is required')}`);
    }
    expect((await call(`Bearer ${await accessToken(provider, { auth_time: now - 900 })}`)).status, 'exactly 15 minutes is still fresh').to.equal(201);
  });

  it('a stronger acr satisfies the weaker requirement: mfa-app and the PAPE multi-factor alias pass', async function () {
    for (const acr of [ACR.mfaApp, MULTI_FACTOR_ALIAS]) {
      expect((await call(`Bearer ${await accessToken(provider, { acr })}`)).status, acr).to.equal(201);
    }
  });

  it('verifyStepUp (no framework) answers the same refusal, with a stable code', async function () {
    const result = await verifyStepUp(await accessToken(provider, { acr: ACR.pwd }), requirement);
    expect(result).to.deep.include({
      ok: false, code: 'acr_too_low', status: 401, error: 'insufficient_user_authentication',
      challenge: `Bearer ${STEP_UP_CHALLENGE.replace('%s', 'A stronger authentication is required')}`,
    });
    const granted = await verifyStepUp(await accessToken(provider), requirement);
    expect(granted.ok && { subject: granted.subject, scopes: granted.scopes, amr: granted.amr, clientId: granted.clientId })
      .to.deep.equal({ subject: 'customer-1', scopes: ['openid', 'invoice'], amr: ['pwd', 'otp', 'mfa'], clientId: 'example-shop' });
    expect((await verifyStepUp(undefined, requirement))).to.deep.include({ code: 'token_missing', challenge: 'Bearer' });
  });

  it('only what is required is asked for: acr alone names no max_age, a realm is named first', async function () {
    const result = await verifyStepUp(await accessToken(provider, { acr: ACR.pwd }), { ...requirement, maxAgeSeconds: undefined, realm: 'shop' });
    expect(!result.ok && result.challenge).to.equal(
      'Bearer realm="shop", error="insufficient_user_authentication", error_description="A stronger authentication is required", acr_values="urn:oidc-stepup:acr:mfa"',
    );
  });

  it('a requirement that cannot be met throws at once (an unknown acr, a negative max age)', function () {
    expect(() => requireAuthentication({ ...requirement, acr: 'urn:unknown' })).to.throw(TypeError, /acr urn:unknown is not one of/);
    expect(() => requireAuthentication({ ...requirement, maxAgeSeconds: -1 })).to.throw(TypeError, /maxAgeSeconds/);
  });

  it('bearerTokenOf reads RFC 6750 §2.1 credentials', function () {
    expect(bearerTokenOf(undefined)).to.equal(undefined);
    expect(bearerTokenOf('Basic abc')).to.equal(undefined);
    expect(bearerTokenOf('Bearer abc.def-ghi_')).to.equal('abc.def-ghi_');
    expect(bearerTokenOf('bearer abc==')).to.equal('abc==');
    expect(bearerTokenOf('Bearer')).to.equal(null);
    expect(bearerTokenOf('Bearer a"b')).to.equal(null);
  });

  describe('keys from the issuer\'s discovery document', function () {
    let idp: Server;
    let issuer: string;
    let serveKeys = true;

    before(async function () {
      idp = createServer((req, res) => {
        if (req.url === '/.well-known/openid-configuration') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
        } else if (req.url === '/jwks' && serveKeys) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [provider.jwk] }));
        } else {
          res.writeHead(500).end();
        }
      });
      idp.listen(0, '127.0.0.1');
      await once(idp, 'listening');
      issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    });
    after(function () {
      idp?.close();
    });

    it('finds jwks_uri by discovery, verifies against it, and answers 503 (no challenge) while the keys cannot be fetched', async function () {
      const fromIssuer = { issuer, audience: AUDIENCE, ...INVOICE };
      serveKeys = false;
      const down = await verifyStepUp(await accessToken(provider, { iss: issuer }), fromIssuer);
      expect(down).to.deep.include({ ok: false, code: 'keys_unavailable', status: 503, challenge: undefined });
      serveKeys = true;
      clock.tick(31_000); // jose waits 30 s before fetching the keys again
      const granted = await verifyStepUp(await accessToken(provider, { iss: issuer }), fromIssuer);
      expect(granted.ok).to.equal(true);
    });
  });
});
