import { expect } from 'chai';
import { AppError } from '../../src/shared/errors.ts';
import { createSecretBox, generateKey, type SealedSecret } from '../../src/factors/shared/secret_box.ts';
import { formatKeyRing, parseKeyRing } from '../../src/config/key_ring.ts';

const plaintext = Buffer.from('12345678901234567890');

function flipFirstByte(base64: string): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[0] = (bytes[0] as number) ^ 0x01;
  return bytes.toString('base64');
}

describe('secret box (AES-256-GCM at rest)', () => {
  const k1 = generateKey();
  const k2 = generateKey();

  it('opens what it sealed, with a 12-byte IV, a 16-byte tag and the key id recorded', () => {
    const box = createSecretBox({ activeKeyId: 'k1', keys: { k1 } });
    const sealed = box.seal(plaintext);
    expect(sealed.kid).to.equal('k1');
    expect(Buffer.from(sealed.iv, 'base64')).to.have.length(12);
    expect(Buffer.from(sealed.tag, 'base64')).to.have.length(16);
    expect(Buffer.from(sealed.ct, 'base64').equals(plaintext)).to.equal(false);
    expect(box.open(sealed).equals(plaintext)).to.equal(true);
  });

  it('uses a fresh IV for every record', () => {
    const box = createSecretBox({ activeKeyId: 'k1', keys: { k1 } });
    expect(box.seal(plaintext).iv).to.not.equal(box.seal(plaintext).iv);
  });

  for (const field of ['ct', 'tag', 'iv'] as const) {
    it(`refuses a record whose ${field} was tampered with`, () => {
      const box = createSecretBox({ activeKeyId: 'k1', keys: { k1 } });
      const sealed = box.seal(plaintext);
      const tampered: SealedSecret = { ...sealed, [field]: flipFirstByte(sealed[field]) };
      expect(() => box.open(tampered)).to.throw(AppError).with.property('code', 'secret_undecryptable');
    });
  }

  it('refuses a record opened with different associated data (moved to another account)', () => {
    const box = createSecretBox({ activeKeyId: 'k1', keys: { k1 } });
    const sealed = box.seal(plaintext, 'totp:alice:e1');
    expect(box.open(sealed, 'totp:alice:e1').equals(plaintext)).to.equal(true);
    expect(() => box.open(sealed, 'totp:mallory:e1')).to.throw(AppError).with.property('code', 'secret_undecryptable');
  });

  it('keeps opening old records after a rotation while sealing new ones with the new key', () => {
    const before = createSecretBox({ activeKeyId: 'k1', keys: { k1 } });
    const old = before.seal(plaintext);
    const after = createSecretBox({ activeKeyId: 'k2', keys: { k2, k1 } });
    expect(after.open(old).equals(plaintext)).to.equal(true);
    expect(after.needsRotation(old)).to.equal(true);
    const fresh = after.seal(plaintext);
    expect(fresh.kid).to.equal('k2');
    expect(after.needsRotation(fresh)).to.equal(false);
  });

  it('fails clearly on a record sealed under a key id the ring does not hold', () => {
    const old = createSecretBox({ activeKeyId: 'k1', keys: { k1 } }).seal(plaintext);
    const box = createSecretBox({ activeKeyId: 'k2', keys: { k2 } });
    expect(() => box.open(old)).to.throw(AppError, /no key with id "k1"/).with.property('code', 'secret_key_unknown');
  });

  it('refuses a key ring with a short key or a missing active key', () => {
    expect(() => createSecretBox({ activeKeyId: 'k1', keys: { k1: Buffer.alloc(16) } })).to.throw(/32 bytes/);
    expect(() => createSecretBox({ activeKeyId: 'k9', keys: { k1 } })).to.throw(/"k9" is not in the ring/);
  });

  it('parses "id:base64,id:base64" with the first entry active', () => {
    const spec = `k2:${k2.toString('base64')}, k1:${k1.toString('base64url')}`;
    const { ring, problems } = parseKeyRing(spec);
    expect(problems).to.deep.equal([]);
    expect(ring?.activeKeyId).to.equal('k2');
    expect(ring?.keys.k1?.equals(k1)).to.equal(true);
    expect(ring?.keys.k2?.equals(k2)).to.equal(true);
    expect(parseKeyRing(formatKeyRing(ring!)).ring?.activeKeyId).to.equal('k2');
  });

  it('lists every problem of a bad key ring string instead of throwing', () => {
    const result = parseKeyRing(`k1:${Buffer.alloc(8).toString('base64')},nocolon,bad id:${k1.toString('base64')},k1:${k2.toString('base64')}`);
    expect(result.ring).to.equal(undefined);
    expect(result.problems).to.have.length(4);
    expect(result.problems.join('\n')).to.match(/must decode to 32 bytes/).and.match(/not "id:base64key"/)
      .and.match(/key id "bad id"/).and.match(/appears twice/);
    expect(parseKeyRing('').problems).to.have.length(1);
  });
});
