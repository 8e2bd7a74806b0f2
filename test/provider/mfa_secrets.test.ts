import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Connection } from 'mongoose';
import { loadConfig } from '../../src/config/index.ts';
import { DEV_SECRETS_COLLECTION, deriveMfaPeppers, resolveMfaSecrets } from '../../src/provider/mfa_secrets.ts';
import { createSecretBox } from '../../src/factors/index.ts';
import { connectFreshDb } from '../helpers/db.ts';

describe('MFA secrets (FACTOR_KEYS, MFA_PEPPER) at start-up', function () {
  let conn: Connection;

  beforeEach(async function () {
    conn = await connectFreshDb('mfa_secrets');
  });
  afterEach(async function () {
    await conn.dropDatabase().catch(() => undefined);
    await conn.close();
  });

  it('development without them: generated once and kept, so a restart opens what the first start sealed', async function () {
    const first = await resolveMfaSecrets(loadConfig({}), conn);
    expect(first.generated).to.deep.equal(['FACTOR_KEYS', 'MFA_PEPPER']);
    const sealed = createSecretBox(first.factorKeys).seal(Buffer.from('totp secret'), 'account-1');

    const restart = await resolveMfaSecrets(loadConfig({}), conn);
    expect(createSecretBox(restart.factorKeys).open(sealed, 'account-1').toString()).to.equal('totp secret');
    expect(restart.peppers.recoveryCodes.equals(first.peppers.recoveryCodes)).to.equal(true);
    expect(restart.peppers.emailCodes.equals(first.peppers.emailCodes)).to.equal(true);
    expect(await conn.db!.collection(DEV_SECRETS_COLLECTION).countDocuments()).to.equal(1);
  });

  it('concurrent first starts of several processes end with one set of secrets', async function () {
    const results = await Promise.all(Array.from({ length: 5 }, () => resolveMfaSecrets(loadConfig({}), conn)));
    const pepper = results[0]!.peppers.recoveryCodes;
    for (const result of results) expect(result.peppers.recoveryCodes.equals(pepper)).to.equal(true);
    expect(new Set(results.map((r) => r.factorKeys.keys[r.factorKeys.activeKeyId]!.toString('hex'))).size).to.equal(1);
    expect(await conn.db!.collection(DEV_SECRETS_COLLECTION).countDocuments()).to.equal(1);
  });

  it('configured values win; only the missing one is taken from dev_secrets', async function () {
    const key = randomBytes(32);
    const result = await resolveMfaSecrets(loadConfig({ FACTOR_KEYS: `mine:${key.toString('base64')}` }), conn);
    expect(result.generated).to.deep.equal(['MFA_PEPPER']);
    expect(result.factorKeys.activeKeyId).to.equal('mine');
    expect(result.factorKeys.keys.mine?.equals(key)).to.equal(true);
  });

  it('with both configured, nothing is generated or stored', async function () {
    const pepper = randomBytes(32);
    const config = loadConfig({ FACTOR_KEYS: `k1:${randomBytes(32).toString('base64')}`, MFA_PEPPER: pepper.toString('base64') });
    const result = await resolveMfaSecrets(config, conn);
    expect(result.generated).to.deep.equal([]);
    expect(result.peppers.emailCodes.equals(deriveMfaPeppers(pepper).emailCodes)).to.equal(true);
    expect(await conn.db!.collection(DEV_SECRETS_COLLECTION).countDocuments()).to.equal(0);
  });

  it('production never falls back to generated secrets', async function () {
    const config = { ...loadConfig({}), production: true };
    let error: unknown;
    await resolveMfaSecrets(config, conn).catch((err: unknown) => { error = err; });
    expect((error as { code?: string })?.code).to.equal('mfa_secrets_missing');
    expect(await conn.db!.collection(DEV_SECRETS_COLLECTION).countDocuments()).to.equal(0);
  });

  it('an unusable stored document is a clear start-up error, not silently replaced', async function () {
    await conn.db!.collection<{ _id: string }>(DEV_SECRETS_COLLECTION).insertOne({ _id: 'mfa', factorKeys: 'dev:short', mfaPepper: 'AAAA', createdAt: new Date() } as never);
    let error: unknown;
    await resolveMfaSecrets(loadConfig({}), conn).catch((err: unknown) => { error = err; });
    expect((error as { code?: string })?.code).to.equal('invalid_dev_secrets');
    expect((error as Error).message).to.include('delete the document to regenerate');
  });

  it('the pepper is split into one key per use: a recovery-code hash key never equals the email-code one', function () {
    const pepper = randomBytes(32);
    const a = deriveMfaPeppers(pepper);
    const b = deriveMfaPeppers(Buffer.from(pepper));
    expect(a.recoveryCodes.equals(b.recoveryCodes)).to.equal(true);
    expect(a.recoveryCodes.equals(a.emailCodes)).to.equal(false);
    expect(a.recoveryCodes.equals(pepper)).to.equal(false);
    expect(a.recoveryCodes).to.have.length(32);
    expect(() => deriveMfaPeppers(randomBytes(31))).to.throw(/at least 32 bytes/);
  });
});
