import { createHash, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { expect } from 'chai';
import type { Connection } from 'mongoose';
import Provider, { type AdapterPayload } from 'oidc-provider';

import { MongoAdapter, ensureAdapterIndexes } from '../../src/provider/adapter.ts';
import {
  DEFAULT_CLIENT_SCOPE,
  FIRST_PARTY_PROPERTY,
  clientInputOf,
  createClient,
  findClient,
  listClients,
  removeClient,
  rotateClientSecret,
  saveClient,
  updateClient,
  type ShopClientInput,
} from '../../src/provider/clients.ts';
import { loadOrCreateDevKeys } from '../../src/provider/keys.ts';
import { AppError } from '../../src/shared/errors.ts';
import { connectFreshDb } from '../helpers/db.ts';

/**
 * Holds every lookup of an authorization code until `size` lookups wait, so racing token requests all read the
 * code before any of them consumes it (a real race, not one the scheduler happens to serialise).
 */
let codeLookupBarrier: { size: number; waiting: Array<() => void> } | undefined;

class RacingMongoAdapter extends MongoAdapter {
  override async find(id: string): Promise<AdapterPayload | undefined> {
    const found = await super.find(id);
    const barrier = codeLookupBarrier;
    if (barrier && this.modelName === 'AuthorizationCode') {
      await new Promise<void>((resolve) => {
        barrier.waiting.push(resolve);
        if (barrier.waiting.length >= barrier.size) {
          codeLookupBarrier = undefined;
          for (const release of barrier.waiting) release();
        }
      });
    }
    return found;
  }
}

const LONG_SECRET = 'a-configured-secret-that-is-long-enough-0123456789';

/** The AppError a promise must reject with. */
async function appErrorOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

describe('shop-client registry', function () {
  let conn: Connection;

  beforeEach(async function () {
    conn = await connectFreshDb('clients');
  });

  afterEach(async function () {
    await conn?.close();
  });

  describe('saveClient', function () {
    it('stores a confidential client as oidc-provider metadata with a generated long secret', async function () {
      const saved = await saveClient(conn, {
        clientId: 'demo-shop',
        redirectUris: ['https://shop.example/callback'],
        postLogoutRedirectUris: ['https://shop.example/'],
        name: 'Demo Shop',
        firstParty: true,
        defaultAcrValues: ['urn:oidc-stepup:acr:mfa'],
      });
      expect(saved.clientSecret).to.match(/^[A-Za-z0-9_-]{43,}$/);
      expect(saved).to.deep.include({
        clientId: 'demo-shop',
        redirectUris: ['https://shop.example/callback'],
        postLogoutRedirectUris: ['https://shop.example/'],
        name: 'Demo Shop',
        firstParty: true,
        public: false,
        clientCredentials: false,
      });
      expect(saved.metadata).to.deep.equal({
        client_id: 'demo-shop',
        client_secret: saved.clientSecret,
        redirect_uris: ['https://shop.example/callback'],
        post_logout_redirect_uris: ['https://shop.example/'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        client_name: 'Demo Shop',
        scope: DEFAULT_CLIENT_SCOPE,
        default_acr_values: ['urn:oidc-stepup:acr:mfa'],
        [FIRST_PARTY_PROPERTY]: true,
      });
      expect(await findClient(conn, 'demo-shop')).to.deep.equal(saved);
    });

    it('gives client credentials only to a confidential client that opts in', async function () {
      const plain = await saveClient(conn, { clientId: 'plain', redirectUris: ['https://a.example/cb'] });
      expect(plain.metadata.grant_types).to.not.include('client_credentials');
      expect(plain.clientCredentials).to.equal(false);
      const opted = await saveClient(conn, { clientId: 'opted', redirectUris: ['https://a.example/cb'], clientCredentials: true });
      expect(opted.metadata.grant_types).to.deep.equal(['authorization_code', 'refresh_token', 'client_credentials']);
      expect((await findClient(conn, 'opted'))?.clientCredentials).to.equal(true);
      const err = await appErrorOf(
        saveClient(conn, { clientId: 'spa', redirectUris: ['http://localhost:3000/cb'], public: true, clientCredentials: true }),
      );
      expect(err.message).to.match(/a public client cannot use client credentials/);
    });

    it('generates a different secret for each new client', async function () {
      const a = await saveClient(conn, { clientId: 'shop-a', redirectUris: ['https://a.example/cb'] });
      const b = await saveClient(conn, { clientId: 'shop-b', redirectUris: ['https://b.example/cb'] });
      expect(a.clientSecret).to.not.equal(b.clientSecret);
    });

    it('stores a public client without a secret, authenticating with none', async function () {
      const saved = await saveClient(conn, { clientId: 'spa', redirectUris: ['http://localhost:3000/cb'], public: true });
      expect(saved.clientSecret).to.equal(undefined);
      expect(saved.public).to.equal(true);
      expect(saved.firstParty).to.equal(false);
      expect(saved.metadata).to.not.have.property('client_secret');
      expect(saved.metadata).to.include({ token_endpoint_auth_method: 'none', [FIRST_PARTY_PROPERTY]: false });
      expect(saved.metadata.grant_types).to.deep.equal(['authorization_code', 'refresh_token']);
    });

    it('accepts http redirect URIs on loopback hosts only (localhost, 127.0.0.1, [::1])', async function () {
      await saveClient(conn, {
        clientId: 'local',
        redirectUris: ['http://localhost:8080/cb', 'http://127.0.0.1:9000/cb', 'http://[::1]:9001/cb'],
        clientSecret: LONG_SECRET,
      });
      const err = await appErrorOf(
        saveClient(conn, { clientId: 'remote', redirectUris: ['http://shop.example/cb'], clientSecret: LONG_SECRET }),
      );
      expect(err.message).to.match(/"http:\/\/shop\.example\/cb" uses http/);
      expect(await findClient(conn, 'remote')).to.equal(null);
    });

    it('lists every problem at once as a 400 invalid_client_metadata error', async function () {
      const input: ShopClientInput = {
        clientId: 'shop.example',
        redirectUris: ['/relative', 'http://evil.example/cb', 'https://shop.example/cb#frag', 'ftp://shop.example/cb'],
        postLogoutRedirectUris: ['http://10.0.0.1/bye'],
        clientSecret: 'short',
        scope: 'email profile',
      };
      const err = await appErrorOf(saveClient(conn, input));
      expect(err.code).to.equal('invalid_client_metadata');
      expect(err.status).to.equal(400);
      expect(err.expose).to.equal(true);
      const expected = [
        /client_id "shop\.example" must not contain "\."/,
        /"\/relative" is not an absolute URI/,
        /"http:\/\/evil\.example\/cb" uses http/,
        /"https:\/\/shop\.example\/cb#frag" must not contain a fragment/,
        /"ftp:\/\/shop\.example\/cb" must use https/,
        /post_logout_redirect_uris: "http:\/\/10\.0\.0\.1\/bye" uses http/,
        /client_secret must be at least 32 characters/,
        /scope must include "openid"/,
      ];
      for (const pattern of expected) expect(err.message).to.match(pattern);
      expect(await listClients(conn)).to.deep.equal([]);
    });

    it('refuses a public client with a secret, an empty redirect list and a bad client id', async function () {
      const err = await appErrorOf(
        saveClient(conn, { clientId: 'bad id$', redirectUris: [], public: true, clientSecret: LONG_SECRET }),
      );
      expect(err.message).to.match(/client_id "bad id\$" may only contain/);
      expect(err.message).to.match(/redirect_uris must contain at least one URI/);
      expect(err.message).to.match(/a public client has no client_secret/);
    });

    it('updates an existing client in place and keeps its secret when none is given', async function () {
      const first = await saveClient(conn, { clientId: 'shop', redirectUris: ['https://shop.example/cb'] });
      const second = await saveClient(conn, {
        clientId: 'shop',
        redirectUris: ['https://shop.example/cb', 'https://shop.example/cb2'],
        name: 'Renamed',
      });
      expect(second.clientSecret).to.equal(first.clientSecret);
      const stored = await findClient(conn, 'shop');
      expect(stored?.redirectUris).to.deep.equal(['https://shop.example/cb', 'https://shop.example/cb2']);
      expect(stored?.name).to.equal('Renamed');
      expect(await listClients(conn)).to.have.length(1);

      const rotated = await saveClient(conn, { clientId: 'shop', redirectUris: ['https://shop.example/cb'], clientSecret: LONG_SECRET });
      expect(rotated.clientSecret).to.equal(LONG_SECRET);
      expect((await findClient(conn, 'shop'))?.clientSecret).to.equal(LONG_SECRET);
    });

    it('refuses default_acr_values outside acr_values_supported (oidc-provider would refuse the client)', async function () {
      const err = await appErrorOf(saveClient(conn, { clientId: 'acr', redirectUris: ['https://a.example/cb'], defaultAcrValues: ['urn:example:gold'] }));
      expect(err.message).to.match(/default_acr_values: "urn:example:gold" not supported \(one of urn:oidc-stepup:acr:pwd, /);
      expect(await findClient(conn, 'acr')).to.equal(null);
    });
  });

  describe('updateClient, rotateClientSecret, removeClient', function () {
    it('updateClient changes a stored client and never creates one', async function () {
      const created = await createClient(conn, { clientId: 'shop', redirectUris: ['https://shop.example/cb'], tokenEndpointAuthMethod: 'client_secret_post' });
      const updated = await updateClient(conn, { ...clientInputOf(created), name: 'Renamed' });
      expect(updated).to.include({ name: 'Renamed', clientSecret: created.clientSecret, tokenEndpointAuthMethod: 'client_secret_post' });
      const err = await appErrorOf(updateClient(conn, { clientId: 'ghost', redirectUris: ['https://ghost.example/cb'] }));
      expect([err.code, err.status]).to.deep.equal(['client_not_found', 404]);
      expect(await findClient(conn, 'ghost')).to.equal(null);
    });

    it('rotateClientSecret changes only the secret, and only of a client that has one', async function () {
      const created = await createClient(conn, { clientId: 'shop', redirectUris: ['https://shop.example/cb'], name: 'Shop' });
      const { clientSecret, client } = await rotateClientSecret(conn, 'shop');
      expect(clientSecret).to.not.equal(created.clientSecret);
      expect(client).to.deep.equal({ ...created, clientSecret, metadata: { ...created.metadata, client_secret: clientSecret } });
      await createClient(conn, { clientId: 'spa', redirectUris: ['https://spa.example/cb'], public: true });
      expect((await appErrorOf(rotateClientSecret(conn, 'spa'))).code).to.equal('client_has_no_secret');
      expect((await findClient(conn, 'spa'))?.metadata).to.not.have.property('client_secret');
      expect((await appErrorOf(rotateClientSecret(conn, 'ghost'))).code).to.equal('client_not_found');
    });

    it('removeClient answers whether there was a client', async function () {
      await createClient(conn, { clientId: 'shop', redirectUris: ['https://shop.example/cb'] });
      expect(await removeClient(conn, 'shop')).to.deep.equal({ removed: true, grantsRevoked: 0 });
      expect(await removeClient(conn, 'shop')).to.deep.equal({ removed: false, grantsRevoked: 0 });
    });
  });

  describe('createClient', function () {
    it('registers a new client like saveClient does', async function () {
      const created = await createClient(conn, { clientId: 'new-shop', redirectUris: ['https://new.example/cb'], name: 'New' });
      expect(created.clientSecret).to.match(/^[A-Za-z0-9_-]{43,}$/);
      expect(await findClient(conn, 'new-shop')).to.deep.equal(created);
    });

    it('never overwrites an existing client or its secret: 409 client_exists', async function () {
      const first = await createClient(conn, { clientId: 'shop', redirectUris: ['https://shop.example/cb'] });
      const err = await appErrorOf(createClient(conn, { clientId: 'shop', redirectUris: ['https://evil.example/cb'], clientSecret: LONG_SECRET }));
      expect(err.code).to.equal('client_exists');
      expect(err.status).to.equal(409);
      const stored = await findClient(conn, 'shop');
      expect(stored?.clientSecret).to.equal(first.clientSecret);
      expect(stored?.redirectUris).to.deep.equal(['https://shop.example/cb']);
    });

    it('of two concurrent creations of one id exactly one succeeds and its secret stays', async function () {
      const results = await Promise.allSettled(
        Array.from({ length: 2 }, () => createClient(conn, { clientId: 'twin', redirectUris: ['https://twin.example/cb'] })),
      );
      const won = results.filter((result): result is PromiseFulfilledResult<Awaited<ReturnType<typeof createClient>>> => result.status === 'fulfilled');
      const lost = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
      expect(won).to.have.length(1);
      expect(lost).to.have.length(1);
      expect((lost[0]?.reason as AppError).code).to.equal('client_exists');
      expect((await findClient(conn, 'twin'))?.clientSecret).to.equal(won[0]?.value.clientSecret);
    });

    it('validates like saveClient', async function () {
      const err = await appErrorOf(createClient(conn, { clientId: 'bad.id', redirectUris: [] }));
      expect(err.code).to.equal('invalid_client_metadata');
      expect(await listClients(conn)).to.deep.equal([]);
    });
  });

  describe('listClients and findClient', function () {
    it('lists every client ordered by id', async function () {
      await saveClient(conn, { clientId: 'zeta', redirectUris: ['https://z.example/cb'] });
      await saveClient(conn, { clientId: 'alpha', redirectUris: ['https://a.example/cb'], public: true });
      const clients = await listClients(conn);
      expect(clients.map((client) => [client.clientId, client.public])).to.deep.equal([
        ['alpha', true],
        ['zeta', false],
      ]);
    });

    it('finds nothing for an unknown client id', async function () {
      expect(await findClient(conn, 'nobody')).to.equal(null);
    });
  });

  describe('with a real oidc-provider on the MongoDB adapter', function () {
    let provider: Provider;
    let server: Server;
    let tokenUrl: string;

    function basicAuth(clientId: string, secret: string): string {
      return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
    }

    beforeEach(async function () {
      await ensureAdapterIndexes(conn);
      const keys = await loadOrCreateDevKeys(conn);
      server = await new Promise<Server>((resolve) => {
        provider = new Provider('http://127.0.0.1', {
          adapter: class extends RacingMongoAdapter {
            constructor(modelName: string) {
              super(conn, modelName);
            }
          },
          jwks: keys.jwks,
          cookies: { keys: keys.cookieKeys },
          scopes: DEFAULT_CLIENT_SCOPE.split(' '), // every scope a saved client may ask for
          acrValues: ['urn:oidc-stepup:acr:pwd', 'urn:oidc-stepup:acr:mfa'],
          extraClientMetadata: { properties: [FIRST_PARTY_PROPERTY] },
          features: { devInteractions: { enabled: false }, clientCredentials: { enabled: true }, introspection: { enabled: true } },
          ttl: { ClientCredentials: 600, AccessToken: 600, Grant: 600, IdToken: 600, AuthorizationCode: 60 },
          findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
        });
        const started = provider.listen(0, '127.0.0.1', () => resolve(started));
      });
      tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
    });

    afterEach(async function () {
      await new Promise((resolve) => server?.close(resolve));
    });

    async function clientCredentials(clientId: string, secret: string): Promise<{ status: number; body: Record<string, unknown> }> {
      const response = await fetch(tokenUrl, {
        method: 'POST',
        headers: {
          authorization: basicAuth(clientId, secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    }

    it('finds a client saved after start-up, and its updates, without a restart', async function () {
      expect(await provider.Client.find('late-shop')).to.equal(undefined);
      await saveClient(conn, {
        clientId: 'late-shop',
        redirectUris: ['https://late.example/cb'],
        firstParty: true,
        defaultAcrValues: ['urn:oidc-stepup:acr:mfa'],
      });
      const client = await provider.Client.find('late-shop');
      expect(client?.redirectUris).to.deep.equal(['https://late.example/cb']);
      expect(client?.tokenEndpointAuthMethod).to.equal('client_secret_basic');
      expect(client?.defaultAcrValues).to.deep.equal(['urn:oidc-stepup:acr:mfa']);
      expect(client?.metadata()[FIRST_PARTY_PROPERTY]).to.equal(true);

      await saveClient(conn, { clientId: 'late-shop', redirectUris: ['https://late.example/new'] });
      const updated = await provider.Client.find('late-shop');
      expect(updated?.redirectUris).to.deep.equal(['https://late.example/new']);
      expect(updated?.metadata()[FIRST_PARTY_PROPERTY]).to.equal(false);
    });

    it("accepts a confidential client's secret at the token endpoint and rejects a wrong one", async function () {
      const saved = await saveClient(conn, { clientId: 'api-shop', redirectUris: ['https://api.example/cb'], clientCredentials: true });
      const good = await clientCredentials('api-shop', saved.clientSecret as string);
      expect(good.status, JSON.stringify(good.body)).to.equal(200);
      expect(good.body.access_token).to.be.a('string');
      expect(good.body.token_type).to.equal('Bearer');

      const bad = await clientCredentials('api-shop', `${saved.clientSecret as string}x`);
      expect(bad.status).to.equal(401);
      expect(bad.body.error).to.equal('invalid_client');
    });

    it('refuses client credentials to a client that did not opt in', async function () {
      const saved = await saveClient(conn, { clientId: 'web-shop', redirectUris: ['https://web.example/cb'] });
      const result = await clientCredentials('web-shop', saved.clientSecret as string);
      expect(result.status).to.equal(400);
      expect(result.body.error_description).to.equal('requested grant type is not allowed for this client');
      expect(result.body).to.not.have.property('access_token');
    });

    it('redeems an authorization code once when five token requests race for it, and revokes what it issued', async function () {
      const redirectUri = 'https://race.example/cb';
      const saved = await saveClient(conn, { clientId: 'race-shop', redirectUris: [redirectUri] });
      const client = await provider.Client.find('race-shop');
      if (!client) throw new Error('the saved client is not found');
      const grant = new provider.Grant({ accountId: 'account-1', clientId: 'race-shop' });
      grant.addOIDCScope('openid');
      const grantId = await grant.save();
      const verifier = randomBytes(32).toString('base64url');
      const code = await new provider.AuthorizationCode({
        accountId: 'account-1',
        client,
        grantId,
        scope: 'openid',
        redirectUri,
        codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
        codeChallengeMethod: 'S256',
        gty: 'authorization_code',
      }).save();

      const redeem = (): Promise<Response> =>
        fetch(tokenUrl, {
          method: 'POST',
          headers: {
            authorization: basicAuth('race-shop', saved.clientSecret as string),
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }),
        });
      codeLookupBarrier = { size: 5, waiting: [] };
      const responses = await Promise.all(Array.from({ length: 5 }, redeem));
      const bodies = (await Promise.all(responses.map((response) => response.json()))) as Array<Record<string, unknown>>;
      const outcomes = bodies.map((body, i) => `${responses[i]?.status} ${String(body.error ?? body.token_type)}`).sort();
      expect(outcomes).to.deep.equal(['200 Bearer', '400 invalid_grant', '400 invalid_grant', '400 invalid_grant', '400 invalid_grant']);

      // RFC 6749 §4.1.2: a code used more than once → the tokens issued from it are revoked, racing or not.
      const accessToken = bodies.find((body) => typeof body.access_token === 'string')?.access_token as string;
      const introspection = await fetch(tokenUrl.replace(/\/token$/, '/token/introspection'), {
        method: 'POST',
        headers: {
          authorization: basicAuth('race-shop', saved.clientSecret as string),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token: accessToken }),
      });
      expect(((await introspection.json()) as { active?: boolean }).active).to.equal(false);
      const userinfo = await fetch(tokenUrl.replace(/\/token$/, '/me'), { headers: { authorization: `Bearer ${accessToken}` } });
      expect(userinfo.status).to.equal(401);
    });

    it('serves a public client, which has no secret to use at the token endpoint', async function () {
      await saveClient(conn, { clientId: 'spa', redirectUris: ['http://localhost:5173/cb'], public: true });
      const client = await provider.Client.find('spa');
      expect(client?.tokenEndpointAuthMethod).to.equal('none');
      expect(client?.grantTypes).to.deep.equal(['authorization_code', 'refresh_token']);
    });
  });
});
