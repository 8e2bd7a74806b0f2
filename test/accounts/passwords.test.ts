import * as argon2 from '@node-rs/argon2';
import { expect } from 'chai';
import {
  DEFAULT_PASSWORD_PARAMS,
  hashPassword,
  needsRehash,
  passwordInternals,
  verifyPassword,
  type PasswordParams,
  type ScryptParams,
} from '../../src/accounts/passwords.ts';

/** Cheap parameters for tests that do not care about the work factor. */
const FAST: ScryptParams = { N: 2 ** 10, r: 8, p: 1, keyLength: 32 };

describe('passwords (Argon2id; scrypt hashes still verify)', function () {
  it('a hashed password verifies, and a wrong one does not', async function () {
    const stored = await hashPassword('correct horse battery staple', FAST);
    expect(await verifyPassword('correct horse battery staple', stored)).to.equal(true);
    expect(await verifyPassword('correct horse battery stapl', stored)).to.equal(false);
    expect(await verifyPassword('', stored)).to.equal(false);
  });

  it('the default is Argon2id at m=19 MiB, t=2, p=1 (OWASP), written as a PHC string other Argon2 libraries verify', async function () {
    const stored = await hashPassword('s3cret-password');
    expect(stored).to.match(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await verifyPassword('s3cret-password', stored)).to.equal(true);
    expect(await verifyPassword('s3cret-passwore', stored)).to.equal(false);
    expect(await argon2.verify(stored, 's3cret-password')).to.equal(true);
  });

  it('a hash made by another Argon2id implementation verifies', async function () {
    const stored = await argon2.hash('from elsewhere', { algorithm: 2, memoryCost: 8192, timeCost: 1, parallelism: 1 });
    expect(await verifyPassword('from elsewhere', stored)).to.equal(true);
    expect(needsRehash(stored)).to.equal(true);
  });

  it('a scrypt hash of earlier releases verifies and needs a rehash to Argon2id', async function () {
    const stored = await hashPassword('older password', { N: 2 ** 15, r: 8, p: 1, keyLength: 32 });
    expect(stored.startsWith('scrypt$N=32768,r=8,p=1$')).to.equal(true);
    expect(await verifyPassword('older password', stored)).to.equal(true);
    expect(needsRehash(stored)).to.equal(true);
  });

  it('two hashes of one password differ (random salt)', async function () {
    const a = await hashPassword('same password', FAST);
    const b = await hashPassword('same password', FAST);
    expect(a).to.not.equal(b);
  });

  it('Unicode input is normalised, so composed and decomposed forms match (NIST 800-63B §5.1.1.2)', async function () {
    const stored = await hashPassword('P\u00e4sswort!', FAST);
    expect(await verifyPassword('Pa\u0308sswort!', stored)).to.equal(true);
  });

  it('encodes its parameters and needs a rehash when they are raised', async function () {
    const stored = await hashPassword('password1', FAST);
    expect(stored.startsWith('scrypt$N=1024,r=8,p=1$')).to.equal(true);
    expect(needsRehash(stored, FAST)).to.equal(false);
    expect(needsRehash(stored, { ...FAST, N: 2 ** 11 })).to.equal(true);
    expect(needsRehash(stored, { ...FAST, keyLength: 64 })).to.equal(true);
    expect(needsRehash(stored)).to.equal(true);
    // a hash made with other parameters still verifies: parameters come from the stored string
    expect(await verifyPassword('password1', stored)).to.equal(true);
  });

  it('a hash with the default parameters does not need a rehash', async function () {
    const stored = await hashPassword('password1');
    expect(needsRehash(stored)).to.equal(false);
    expect(needsRehash(stored, DEFAULT_PASSWORD_PARAMS)).to.equal(false);
  });

  it('malformed stored strings verify as false and never throw', async function () {
    this.timeout(60_000); // each one costs a default-parameter hash (the dummy path)
    const good = await hashPassword('password1', FAST);
    const [, params, salt, hash] = good.split('$') as [string, string, string, string];
    const malformed = [
      '',
      'plaintext-password',
      'bcrypt$2b$10$abcdefghijklmnopqrstuv',
      `scrypt$${params}$${salt}`,
      `scrypt$N=1000,r=8,p=1$${salt}$${hash}`, // N not a power of two
      `scrypt$N=1073741824,r=8,p=1$${salt}$${hash}`, // would need 1 TiB
      `scrypt$N=1024,r=8$${salt}$${hash}`,
      `scrypt$N=1024,r=8,p=1,p=2$${salt}$${hash}`,
      `scrypt$N=1024,r=8,p=1$not base64!$${hash}`,
      `scrypt$N=1024,r=8,p=1$${salt}$AAAA`, // key too short
      `${good}$extra`,
      '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$', // no hash
      '$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', // another version
      '$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', // would need 4 GiB
      '$argon2id$v=19$m=19456,t=1000,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', // 1000 passes
      '$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', // not argon2id
    ];
    for (const stored of malformed) {
      expect(await verifyPassword('password1', stored), stored).to.equal(false);
      expect(needsRehash(stored), stored).to.equal(true);
    }
  });

  it('a tampered hash does not verify', async function () {
    const good = await hashPassword('password1', FAST);
    const parts = good.split('$');
    const hash = Buffer.from(parts[3] as string, 'base64');
    hash[0] = (hash[0] as number) ^ 1;
    parts[3] = hash.toString('base64');
    expect(await verifyPassword('password1', parts.join('$'))).to.equal(false);
  });

  it('rejects invalid parameters when hashing', async function () {
    let error: unknown;
    try {
      await hashPassword('password1', { N: 1000, r: 8, p: 1, keyLength: 32 });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(TypeError);
  });

  describe('unknown account (no enumeration by timing)', function () {
    const original = passwordInternals.derive;
    const calls: PasswordParams[] = [];
    beforeEach(function () {
      calls.length = 0;
      passwordInternals.derive = async (plain, salt, params) => {
        calls.push(params);
        return original(plain, salt, params);
      };
    });
    afterEach(function () {
      passwordInternals.derive = original;
    });

    it('an undefined stored hash runs the default hash once, then answers false', async function () {
      expect(await verifyPassword('anything', undefined)).to.equal(false);
      expect(calls).to.deep.equal([DEFAULT_PASSWORD_PARAMS]);
    });

    it('a malformed stored hash does the same work as an unknown account', async function () {
      expect(await verifyPassword('anything', 'garbage')).to.equal(false);
      expect(calls).to.deep.equal([DEFAULT_PASSWORD_PARAMS]);
    });

    it('a real default hash costs one run with the same parameters as the dummy path', async function () {
      const stored = await hashPassword('anything');
      calls.length = 0;
      expect(await verifyPassword('anything', stored)).to.equal(true);
      expect(calls).to.deep.equal([DEFAULT_PASSWORD_PARAMS]);
    });
  });
});
