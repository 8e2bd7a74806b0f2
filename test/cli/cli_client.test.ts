import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import mongoose, { type Connection } from 'mongoose';
import { runCli, type CliIo } from '../../src/cli/run.ts';
import { findClient } from '../../src/provider/clients.ts';
import { noStackTrace, terminal } from './cli_io.ts';
import { freshDbUri } from './db_uri.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** An oidc-provider entity as the adapter stores it. */
interface StoredEntity {
  _id: string;
  payload: Record<string, unknown>;
  grantId?: string;
}

const MFA = 'urn:oidc-stepup:acr:mfa';
const MFA_APP = 'urn:oidc-stepup:acr:mfa-app';
const PAPE = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

async function publicJwk(alg: 'ES256' | 'RS256' | 'EdDSA', kid: string): Promise<JWK> {
  const { publicKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(publicKey)), kid, use: 'sig' };
}

async function privateJwk(alg: 'ES256' | 'RS256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return exportJWK(privateKey);
}

describe('operators CLI: managing shop clients', function () {
  let uri: string;
  let conn: Connection;
  let dir: string;

  async function cli(argv: string[], options: { env?: Record<string, string | undefined>; stdin?: CliIo['stdin'] } = {}): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const code = await runCli(argv, {
      stdout: { write: (chunk: string) => (stdout += chunk) },
      stderr: { write: (chunk: string) => (stderr += chunk) },
      stdin: options.stdin ?? Object.assign(Readable.from([]), { isTTY: false }),
      env: options.env ?? { MONGODB_URI: uri },
      cwd: dir,
    });
    return { code, stdout, stderr };
  }

  async function ok(argv: string[], options?: { stdin?: CliIo['stdin'] }): Promise<string> {
    const run = await cli(argv, options);
    expect(run.stderr, `stderr of ${argv.join(' ')}`).to.equal('');
    expect(run.code, argv.join(' ')).to.equal(0);
    return run.stdout;
  }



  async function jwksFile(name: string, content: unknown): Promise<string> {
    await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
    return name;
  }

  async function addBasic(id: string, ...extra: string[]): Promise<string> {
    const out = await ok(['client', 'add', '--id', id, '--redirect-uri', 'https://shop.example/cb', ...extra]);
    return /client_secret:\s+(\S+)/.exec(out)?.[1] ?? '';
  }

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'cli-client-'));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async function () {
    uri = freshDbUri('cli_client');
    conn = await mongoose.createConnection(uri).asPromise();
  });
  afterEach(async function () {
    await conn.dropDatabase();
    await conn.close();
  });

  describe('help', function () {
    it('lists the new commands and states the redirect-URI rules and that a change counts from the next request', async function () {
      const all = await ok(['help']);
      for (const usage of ['client show ID', 'client update ID', 'client rotate-secret ID [--yes]', 'client remove ID [--yes]', '--auth METHOD', '--require-acr LEVEL']) {
        expect(all).to.include(usage);
      }
      expect(all).to.include('https, or http only on localhost, 127.0.0.1 or [::1]; no fragment');
      for (const command of ['add', 'update']) {
        const out = await ok(['client', command, '--help']);
        expect(out).to.include('Redirect URIs (and post-logout redirect URIs): absolute; https, or http only on localhost, 127.0.0.1 or [::1]; no fragment (#)');
        expect(out).to.include('next request on');
        expect(out).to.include('--require-acr LEVEL');
      }
      expect(await ok(['client', 'add', '--help'])).to.include('private_key_jwt').and.include('client_secret_jwt').and.include('client_secret_post');
    });
  });

  describe('client add', function () {
    it('echoes everything it registered, with a generated secret once', async function () {
      const out = await ok([
        'client', 'add', '--id', 'intranet', '--name', 'Intranet', '--first-party', '--auth', 'client_secret_post',
        '--redirect-uri', 'https://intranet.example/cb', '--redirect-uri', 'http://[::1]:8080/cb',
        '--post-logout-redirect-uri', 'https://intranet.example/bye', '--require-acr', 'mfa', '--client-credentials',
      ]);
      const stored = await findClient(conn, 'intranet');
      expect(out).to.include('Created client intranet (confidential, first-party, client credentials).');
      expect(out).to.match(new RegExp(`client_secret:\\s+${stored?.clientSecret}\\n`));
      expect(out).to.match(/name:\s+Intranet\n/);
      expect(out).to.match(/type:\s+confidential, first-party \(no consent page\)\n/);
      expect(out).to.match(/token endpoint auth:\s+client_secret_post\n/);
      expect(out).to.match(/redirect URIs:\s+https:\/\/intranet\.example\/cb http:\/\/\[::1\]:8080\/cb\n/);
      expect(out).to.match(/post-logout redirect URIs:\s+https:\/\/intranet\.example\/bye\n/);
      expect(out).to.match(/grant types:\s+authorization_code refresh_token client_credentials\n/);
      expect(out).to.match(/scope:\s+openid email profile offline_access invoice invoice_eligibility\n/);
      expect(out).to.include(`required acr:               ${MFA} (level 2: password + any second factor)`);
      expect(out).to.include('Store the client secret now: it is not shown again.');
      expect(stored).to.include({ tokenEndpointAuthMethod: 'client_secret_post', firstParty: true, name: 'Intranet' });
      expect(stored?.metadata.default_acr_values).to.deep.equal([MFA]);
    });

    it('registers the logo, privacy policy and terms the consent page shows, and refuses a logo over plain http', async function () {
      const out = await ok([
        'client', 'add', '--id', 'partner', '--redirect-uri', 'https://partner.example/cb', '--logo-uri', 'https://partner.example/logo.png',
        '--policy-uri', 'https://partner.example/privacy', '--tos-uri', 'https://partner.example/terms',
      ]);
      expect(out).to.match(/logo_uri:\s+https:\/\/partner\.example\/logo\.png\n/).and.match(/tos_uri:\s+https:\/\/partner\.example\/terms\n/);
      expect(await findClient(conn, 'partner')).to.include({ logoUri: 'https://partner.example/logo.png', policyUri: 'https://partner.example/privacy' });
      const refused = await cli(['client', 'add', '--id', 'plain', '--redirect-uri', 'https://plain.example/cb', '--logo-uri', 'http://plain.example/logo.png']);
      expect(refused.code).to.equal(2);
      expect(refused.stderr).to.include('logo_uri must be https (http only on localhost)');
      await ok(['client', 'update', 'partner', '--tos-uri', 'https://partner.example/terms-2026']);
      expect((await findClient(conn, 'partner'))?.tosUri).to.equal('https://partner.example/terms-2026');
      expect((await findClient(conn, 'partner'))?.logoUri, 'the other pages kept').to.equal('https://partner.example/logo.png');
    });

    it('registers the shop’s name per language (client_name#de), changes one without losing the others, and refuses a control character', async function () {
      const out = await ok(['client', 'add', '--id', 'kaffee', '--redirect-uri', 'https://kaffee.example/cb', '--name', 'Coffee House', '--name-de', 'Kaffeehaus']);
      expect(out).to.match(/client_name#de:\s+Kaffeehaus\n/);
      expect((await findClient(conn, 'kaffee'))?.metadata).to.include({ client_name: 'Coffee House', 'client_name#de': 'Kaffeehaus' });
      await ok(['client', 'update', 'kaffee', '--name', 'Coffee House & Roastery']);
      expect((await findClient(conn, 'kaffee'))?.localizedNames, 'the German name kept').to.deep.equal({ de: 'Kaffeehaus' });
      await ok(['client', 'update', 'kaffee', '--name-de', 'Kaffeerösterei']);
      expect((await findClient(conn, 'kaffee'))?.metadata).to.include({ client_name: 'Coffee House & Roastery', 'client_name#de': 'Kaffeerösterei' });
      const refused = await cli(['client', 'update', 'kaffee', '--name-de', 'Kaffee\u0007haus']);
      expect(refused.code).to.equal(2);
      expect(refused.stderr).to.include('the name in de must be 1 to 200 characters without control characters');
      const unknown = await cli(['client', 'add', '--id', 'fr-shop', '--redirect-uri', 'https://fr.example/cb', '--name-fr', 'Boutique']);
      expect(unknown.code, 'a language without a catalogue has no option').to.equal(2);
    });

    it('registers client_secret_jwt with a generated secret (the HMAC key)', async function () {
      const secret = await addBasic('jwt-shop', '--auth', 'client_secret_jwt');
      const stored = await findClient(conn, 'jwt-shop');
      expect(stored).to.include({ tokenEndpointAuthMethod: 'client_secret_jwt', clientSecret: secret });
      expect(secret).to.have.length.of.at.least(43);
    });

    it('registers private_key_jwt with a jwks_uri: no secret is made or shown', async function () {
      const out = await ok([
        'client', 'add', '--id', 'pk-uri', '--auth', 'private_key_jwt', '--jwks-uri', 'https://shop.example/.well-known/jwks.json',
        '--redirect-uri', 'https://shop.example/cb',
      ]);
      expect(out).to.not.include('client_secret').and.not.include('not shown again');
      expect(out).to.match(/token endpoint auth:\s+private_key_jwt\n/).and.match(/jwks_uri:\s+https:\/\/shop\.example\/\.well-known\/jwks\.json\n/);
      const stored = await findClient(conn, 'pk-uri');
      expect(stored?.clientSecret).to.equal(undefined);
      expect(stored?.metadata).to.include({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://shop.example/.well-known/jwks.json' });
      expect(stored?.metadata).to.not.have.property('client_secret');
    });

    it('registers private_key_jwt with an inline JWKS of RSA, EC and Ed25519 public keys', async function () {
      const keys = [await publicJwk('RS256', 'rsa-1'), await publicJwk('ES256', 'ec-1'), await publicJwk('EdDSA', 'ed-1')];
      const file = await jwksFile('shop-keys.json', { keys });
      const out = await ok(['client', 'add', '--id', 'pk-inline', '--auth', 'private_key_jwt', '--jwks', file, '--redirect-uri', 'https://shop.example/cb']);
      expect(out).to.match(/jwks:\s+3 public keys: rsa-1 RSA, ec-1 EC P-256, ed-1 OKP Ed25519\n/);
      expect(out).to.not.include('client_secret');
      expect((await findClient(conn, 'pk-inline'))?.metadata.jwks).to.deep.equal({ keys });
    });

    it('--require-acr takes the short names and the acr values of acr_values_supported', async function () {
      await addBasic('a1', '--require-acr', 'mfa-app');
      await addBasic('a2', '--require-acr', MFA);
      await addBasic('a3', '--require-acr', PAPE);
      await addBasic('a4', '--require-acr', 'PWD');
      const stored = await Promise.all(['a1', 'a2', 'a3', 'a4'].map((id) => findClient(conn, id)));
      expect(stored.map((client) => client?.defaultAcrValues)).to.deep.equal([[MFA_APP], [MFA], [PAPE], ['urn:oidc-stepup:acr:pwd']]);
    });
  });

  describe('client add: bad input is a usage error (exit 2), nothing is written', function () {
    const base = ['client', 'add', '--id', 'bad', '--redirect-uri', 'https://shop.example/cb'];
    const cases: Array<[string, () => Promise<string[]>, RegExp]> = [
      ['an unknown auth method', async () => [...base, '--auth', 'client_secret_magic'], /unknown --auth "client_secret_magic"; one of client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, none/],
      ['--public with another method', async () => [...base, '--public', '--auth', 'client_secret_post'], /--public means --auth none, not client_secret_post/],
      ['private_key_jwt without keys', async () => [...base, '--auth', 'private_key_jwt'], /private_key_jwt needs the shop's public keys: --jwks-uri URL or --jwks FILE/],
      ['keys without private_key_jwt', async () => [...base, '--jwks-uri', 'https://shop.example/jwks'], /--jwks-uri and --jwks go with --auth private_key_jwt/],
      ['both --jwks-uri and --jwks', async () => [...base, '--auth', 'private_key_jwt', '--jwks-uri', 'https://shop.example/jwks', '--jwks', 'x.json'], /either --jwks-uri or --jwks/],
      ['an http jwks_uri', async () => [...base, '--auth', 'private_key_jwt', '--jwks-uri', 'http://localhost/jwks'], /jwks_uri: "http:\/\/localhost\/jwks" must use https/],
      ['a relative jwks_uri', async () => [...base, '--auth', 'private_key_jwt', '--jwks-uri', '/jwks'], /jwks_uri: "\/jwks" is not an absolute URI/],
      ['a secret for private_key_jwt', async () => [...base, '--auth', 'private_key_jwt', '--jwks-uri', 'https://shop.example/jwks', '--secret', 'x'.repeat(40)], /a client authenticating with private_key_jwt has no client_secret/],
      ['--secret-stdin for private_key_jwt', async () => [...base, '--auth', 'private_key_jwt', '--jwks-uri', 'https://shop.example/jwks', '--secret-stdin'], /a client authenticating with private_key_jwt has no client_secret/],
      ['a missing JWKS file', async () => [...base, '--auth', 'private_key_jwt', '--jwks', 'nope.json'], /cannot read the --jwks file "nope\.json": no such file/],
      ['a JWKS file that is not JSON', async () => [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('garbage.json', '{keys: oops')], /the --jwks file "garbage\.json" is not JSON/],
      ['a JSON file that is no JWKS', async () => [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('array.json', [1, 2])], /jwks must be a JSON Web Key Set: an object with a "keys" array/],
      ['an empty JWKS', async () => [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('empty.json', { keys: [] })], /jwks contains no keys/],
      ['a private EC key', async () => [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('private-ec.json', { keys: [await privateJwk('ES256')] })], /jwks\.keys\[0\] contains private key members \(d\): register the public key only/],
      ['a private RSA key', async () => [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('private-rsa.json', { keys: [await privateJwk('RS256')] })], /jwks\.keys\[0\] contains private key members \(d, p, q, dp, dq, qi\)/],
      ['a symmetric key', async () => [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('oct.json', { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })], /jwks\.keys\[0\] is a symmetric key/],
      ['an encryption key', async () => [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('enc.json', { keys: [{ ...(await publicJwk('ES256', 'e')), use: 'enc' }] })], /use must be "sig" \(got "enc"\)/],
      ['a key whose alg does not fit', async () => [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('alg.json', { keys: [{ ...(await publicJwk('ES256', 'e')), alg: 'RS256' }] })], /alg "RS256" does not fit this key or is not accepted \(expected one of ES256\)/],
      ['a curve the provider does not accept', async () => {
        const { publicKey } = await generateKeyPair('ES384', { extractable: true });
        return [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('p384.json', { keys: [await exportJWK(publicKey)] })];
      }, /"EC" "P-384" cannot sign an assertion here; use an RSA, EC P-256 or Ed25519 key/],
      ['a short RSA key', async () => {
        const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
        return [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('rsa1024.json', { keys: [publicKey.export({ format: 'jwk' })] })];
      }, /jwks\.keys\[0\]: RSA key of 1024 bits is too short \(at least 2048\)/],
      ['a point that is not on its curve', async () => {
        const [one, two] = [await publicJwk('ES256', 'one'), await publicJwk('ES256', 'two')];
        return [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('off-curve.json', { keys: [{ ...one, y: two.y }] })];
      }, /jwks\.keys\[0\] is not a valid EC public key/],
      ['the same kid twice', async () => [...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('twice.json', { keys: [await publicJwk('ES256', 'k'), await publicJwk('ES256', 'k')] })], /kid "k" is used twice/],
      ['an unknown acr level', async () => [...base, '--require-acr', 'gold'], /unknown --require-acr "gold"; one of pwd, mfa, mfa-app or urn:oidc-stepup:acr:pwd/],
      ['a redirect URI with a fragment', async () => ['client', 'add', '--id', 'bad', '--redirect-uri', 'https://shop.example/cb#x'], /must not contain a fragment/],
      ['an http redirect URI off loopback', async () => ['client', 'add', '--id', 'bad', '--redirect-uri', 'http://shop.example/cb'], /uses http; only https is allowed, except on localhost, 127\.0\.0\.1 or \[::1\]/],
      ['a relative post-logout redirect URI', async () => [...base, '--post-logout-redirect-uri', '/bye'], /post_logout_redirect_uris: "\/bye" is not an absolute URI/],
      ['a missing option value', async () => [...base, '--auth'], /Option '--auth <value>' argument missing/],
    ];
    for (const [title, argv, message] of cases) {
      it(title, async function () {
        const run = await cli(await argv());
        expect(run.stderr).to.match(message);
        expect(run.stderr).to.match(/^Error: client add: /);
        expect(run.stderr).to.include('Usage: npm run cli -- client add');
        expect(run.code).to.equal(2);
        expect(run.stdout).to.equal('');
        noStackTrace(run);
        expect(await findClient(conn, 'bad')).to.equal(null);
      });
    }

    it('fails before looking for a database', async function () {
      const run = await cli([...base, '--auth', 'private_key_jwt', '--jwks', await jwksFile('private.json', { keys: [await privateJwk('ES256')] })], { env: {} });
      expect(run.code).to.equal(2);
      expect(run.stderr).to.include('private key members').and.not.include('No database');
    });
  });

  describe('client show', function () {
    it('shows everything registered and never the secret; --json too', async function () {
      const secret = await addBasic('shown', '--name', 'Shown Shop', '--require-acr', 'mfa-app', '--post-logout-redirect-uri', 'https://shop.example/bye');
      const out = await ok(['client', 'show', 'shown']);
      expect(out).to.match(/^Client shown:\n/);
      expect(out).to.match(/client_secret:\s+set \(not shown\)\n/);
      expect(out).to.match(/name:\s+Shown Shop\n/).and.match(/token endpoint auth:\s+client_secret_basic\n/);
      expect(out).to.match(/redirect URIs:\s+https:\/\/shop\.example\/cb\n/).and.match(/post-logout redirect URIs:\s+https:\/\/shop\.example\/bye\n/);
      expect(out).to.include(`${MFA_APP} (level 3: password + authenticator-app code or recovery code)`);
      const json = await ok(['client', 'show', 'shown', '--json']);
      expect(JSON.parse(json)).to.include({ clientId: 'shown', name: 'Shown Shop', tokenEndpointAuthMethod: 'client_secret_basic', hasSecret: true });
      expect(JSON.parse(json).defaultAcrValues).to.deep.equal([MFA_APP]);
      for (const output of [out, json]) expect(output).to.not.include(secret);
    });

    it('an unknown client: message, exit 1', async function () {
      const run = await cli(['client', 'show', 'ghost']);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.equal('Error: No client with the id "ghost". See: npm run cli -- client list\n');
      expect((await cli(['client', 'show'])).code).to.equal(2);
    });
  });

  describe('client update', function () {
    it('changes only what is given and keeps the secret', async function () {
      const secret = await addBasic('shop', '--name', 'Old Name', '--post-logout-redirect-uri', 'https://shop.example/bye', '--client-credentials');
      const out = await ok([
        'client', 'update', 'shop', '--redirect-uri', 'https://shop.example/new', '--redirect-uri', 'http://localhost:3000/cb',
        '--name', 'New Name', '--first-party', '--require-acr', 'mfa',
      ]);
      expect(out).to.match(/^Updated client shop: redirect URIs, name, first party, required acr\.\n/);
      expect(out).to.match(/redirect URIs:\s+https:\/\/shop\.example\/new http:\/\/localhost:3000\/cb\n/);
      expect(out).to.include('the change counts on every instance from the next request on');
      expect(out).to.not.include(secret);
      const stored = await findClient(conn, 'shop');
      expect(stored).to.include({ clientSecret: secret, name: 'New Name', firstParty: true, clientCredentials: true, tokenEndpointAuthMethod: 'client_secret_basic' });
      expect(stored?.redirectUris).to.deep.equal(['https://shop.example/new', 'http://localhost:3000/cb']);
      expect(stored?.postLogoutRedirectUris).to.deep.equal(['https://shop.example/bye']);
      expect(stored?.defaultAcrValues).to.deep.equal([MFA]);

      expect(await ok(['client', 'update', 'shop', '--third-party', '--no-require-acr', '--no-post-logout-redirect-uris']))
        .to.match(/^Updated client shop: post-logout redirect URIs, first party, required acr\.\n/);
      const cleared = await findClient(conn, 'shop');
      expect(cleared).to.include({ firstParty: false, clientSecret: secret });
      expect(cleared?.postLogoutRedirectUris).to.deep.equal([]);
      expect(cleared?.metadata).to.not.have.property('default_acr_values');

      expect(await ok(['client', 'update', 'shop', '--name', 'New Name'])).to.equal('Nothing changed: client shop already has these settings.\n');
    });

    it("replaces a private_key_jwt client's keys", async function () {
      const first = await jwksFile('first.json', { keys: [await publicJwk('ES256', 'first')] });
      await ok(['client', 'add', '--id', 'pk', '--auth', 'private_key_jwt', '--jwks', first, '--redirect-uri', 'https://shop.example/cb']);
      const second = { keys: [await publicJwk('ES256', 'second')] };
      expect(await ok(['client', 'update', 'pk', '--jwks', await jwksFile('second.json', second)])).to.match(/^Updated client pk: jwks\.\n/);
      expect((await findClient(conn, 'pk'))?.metadata.jwks).to.deep.equal(second);
      await ok(['client', 'update', 'pk', '--jwks-uri', 'https://shop.example/jwks']);
      const stored = await findClient(conn, 'pk');
      expect(stored?.jwksUri).to.equal('https://shop.example/jwks');
      expect(stored?.metadata).to.not.have.property('jwks');
    });

    it('bad input: exit 2, or 1 for an unknown client; nothing changes', async function () {
      await addBasic('shop', '--name', 'Kept');
      const cases: Array<[string[], number, RegExp]> = [
        [['client', 'update', 'shop'], 2, /nothing to change: give at least one option/],
        [['client', 'update'], 2, /missing ID/],
        [['client', 'update', 'shop', '--redirect-uri', 'http://evil.example/cb'], 2, /uses http; only https is allowed/],
        [['client', 'update', 'shop', '--post-logout-redirect-uri', 'https://shop.example/#x'], 2, /must not contain a fragment/],
        [['client', 'update', 'shop', '--first-party', '--third-party'], 2, /either --first-party or --third-party/],
        [['client', 'update', 'shop', '--require-acr', 'mfa', '--no-require-acr'], 2, /either --require-acr or --no-require-acr/],
        [['client', 'update', 'shop', '--require-acr', 'platinum'], 2, /unknown --require-acr "platinum"/],
        [['client', 'update', 'shop', '--name', ' '], 2, /client_name must be a non-empty text/],
        [['client', 'update', 'shop', '--jwks-uri', 'https://shop.example/jwks'], 2, /--jwks-uri and --jwks are for private_key_jwt clients; "shop" authenticates with client_secret_basic/],
        [['client', 'update', 'shop', '--jwks', 'missing.json'], 2, /cannot read the --jwks file "missing\.json"/],
        [['client', 'update', 'ghost', '--name', 'Ghost'], 1, /No client with the id "ghost"/],
      ];
      const before = await findClient(conn, 'shop');
      for (const [argv, code, message] of cases) {
        const run = await cli(argv);
        expect(run.stderr, argv.join(' ')).to.match(message);
        expect(run.code, argv.join(' ')).to.equal(code);
        expect(run.stdout).to.equal('');
        noStackTrace(run);
      }
      expect(await findClient(conn, 'shop')).to.deep.equal(before);
      expect(await findClient(conn, 'ghost')).to.equal(null);
    });
  });

  describe('client rotate-secret', function () {
    it('with --yes: a new secret, printed once; the old one is gone', async function () {
      const old = await addBasic('shop', '--auth', 'client_secret_jwt', '--name', 'Kept');
      const out = await ok(['client', 'rotate-secret', 'shop', '--yes']);
      const fresh = /client_secret:\s+(\S+)/.exec(out)?.[1];
      expect(fresh).to.be.a('string').with.length.of.at.least(43).and.not.equal(old);
      expect(out).to.include('Store it now: it is not shown again.').and.include('refuse the old secret from now on');
      const stored = await findClient(conn, 'shop');
      expect(stored).to.include({ clientSecret: fresh, name: 'Kept', tokenEndpointAuthMethod: 'client_secret_jwt' });
      expect(await ok(['client', 'show', 'shop'])).to.not.include(fresh);
    });

    it('on a terminal asks first: "n" changes nothing, "y" rotates', async function () {
      const old = await addBasic('shop');
      const refused = await cli(['client', 'rotate-secret', 'shop'], { stdin: terminal('n\n') });
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.include('Give shop a new secret?').and.include('Aborted: nothing was changed.');
      expect(refused.stdout).to.equal('');
      expect((await findClient(conn, 'shop'))?.clientSecret).to.equal(old);

      const accepted = await cli(['client', 'rotate-secret', 'shop'], { stdin: terminal('y\n') });
      expect(accepted.code, accepted.stderr).to.equal(0);
      expect((await findClient(conn, 'shop'))?.clientSecret).to.equal(/client_secret:\s+(\S+)/.exec(accepted.stdout)?.[1]);
    });

    it('refuses without a terminal or --yes (exit 2), an unknown client and one without a secret (exit 1)', async function () {
      const old = await addBasic('shop');
      await ok(['client', 'add', '--id', 'spa', '--public', '--redirect-uri', 'https://spa.example/cb']);
      await ok(['client', 'add', '--id', 'pk', '--auth', 'private_key_jwt', '--jwks-uri', 'https://pk.example/jwks', '--redirect-uri', 'https://pk.example/cb']);
      const script = await cli(['client', 'rotate-secret', 'shop']);
      expect(script.code).to.equal(2);
      expect(script.stderr).to.include('stdin is not a terminal, so there is nobody to ask: add --yes to confirm');
      expect((await findClient(conn, 'shop'))?.clientSecret).to.equal(old);
      const ghost = await cli(['client', 'rotate-secret', 'ghost', '--yes']);
      expect([ghost.code, ghost.stderr]).to.deep.equal([1, 'Error: No client with the id "ghost". See: npm run cli -- client list\n']);
      const spa = await cli(['client', 'rotate-secret', 'spa', '--yes']);
      expect([spa.code, spa.stderr]).to.deep.equal([1, 'Error: The client "spa" authenticates with none: it has no secret to rotate.\n']);
      const pk = await cli(['client', 'rotate-secret', 'pk', '--yes']);
      expect([pk.code, pk.stderr]).to.deep.equal([1, 'Error: The client "pk" authenticates with private_key_jwt: it has no secret to rotate.\n']);
      expect((await findClient(conn, 'pk'))?.metadata).to.not.have.property('client_secret');
    });
  });

  describe('client remove', function () {
    /** A grant of `clientId` with an access token, as oidc-provider stores them. */
    async function grantOf(clientId: string, grantId: string): Promise<void> {
      const db = conn.db!;
      await db.collection<StoredEntity>('oidc_grants').insertOne({ _id: grantId, payload: { clientId, accountId: 'acc-1', kind: 'Grant' } });
      await db.collection<StoredEntity>('oidc_access_tokens').insertOne({ _id: `at-${grantId}`, payload: { clientId, grantId, kind: 'AccessToken' }, grantId });
    }

    async function stored(collection: string): Promise<string[]> {
      return (await conn.db!.collection(collection).find({}).toArray()).map((doc) => String(doc._id));
    }

    it('with --yes: removes the client and revokes its grants and tokens, not those of others', async function () {
      await addBasic('gone');
      await addBasic('kept');
      await grantOf('gone', 'g1');
      await grantOf('kept', 'g2');
      await conn.db!.collection<StoredEntity>('oidc_client_credentials').insertOne({ _id: 'cc1', payload: { clientId: 'gone' } });
      const out = await ok(['client', 'remove', 'gone', '--yes']);
      expect(out).to.equal('Removed client gone; revoked 1 grant with their codes and tokens.\nRunning servers stop serving it from now on.\n');
      expect(await findClient(conn, 'gone')).to.equal(null);
      expect(await findClient(conn, 'kept')).to.not.equal(null);
      expect(await stored('oidc_grants')).to.deep.equal(['g2']);
      expect(await stored('oidc_access_tokens')).to.deep.equal(['at-g2']);
      expect(await stored('oidc_client_credentials')).to.deep.equal([]);
    });

    it('on a terminal asks first: "n" keeps the client, "y" removes it', async function () {
      await addBasic('shop', '--name', 'Shop');
      const refused = await cli(['client', 'remove', 'shop'], { stdin: terminal('no\n') });
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.include('Remove the client shop ("Shop")?').and.include('Aborted: nothing was changed.');
      expect(await findClient(conn, 'shop')).to.not.equal(null);
      const accepted = await cli(['client', 'remove', 'shop'], { stdin: terminal('yes\n') });
      expect(accepted.code, accepted.stderr).to.equal(0);
      expect(await findClient(conn, 'shop')).to.equal(null);
    });

    it('refuses without a terminal or --yes (exit 2) and an unknown client (exit 1)', async function () {
      await addBasic('shop');
      const script = await cli(['client', 'remove', 'shop']);
      expect(script.code).to.equal(2);
      expect(script.stderr).to.include('client remove: stdin is not a terminal, so there is nobody to ask: add --yes to confirm');
      expect(await findClient(conn, 'shop')).to.not.equal(null);
      const ghost = await cli(['client', 'remove', 'ghost', '--yes']);
      expect(ghost.code).to.equal(1);
      expect(ghost.stderr).to.equal('Error: No client with the id "ghost". See: npm run cli -- client list\n');
      expect((await cli(['client', 'remove', '--yes'])).code).to.equal(2);
    });

    it('a client added again under a removed id inherits none of the old grants', async function () {
      await addBasic('reused');
      // A grant issued by a server that still served the removed client from its cache.
      await ok(['client', 'remove', 'reused', '--yes']);
      await grantOf('reused', 'late');
      await addBasic('reused');
      expect(await stored('oidc_grants')).to.deep.equal([]);
      expect(await stored('oidc_access_tokens')).to.deep.equal([]);
    });
  });
});
