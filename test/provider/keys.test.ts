import { generateKeyPairSync, randomBytes } from 'node:crypto';

import { expect } from 'chai';
import { SignJWT, importJWK, jwtVerify, type JWK } from 'jose';
import type { Connection } from 'mongoose';

import { DEV_KEYS_COLLECTION, loadOrCreateDevKeys, type ProviderKeys } from '../../src/provider/keys.ts';
import { MIN_COOKIE_KEY_LENGTH, parseConfiguredKeys } from '../../src/config/provider_keys.ts';
import { connectFreshDb } from '../helpers/db.ts';

function rsaJwk(modulusLength = 2048): JWK {
  return generateKeyPairSync('rsa', { modulusLength }).privateKey.export({ format: 'jwk' }) as JWK;
}

function ecJwk(): JWK {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as JWK;
}

function publicPart(jwk: JWK): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rest } = jwk;
  return rest;
}

const cookieKey = (): string => randomBytes(32).toString('base64url');

describe('provider keys', function () {
  describe('loadOrCreateDevKeys', function () {
    let conn: Connection;

    beforeEach(async function () {
      conn = await connectFreshDb('dev_keys');
    });

    afterEach(async function () {
      await conn?.close();
    });

    it('generates RS256 and ES256 private signing keys with kids, and two long cookie keys', async function () {
      const keys = await loadOrCreateDevKeys(conn);
      const byAlg = new Map(keys.jwks.keys.map((key) => [key.alg, key]));
      expect([...byAlg.keys()].sort()).to.deep.equal(['ES256', 'RS256']);
      expect(byAlg.get('RS256')).to.include({ kty: 'RSA', use: 'sig' });
      expect(byAlg.get('ES256')).to.include({ kty: 'EC', crv: 'P-256', use: 'sig' });
      for (const key of keys.jwks.keys) {
        expect(key.kid).to.be.a('string').and.not.equal('');
        expect(key.d, 'private part').to.be.a('string');
      }
      expect(new Set(keys.jwks.keys.map((key) => key.kid)).size).to.equal(2);
      expect(keys.cookieKeys.length).to.be.at.least(2);
      expect(new Set(keys.cookieKeys).size).to.equal(keys.cookieKeys.length);
      for (const key of keys.cookieKeys) expect(key.length).to.be.at.least(MIN_COOKIE_KEY_LENGTH);
    });

    it('signs with the generated keys: a JWT signed with each private key verifies', async function () {
      const keys = await loadOrCreateDevKeys(conn);
      for (const jwk of keys.jwks.keys) {
        const alg = jwk.alg as string;
        const jwt = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg, kid: jwk.kid }).sign(await importJWK(jwk, alg));
        const { payload } = await jwtVerify(jwt, await importJWK(publicPart(jwk), alg));
        expect(payload.sub).to.equal('x');
      }
    });

    it('returns the same keys on every later call (a restart keeps sessions)', async function () {
      const first = await loadOrCreateDevKeys(conn);
      const second = await loadOrCreateDevKeys(conn);
      expect(second).to.deep.equal(first);
    });

    it('ends with one key set when several processes start at once', async function () {
      const other = conn.useDb(conn.name, { useCache: false });
      const results: ProviderKeys[] = await Promise.all([
        loadOrCreateDevKeys(conn),
        loadOrCreateDevKeys(other),
        loadOrCreateDevKeys(conn),
        loadOrCreateDevKeys(other),
      ]);
      for (const result of results.slice(1)) expect(result).to.deep.equal(results[0]);
      expect(await conn.db?.collection(DEV_KEYS_COLLECTION).countDocuments({})).to.equal(1);
      expect(await loadOrCreateDevKeys(conn)).to.deep.equal(results[0]);
    });

    it('refuses a corrupted stored key set instead of signing with it', async function () {
      await conn.db?.collection<{ _id: string }>(DEV_KEYS_COLLECTION).insertOne({
        _id: 'provider',
        jwks: { keys: [publicPart(rsaJwk())] },
        cookieKeys: ['short'],
      } as { _id: string });
      let message = '';
      try {
        await loadOrCreateDevKeys(conn);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).to.match(/public key/).and.match(/too short/);
    });
  });

  describe('parseConfiguredKeys', function () {
    it('accepts private RSA and EC keys with comma-separated cookie keys, adding missing kids', function () {
      const rsa = rsaJwk();
      const ec = { ...ecJwk(), kid: 'ec-1' };
      const cookies = [cookieKey(), cookieKey()];
      const result = parseConfiguredKeys({ jwks: JSON.stringify({ keys: [rsa, ec] }), cookieKeys: ` ${cookies[0]}, ${cookies[1]} ` });
      expect(result.problems).to.deep.equal([]);
      expect(result.keys?.cookieKeys).to.deep.equal(cookies);
      expect(result.keys?.jwks.keys.map((key) => key.kid)[1]).to.equal('ec-1');
      expect(result.keys?.jwks.keys[0]?.kid).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(result.keys?.jwks.keys[0]?.d).to.equal(rsa.d);
    });

    it('accepts cookie keys as a JSON array', function () {
      const cookies = [cookieKey()];
      const result = parseConfiguredKeys({ jwks: JSON.stringify({ keys: [rsaJwk()] }), cookieKeys: JSON.stringify(cookies) });
      expect(result.problems).to.deep.equal([]);
      expect(result.keys?.cookieKeys).to.deep.equal(cookies);
    });

    it('reports both missing values at once', function () {
      const result = parseConfiguredKeys({});
      expect(result.keys).to.equal(undefined);
      expect(result.problems).to.have.length(2);
      expect(result.problems[0]).to.match(/^jwks is missing/);
      expect(result.problems[1]).to.match(/^cookieKeys is missing/);
    });

    it('reports invalid JSON, public-only keys and too-short cookie keys together', function () {
      const short = parseConfiguredKeys({
        jwks: JSON.stringify({ keys: [publicPart(rsaJwk()), publicPart(ecJwk())] }),
        cookieKeys: `${cookieKey()},tooshort`,
      });
      expect(short.keys).to.equal(undefined);
      expect(short.problems).to.have.length(3);
      expect(short.problems[0]).to.match(/^jwks\.keys\[0\] is a public key \(missing d, p, q, dp, dq, qi\)/);
      expect(short.problems[1]).to.match(/^jwks\.keys\[1\] is a public key \(missing d\)/);
      expect(short.problems[2]).to.match(/^cookieKeys\[1\] is too short \(8 characters/);

      const broken = parseConfiguredKeys({ jwks: '{"keys": [', cookieKeys: '["unterminated' });
      expect(broken.problems).to.have.length(2);
      expect(broken.problems[0]).to.match(/^jwks is not valid JSON/);
      expect(broken.problems[1]).to.match(/cookieKeys .*not valid JSON/);
    });

    it('never quotes key material when the JWKS is not valid JSON', function () {
      const marker = 'SECRETMARKERd0not1og';
      // Broken right inside the private exponent: V8's JSON.parse message quotes the text around the error.
      const inputs = [
        `{"keys":[{"kty":"RSA","d":"${marker}${marker}" "n":"x"}]}`,
        `{"keys":[{"kty":"EC","d":"${marker}\x01${marker}"}]}`,
        `{"keys":[{"kty":"OKP","d":"${marker}${marker}${marker}${marker}`,
        `{"keys":[{"kty":"RSA","d":${marker}}]}`,
      ];
      for (const jwks of inputs) {
        const { problems } = parseConfiguredKeys({ jwks, cookieKeys: cookieKey() });
        expect(problems, jwks).to.have.length(1);
        expect(problems[0]).to.match(/^jwks is not valid JSON( \(at position \d+\))?$/);
        for (const problem of problems) {
          expect(problem).to.not.include(marker.slice(0, 6));
          expect(problem).to.not.include('"d"');
        }
      }
    });

    it('reports symmetric, malformed, weak, mismatched and duplicate keys, each by index', function () {
      const rsa = { ...rsaJwk(), kid: 'same' };
      const result = parseConfiguredKeys({
        jwks: JSON.stringify({
          keys: [
            { kty: 'oct', k: cookieKey() },
            { ...rsaJwk(), n: rsaJwk().n },
            rsaJwk(1024),
            { ...ecJwk(), alg: 'RS256' },
            { ...ecJwk(), use: 'enc' },
            rsa,
            { ...rsaJwk(), kid: 'same' },
          ],
        }),
        cookieKeys: `${'a'.repeat(40)},${'a'.repeat(40)}`,
      });
      expect(result.keys).to.equal(undefined);
      const text = result.problems.join('\n');
      expect(text).to.match(/jwks\.keys\[0\]: kty must be "RSA", "EC" or "OKP"/);
      expect(text).to.match(/jwks\.keys\[1\] is not a valid RSA private key/);
      expect(text).to.match(/jwks\.keys\[2\]: RSA key of 1024 bits is too short/);
      expect(text).to.match(/jwks\.keys\[3\]: alg "RS256" does not fit this key/);
      expect(text).to.match(/jwks\.keys\[4\]: use must be "sig"/);
      expect(text).to.match(/duplicate kid values: same/);
      expect(text).to.match(/cookieKeys contains the same key twice/);
    });

    it('requires an RSA key for RS256, the default ID token algorithm', function () {
      const result = parseConfiguredKeys({ jwks: JSON.stringify({ keys: [ecJwk()] }), cookieKeys: cookieKey() });
      expect(result.keys).to.equal(undefined);
      expect(result.problems).to.deep.equal(['jwks needs an RSA signing key usable with RS256 (the default ID token algorithm)']);
    });

    it('rejects a JSON value that is not a key set, and an empty one', function () {
      expect(parseConfiguredKeys({ jwks: '[1,2]', cookieKeys: cookieKey() }).problems[0]).to.match(/must be a JSON Web Key Set/);
      expect(parseConfiguredKeys({ jwks: '{"keys":[]}', cookieKeys: cookieKey() }).problems).to.deep.equal(['jwks contains no keys']);
    });

    it('accepts the dev keys it generated (round trip through JSON)', async function () {
      const conn = await connectFreshDb('dev_keys_rt');
      try {
        const dev = await loadOrCreateDevKeys(conn);
        const result = parseConfiguredKeys({ jwks: JSON.stringify(dev.jwks), cookieKeys: dev.cookieKeys.join(',') });
        expect(result.problems).to.deep.equal([]);
        expect(result.keys).to.deep.equal(dev);
      } finally {
        await conn.close();
      }
    });
  });
});
