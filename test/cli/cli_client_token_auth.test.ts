/**
 * End to end: shops registered through the CLI (in process, on the test server's database) authenticate at the
 * token endpoint of the running provider over real HTTP with openid-client, with every method discovery advertises.
 */
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import { runCli } from '../../src/cli/run.ts';
import { SHOP_ORIGIN, useTestServer, type TestClient } from '../helpers/server.ts';
import { Browser, Shop, signIn } from '../helpers/shop.ts';
import { dbUriOf } from './db_uri.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('shops registered through the CLI authenticate at the token endpoint (openid-client over HTTP)', function () {
  const server = useTestServer('cli_token_auth');
  let dir: string;

  async function cli(argv: string[]): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const code = await runCli(argv, {
      stdout: { write: (chunk: string) => (stdout += chunk) },
      stderr: { write: (chunk: string) => (stderr += chunk) },
      stdin: Object.assign(Readable.from([]), { isTTY: false }),
      env: { MONGODB_URI: dbUriOf(server.conn.name) },
      cwd: dir,
    });
    return { code, stdout, stderr };
  }

  async function ok(argv: string[]): Promise<string> {
    const run = await cli(argv);
    expect(run.code, `${argv.join(' ')}: ${run.stderr}`).to.equal(0);
    return run.stdout;
  }

  function shopClient(clientId: string, clientSecret = ''): TestClient {
    return { clientId, clientSecret, redirectUri: `${SHOP_ORIGIN}/${clientId}/callback`, postLogoutRedirectUri: `${SHOP_ORIGIN}/${clientId}/signed-out` };
  }

  async function configFor(clientId: string, clientAuth: oidc.ClientAuth): Promise<oidc.Configuration> {
    return oidc.discovery(new URL(server.issuer), clientId, undefined, clientAuth, { execute: [oidc.allowInsecureRequests] });
  }

  /** A client-credentials token for the test API, or the OAuth error code the token endpoint answered. */
  async function clientCredentials(config: oidc.Configuration): Promise<{ token?: string; error?: string }> {
    try {
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'orders:read', resource: server.api.resource });
      return { token: tokens.access_token };
    } catch (err) {
      if (err instanceof oidc.ResponseBodyError) return { error: err.error };
      // A 401 for a client authenticating in the Authorization header comes with a Basic challenge.
      if (err instanceof oidc.WWWAuthenticateChallengeError) return { error: ((await err.response.json()) as { error: string }).error };
      throw err;
    }
  }

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'cli-token-auth-'));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it('private_key_jwt with an inline JWKS: a code flow gets its tokens; an assertion signed by another key is refused', async function () {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    await writeFile(join(dir, 'shop-keys.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'shop-key-1', use: 'sig' }] }));
    const client = shopClient('pk-shop');
    await ok([
      'client', 'add', '--id', client.clientId, '--first-party', '--auth', 'private_key_jwt', '--jwks', 'shop-keys.json',
      '--redirect-uri', client.redirectUri, '--client-credentials',
    ]);

    const shop = await Shop.discover(server.issuer, client, oidc.PrivateKeyJwt({ key: privateKey, kid: 'shop-key-1' }));
    expect(shop.config.serverMetadata().token_endpoint_auth_methods_supported).to.include('private_key_jwt');
    const { pending, callbackUrl } = await signIn(shop, new Browser([SHOP_ORIGIN]), server.accounts.alice);
    const tokens = await shop.finishLogin(pending, callbackUrl);
    expect(tokens.access_token).to.be.a('string');
    expect(tokens.claims()?.sub).to.equal(server.accounts.alice.id);
    expect(tokens.claims()?.aud).to.equal(client.clientId);

    const impostorKey = await generateKeyPair('ES256');
    const impostor = await configFor(client.clientId, oidc.PrivateKeyJwt({ key: impostorKey.privateKey, kid: 'shop-key-1' }));
    expect(await clientCredentials(impostor)).to.deep.equal({ error: 'invalid_client' });
    expect((await clientCredentials(shop.config)).token).to.be.a('string');
  });

  it('every method discovery advertises for a confidential client works as registered by the CLI', async function () {
    const advertised = (await configFor('first-shop', oidc.None())).serverMetadata().token_endpoint_auth_methods_supported ?? [];
    expect(advertised).to.include.members(['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt']);
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    await writeFile(join(dir, 'rsa-keys.json'), JSON.stringify({ keys: [await exportJWK(publicKey)] }));
    const auths: Record<string, (secret: string) => oidc.ClientAuth> = {
      client_secret_basic: (secret) => oidc.ClientSecretBasic(secret),
      client_secret_post: (secret) => oidc.ClientSecretPost(secret),
      client_secret_jwt: (secret) => oidc.ClientSecretJwt(secret),
      private_key_jwt: () => oidc.PrivateKeyJwt(privateKey),
    };
    for (const method of advertised.filter((name) => name !== 'none')) {
      const auth = auths[method];
      expect(auth, `a test for ${method}`).to.not.equal(undefined);
      const clientId = `via-${method.replaceAll('_', '-')}`;
      const keys = method === 'private_key_jwt' ? ['--jwks', 'rsa-keys.json'] : [];
      const out = await ok(['client', 'add', '--id', clientId, '--auth', method, ...keys, '--redirect-uri', shopClient(clientId).redirectUri, '--client-credentials']);
      const secret = /client_secret:\s+(\S+)/.exec(out)?.[1] ?? '';
      const granted = await clientCredentials(await configFor(clientId, (auth as (secret: string) => oidc.ClientAuth)(secret)));
      expect(granted.token, `${method}: ${granted.error ?? ''}`).to.be.a('string');
      if (method !== 'private_key_jwt') {
        const wrong = await clientCredentials(await configFor(clientId, (auth as (secret: string) => oidc.ClientAuth)(`${secret}x`)));
        expect(wrong, method).to.deep.equal({ error: 'invalid_client' });
      }
    }
  });

  it('after rotate-secret the new secret works and the old one is refused; a removed client is refused', async function () {
    const old = /client_secret:\s+(\S+)/.exec(await ok(['client', 'add', '--id', 'rotated', '--auth', 'client_secret_post', '--redirect-uri', shopClient('rotated').redirectUri, '--client-credentials']))?.[1] ?? '';
    const fresh = /client_secret:\s+(\S+)/.exec(await ok(['client', 'rotate-secret', 'rotated', '--yes']))?.[1] ?? '';
    expect(fresh).to.not.equal(old);
    expect((await clientCredentials(await configFor('rotated', oidc.ClientSecretPost(fresh)))).token).to.be.a('string');
    expect(await clientCredentials(await configFor('rotated', oidc.ClientSecretPost(old)))).to.deep.equal({ error: 'invalid_client' });

    const removedSecret = /client_secret:\s+(\S+)/.exec(await ok(['client', 'add', '--id', 'removed', '--redirect-uri', shopClient('removed').redirectUri, '--client-credentials']))?.[1] ?? '';
    await ok(['client', 'remove', 'removed', '--yes']);
    expect(await clientCredentials(await configFor('removed', oidc.ClientSecretBasic(removedSecret)))).to.deep.equal({ error: 'invalid_client' });
  });

  /** The OAuth error of a failed code exchange. */
  async function exchangeError(exchange: Promise<unknown>): Promise<string> {
    try {
      await exchange;
    } catch (err) {
      if (err instanceof oidc.ResponseBodyError) return err.error;
      if (err instanceof oidc.WWWAuthenticateChallengeError) return ((await err.response.json()) as { error: string }).error;
      throw err;
    }
    throw new Error('the code exchange succeeded');
  }

  it('a change or removal by the CLI counts at the next request of a server that has just served the client (no copy is kept)', async function () {
    const client = shopClient('live-shop');
    const dropped = `${SHOP_ORIGIN}/live-shop/other`;
    const secret = /client_secret:\s+(\S+)/.exec(await ok(['client', 'add', '--id', client.clientId, '--first-party', '--redirect-uri', client.redirectUri, '--redirect-uri', dropped]))?.[1] ?? '';
    const shop = await Shop.discover(server.issuer, { ...client, clientSecret: secret });
    const first = await signIn(shop, new Browser([SHOP_ORIGIN]), server.accounts.alice);
    expect((await shop.finishLogin(first.pending, first.callbackUrl)).access_token).to.be.a('string');

    // rotate-secret: a code issued a moment before cannot be redeemed with the old secret; the new one works.
    const beforeRotation = await signIn(shop, new Browser([SHOP_ORIGIN]), server.accounts.alice);
    const fresh = /client_secret:\s+(\S+)/.exec(await ok(['client', 'rotate-secret', client.clientId, '--yes']))?.[1] ?? '';
    expect(await exchangeError(shop.finishLogin(beforeRotation.pending, beforeRotation.callbackUrl))).to.equal('invalid_client');
    const rotated = await Shop.discover(server.issuer, { ...client, clientSecret: fresh });
    const afterRotation = await signIn(rotated, new Browser([SHOP_ORIGIN]), server.accounts.alice);
    expect((await rotated.finishLogin(afterRotation.pending, afterRotation.callbackUrl)).access_token).to.be.a('string');

    // update: a redirect URI taken off the client is refused at the next authorization request.
    const viaDropped = await Shop.discover(server.issuer, { ...client, clientSecret: fresh, redirectUri: dropped });
    expect((await new Browser([SHOP_ORIGIN]).go((await viaDropped.startLogin()).url.href)).html).to.include('/login"');
    await ok(['client', 'update', client.clientId, '--redirect-uri', client.redirectUri]);
    const refused = await new Browser([SHOP_ORIGIN]).go((await viaDropped.startLogin()).url.href);
    expect(refused.status).to.equal(400);
    expect(refused.html).to.include('redirect_uri did not match');

    // remove: the next authorization request is refused, and so is the code of a sign-in made just before.
    const beforeRemoval = await signIn(rotated, new Browser([SHOP_ORIGIN]), server.accounts.alice);
    await ok(['client', 'remove', client.clientId, '--yes']);
    expect((await new Browser([SHOP_ORIGIN]).go((await rotated.startLogin()).url.href)).status).to.equal(400);
    expect(await exchangeError(rotated.finishLogin(beforeRemoval.pending, beforeRemoval.callbackUrl))).to.equal('invalid_client');
  });

  it('--require-acr is valid client metadata for the provider (default_acr_values)', async function () {
    await ok(['client', 'add', '--id', 'intranet', '--first-party', '--redirect-uri', shopClient('intranet').redirectUri, '--require-acr', 'mfa']);
    const client = await server.provider.Client.find('intranet');
    expect(client?.defaultAcrValues).to.deep.equal(['urn:oidc-stepup:acr:mfa']);
    expect(client?.tokenEndpointAuthMethod).to.equal('client_secret_basic');
  });
});
