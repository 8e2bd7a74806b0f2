/**
 * How the example shop sets itself up: its settings, its registration with the provider on the first start (the
 * functions behind `npm run cli -- client add`), and its back channel to a provider whose public address it cannot
 * reach (docker compose: `localhost:3000` is the container itself).
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import * as oidc from 'openid-client';
import { readShopConfig, ShopConfigError } from '../../examples/shop/config.ts';
import { backChannelFetch, createProviderClient } from '../../examples/shop/provider.ts';
import { ensureShopClient, EXAMPLE_SHOP_CLIENT_ID } from '../../examples/shop/register_client.ts';
import { findClient } from '../../src/provider/clients.ts';
import { issuerKeys } from '../../src/resource/step_up.ts';
import { EXAMPLE_SHOP_API, withExampleShopApi } from '../../src/seed/dev_seed.ts';
import { useTestServer } from '../helpers/server.ts';

describe('the example shop\'s set-up', function () {
  describe('settings (readShopConfig)', function () {
    it('defaults to the dev provider on localhost:3000 and the shop on localhost:8080, its API as audience', function () {
      const config = readShopConfig({}, '/srv/shop');
      expect(config).to.deep.include({
        issuer: 'http://localhost:3000', port: 8080, host: '127.0.0.1', shopUrl: 'http://localhost:8080',
        apiAudience: 'http://localhost:8080/api', apiUrl: 'http://127.0.0.1:8080/api', invoiceAcr: 'urn:oidc-stepup:acr:mfa',
        client: undefined, providerInternalUrl: undefined, secretFile: '/srv/shop/.data/example-shop-client.json',
      });
      expect(config.apiAudience, 'what the dev provider knows').to.equal(EXAMPLE_SHOP_API);
    });

    it('lists every problem at once', function () {
      expect(() => readShopConfig({ ISSUER: 'localhost:3000', SHOP_PORT: 'eighty', SHOP_CLIENT_ID: 'only-the-id' }))
        .to.throw(ShopConfigError)
        .with.property('problems').that.deep.equals([
          'ISSUER must be an absolute http(s) URL',
          'SHOP_PORT must be a port number',
          'set SHOP_CLIENT_ID and SHOP_CLIENT_SECRET together',
        ]);
    });
  });

  describe('registration on the first start', function () {
    const server = useTestServer('example_shop_setup');
    let dir: string;
    before(async function () {
      dir = await mkdtemp(join(tmpdir(), 'oidc-stepup-shop-setup-'));
    });
    after(async function () {
      await rm(dir, { recursive: true, force: true });
    });

    it('registers a first-party client once, keeps its secret in a file only the shop reads, and reuses it', async function () {
      const secretFile = join(dir, 'example-shop-client.json');
      const first = await ensureShopClient(server.conn, { shopUrl: 'http://localhost:8080', secretFile });
      expect(first.outcome).to.equal('created');
      const client = await findClient(server.conn, EXAMPLE_SHOP_CLIENT_ID);
      expect(client).to.deep.include({
        firstParty: true, redirectUris: ['http://localhost:8080/callback'], postLogoutRedirectUris: ['http://localhost:8080/'],
      });
      expect(client?.scope?.split(' ')).to.include.members(['offline_access', 'invoice', 'invoice_eligibility']);
      expect(JSON.parse(await readFile(secretFile, 'utf8'))).to.deep.equal({ clientId: 'example-shop', clientSecret: first.clientSecret });
      expect((await stat(secretFile)).mode & 0o777).to.equal(0o600);

      const again = await ensureShopClient(server.conn, { shopUrl: 'http://localhost:8080', secretFile });
      expect(again).to.deep.equal({ ...first, outcome: 'kept' });
    });

    it('a lost secret file gets a new secret (the provider keeps only the new one); another shop URL is added to the redirect URIs', async function () {
      const secretFile = join(dir, 'lost.json');
      const before = await ensureShopClient(server.conn, { shopUrl: 'http://localhost:8080', secretFile: join(dir, 'example-shop-client.json') });
      await writeFile(secretFile, 'not json');
      const rotated = await ensureShopClient(server.conn, { shopUrl: 'http://localhost:9090', secretFile });
      expect(rotated.outcome).to.equal('rotated');
      expect(rotated.clientSecret).to.not.equal(before.clientSecret);
      const client = await findClient(server.conn, EXAMPLE_SHOP_CLIENT_ID);
      expect(client?.clientSecret).to.equal(rotated.clientSecret);
      expect(client?.redirectUris).to.deep.equal(['http://localhost:8080/callback', 'http://localhost:9090/callback']);
    });
  });

  describe('the dev provider knows the example shop\'s invoice API', function () {
    it('adds it to RESOURCE_SERVERS (JWT, scope invoice) unless they name it', function () {
      expect(withExampleShopApi({})).to.deep.equal({ [EXAMPLE_SHOP_API]: { audience: EXAMPLE_SHOP_API, scope: 'invoice', accessTokenFormat: 'jwt' } });
      const own = { [EXAMPLE_SHOP_API]: { audience: 'urn:own', scope: 'invoice orders', accessTokenFormat: 'jwt' as const } };
      expect(withExampleShopApi(own)).to.deep.equal(own);
    });
  });

  describe('a provider reached on an internal address (PROVIDER_INTERNAL_URL)', function () {
    const PUBLIC_ISSUER = 'http://id.shop.invalid:3000';
    const server = useTestServer('example_shop_back_channel', { env: { ISSUER: PUBLIC_ISSUER, TRUST_PROXY: 'true' } });

    it('discovery, the authorization URL and the API\'s keys name the public issuer, fetched from the internal one', async function () {
      const internal = server.issuer; // http://127.0.0.1:PORT: where the server really listens
      const fetchViaInternal = backChannelFetch(PUBLIC_ISSUER, internal);
      const provider = createProviderClient({
        issuer: PUBLIC_ISSUER, clientId: server.clients.firstParty.clientId, clientSecret: server.clients.firstParty.clientSecret,
        redirectUri: server.clients.firstParty.redirectUri, postLogoutRedirectUri: server.clients.firstParty.postLogoutRedirectUri,
        fetch: fetchViaInternal,
      });
      const { url } = await provider.authorize('sign_in', { scope: 'openid' });
      expect(url.origin).to.equal(PUBLIC_ISSUER);
      const keys = issuerKeys(PUBLIC_ISSUER, { fetch: fetchViaInternal as typeof fetch });
      const jwks = await (await fetch(`${internal}/jwks`)).json() as { keys: Array<{ kid: string; alg?: string }> };
      const key = jwks.keys[0] as { kid: string; alg?: string };
      const found = await keys({ alg: key.alg ?? 'RS256', kid: key.kid }, { payload: '', signature: '' } as never);
      expect(found).to.have.property('type', 'public');
      // Without it, the public address is unreachable.
      const direct = await oidc.discovery(new URL(PUBLIC_ISSUER), 'x', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests], timeout: 2 })
        .then(() => 'reached', () => 'unreachable');
      expect(direct).to.equal('unreachable');
    });
  });
});
