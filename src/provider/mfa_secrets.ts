/**
 * The second factors' secrets, resolved at start-up by the composition root (`loadConfig` stays pure):
 *
 * - `FACTOR_KEYS` (AES-256-GCM key ring sealing TOTP secrets) and `MFA_PEPPER` (HMAC key of stored recovery and
 *   email codes) come from configuration — always in production, where `loadConfig` refuses to start without them;
 * - outside production, a missing one is generated once and kept in the `dev_secrets` collection (like the provider's
 *   `dev_keys`), so a dev restart keeps TOTP enrolments readable and recovery codes valid. Concurrent first starts
 *   end with ONE document: the fixed `_id` lets only the first insert win; the others read it.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import { generateKey } from '../factors/shared/secret_box.ts';
import { formatKeyRing, parseKeyRing, type KeyRing } from '../config/key_ring.ts';
import { AppError, isDuplicateKeyError } from '../shared/errors.ts';
import { MIN_MFA_PEPPER_BYTES, parseMfaPepper, type Config } from '../config/load_config.ts';

/** Collection of the generated development secrets. */
export const DEV_SECRETS_COLLECTION = 'dev_secrets';
const DEV_SECRETS_ID = 'mfa';
/** Key id of a generated development factor key. */
const DEV_FACTOR_KEY_ID = 'dev';

/** The keyed-hash keys derived from `MFA_PEPPER`, one per use (a hash of one kind never verifies as another). */
export interface MfaPeppers {
  /** HMAC key of stored recovery codes (`factors/recovery`). */
  readonly recoveryCodes: Buffer;
  /** HMAC key of stored email codes (`factors/email`). */
  readonly emailCodes: Buffer;
}

/** What the factor registry needs, with the names of the settings that were generated (development only). */
export interface MfaSecrets {
  readonly factorKeys: KeyRing;
  readonly peppers: MfaPeppers;
  /** `FACTOR_KEYS` and/or `MFA_PEPPER` when taken from `dev_secrets` instead of configuration; empty otherwise. */
  readonly generated: readonly ('FACTOR_KEYS' | 'MFA_PEPPER')[];
}

interface DevSecretsDocument {
  _id: string;
  /** `formatKeyRing` text. */
  factorKeys: string;
  /** base64, {@link MIN_MFA_PEPPER_BYTES} bytes. */
  mfaPepper: string;
  createdAt: Date;
}

const HKDF_INFO = {
  recoveryCodes: 'oidc-stepup recovery-code hash v1',
  emailCodes: 'oidc-stepup email-code hash v1',
} as const;

/**
 * Derives one 32-byte key per use from the pepper (HKDF-SHA256, RFC 5869, no salt: the pepper is already uniformly
 * random). Deterministic: every instance of a deployment derives the same keys from the same `MFA_PEPPER`.
 */
export function deriveMfaPeppers(pepper: Buffer): MfaPeppers {
  if (!Buffer.isBuffer(pepper) || pepper.length < MIN_MFA_PEPPER_BYTES) {
    throw new Error(`the MFA pepper must be at least ${MIN_MFA_PEPPER_BYTES} bytes`);
  }
  const derive = (info: string): Buffer => Buffer.from(hkdfSync('sha256', pepper, Buffer.alloc(0), info, 32));
  return Object.freeze({ recoveryCodes: derive(HKDF_INFO.recoveryCodes), emailCodes: derive(HKDF_INFO.emailCodes) });
}

function checkStored(doc: DevSecretsDocument): { factorKeys: KeyRing; mfaPepper: Buffer } {
  const ring = parseKeyRing(String(doc.factorKeys));
  const pepper = parseMfaPepper(String(doc.mfaPepper));
  if (!ring.ring || !pepper.pepper) {
    const problems = [...ring.problems, ...(pepper.problem ? [`mfaPepper ${pepper.problem}`] : [])];
    throw new AppError(
      'invalid_dev_secrets',
      `the development secrets stored in "${DEV_SECRETS_COLLECTION}" are unusable (delete the document to regenerate; `
        + `existing TOTP enrolments and recovery codes then stop working): ${problems.join('; ')}`,
    );
  }
  return { factorKeys: ring.ring, mfaPepper: pepper.pepper };
}

/** Development only: the stored secrets, created on the first start. */
async function loadOrCreateDevSecrets(conn: Connection): Promise<{ factorKeys: KeyRing; mfaPepper: Buffer }> {
  const db = conn.db;
  if (!db) throw new AppError('store_not_connected', 'the MongoDB connection is not open yet');
  const collection = db.collection<DevSecretsDocument>(DEV_SECRETS_COLLECTION);
  const existing = await collection.findOne({ _id: DEV_SECRETS_ID });
  if (existing) return checkStored(existing);

  const created: DevSecretsDocument = {
    _id: DEV_SECRETS_ID,
    factorKeys: formatKeyRing({ activeKeyId: DEV_FACTOR_KEY_ID, keys: { [DEV_FACTOR_KEY_ID]: generateKey() } }),
    mfaPepper: randomBytes(MIN_MFA_PEPPER_BYTES).toString('base64'),
    createdAt: new Date(),
  };
  try {
    await collection.insertOne(created);
    return checkStored(created);
  } catch (err) {
    if (!isDuplicateKeyError(err)) throw err;
  }
  const winner = await collection.findOne({ _id: DEV_SECRETS_ID });
  if (!winner) throw new AppError('dev_secrets_vanished', 'the development secrets were deleted while being created');
  return checkStored(winner);
}

/**
 * The factor key ring and the derived peppers: configured values first; outside production, the missing ones from
 * `dev_secrets` (created on first use). The caller warns loudly when {@link MfaSecrets.generated} is not empty.
 */
export async function resolveMfaSecrets(config: Pick<Config, 'production' | 'factorKeys' | 'mfaPepper'>, conn: Connection): Promise<MfaSecrets> {
  let { factorKeys, mfaPepper } = config;
  const generated: ('FACTOR_KEYS' | 'MFA_PEPPER')[] = [];
  if (!factorKeys || !mfaPepper) {
    if (config.production) {
      // loadConfig refuses this; a hand-built Config must not fall back to development secrets either
      throw new AppError('mfa_secrets_missing', 'FACTOR_KEYS and MFA_PEPPER are required when NODE_ENV=production');
    }
    const dev = await loadOrCreateDevSecrets(conn);
    if (!factorKeys) {
      factorKeys = dev.factorKeys;
      generated.push('FACTOR_KEYS');
    }
    if (!mfaPepper) {
      mfaPepper = dev.mfaPepper;
      generated.push('MFA_PEPPER');
    }
  }
  return Object.freeze({ factorKeys, peppers: deriveMfaPeppers(mfaPepper), generated: Object.freeze(generated) });
}
