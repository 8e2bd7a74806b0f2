/**
 * Encryption at rest for factor secrets (TOTP keys): AES-256-GCM under a key ring, so keys can rotate. New records
 * use the active key; records sealed under an older key still open as long as that key stays in the ring.
 *
 * A sealed record names its key id, carries a fresh random 96-bit IV (NIST SP 800-38D §8.2.2: never reuse an IV
 * under one key; 96 random bits are safe for far more records than we will ever write) and the 128-bit tag.
 * Optional associated data binds a record to its context (e.g. the account id), so a record copied onto another
 * account's document fails to open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KEY_BYTES, keyRingProblems, type KeyRing } from '../../config/key_ring.ts';
import { AppError } from '../../shared/errors.ts';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** An encrypted record, as stored in MongoDB (base64 strings, version 1). */
export interface SealedSecret {
  readonly v: 1;
  /** The id of the key that sealed it. */
  readonly kid: string;
  /** 12-byte IV, base64. */
  readonly iv: string;
  /** 16-byte GCM tag, base64. */
  readonly tag: string;
  /** Ciphertext, base64. */
  readonly ct: string;
}

/** Seals and opens secrets with a key ring. */
export interface SecretBox {
  /** The id new records are sealed with. */
  readonly activeKeyId: string;
  /** Encrypts `plaintext` under the active key; `aad` (if any) must be given again to open. */
  seal(plaintext: Buffer, aad?: string): SealedSecret;
  /**
   * Decrypts a record. Throws an `AppError` `secret_key_unknown` when its key id is not in the ring (a config
   * error: a retired key was removed too early) and `secret_undecryptable` when it was tampered with or the `aad`
   * differs.
   */
  open(sealed: SealedSecret, aad?: string): Buffer;
  /** Whether a record was sealed with a key other than the active one (re-seal it to finish a rotation). */
  needsRotation(sealed: SealedSecret): boolean;
}

/** A fresh random 32-byte key. The config layer uses it for a development key (with a loud warning). */
export function generateKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** Builds a secret box over a key ring; throws listing every problem with the ring. */
export function createSecretBox(ring: KeyRing): SecretBox {
  const problems = keyRingProblems(ring);
  if (problems.length > 0) throw new Error(`invalid secret key ring: ${problems.join('; ')}`);
  const keys = new Map(Object.entries(ring.keys).map(([id, key]) => [id, Buffer.from(key)]));
  const activeKeyId = ring.activeKeyId;

  function keyFor(kid: unknown): Buffer {
    const key = typeof kid === 'string' ? keys.get(kid) : undefined;
    if (!key) {
      throw new AppError('secret_key_unknown', `no key with id "${String(kid)}" in the secret key ring`, { status: 500 });
    }
    return key;
  }

  return Object.freeze({
    activeKeyId,
    seal(plaintext: Buffer, aad?: string): SealedSecret {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALGORITHM, keyFor(activeKeyId), iv, { authTagLength: TAG_BYTES });
      if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return {
        v: 1,
        kid: activeKeyId,
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
        ct: ct.toString('base64'),
      };
    },
    open(sealed: SealedSecret, aad?: string): Buffer {
      const key = keyFor(sealed.kid);
      const iv = Buffer.from(String(sealed.iv), 'base64');
      const tag = Buffer.from(String(sealed.tag), 'base64');
      if (sealed.v !== 1 || iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
        throw new AppError('secret_undecryptable', 'the sealed secret is malformed', { status: 500 });
      }
      try {
        const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
        if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(Buffer.from(String(sealed.ct), 'base64')), decipher.final()]);
      } catch (cause) {
        throw new AppError('secret_undecryptable', 'the sealed secret failed authentication', { status: 500, cause });
      }
    },
    needsRotation(sealed: SealedSecret): boolean {
      return sealed.kid !== activeKeyId;
    },
  });
}
