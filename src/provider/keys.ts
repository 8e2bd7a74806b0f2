/**
 * The provider's signing keys (JWKS) and cookie-signing keys: generated once and kept in the database in development
 * (in production they come from the settings, parsed by `src/config/provider_keys.ts`).
 */
import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { JWK } from 'jose';
import type { Connection } from 'mongoose';

import {
  MIN_RSA_MODULUS_BITS, checkCookieKeys, checkJwks, thumbprint, type ProviderKeys,
} from '../config/provider_keys.ts';
import { AppError, isDuplicateKeyError } from '../shared/errors.ts';

export type { ProviderKeys } from '../config/provider_keys.ts';

export const DEV_KEYS_COLLECTION = 'dev_keys';
const DEV_KEYS_ID = 'provider';

const generateKeyPairAsync = promisify(generateKeyPair);

async function generateSigningKey(kind: 'RS256' | 'ES256'): Promise<JWK> {
  const { privateKey } =
    kind === 'RS256'
      ? await generateKeyPairAsync('rsa', { modulusLength: MIN_RSA_MODULUS_BITS })
      : await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  return { ...jwk, kid: thumbprint(jwk), use: 'sig', alg: kind };
}

function generateCookieKey(): string {
  return randomBytes(32).toString('base64url');
}

/** A fresh key set: RS256 and ES256 signing keys (private JWKs with kid) and two random cookie keys. */
export async function generateProviderKeys(): Promise<ProviderKeys> {
  return {
    jwks: { keys: await Promise.all([generateSigningKey('RS256'), generateSigningKey('ES256')]) },
    cookieKeys: [generateCookieKey(), generateCookieKey()],
  };
}

interface DevKeysDocument {
  _id: string;
  jwks: { keys: JWK[] };
  cookieKeys: string[];
  createdAt: Date;
}

function checkStored(doc: DevKeysDocument): ProviderKeys {
  const jwks = checkJwks(doc.jwks);
  const cookies = checkCookieKeys(doc.cookieKeys);
  const problems = [...jwks.problems, ...cookies.problems];
  if (!jwks.jwks || !cookies.cookieKeys) {
    throw new AppError(
      'invalid_dev_keys',
      `the development keys stored in "${DEV_KEYS_COLLECTION}" are unusable (delete the document to regenerate): ${problems.join('; ')}`,
    );
  }
  return { jwks: jwks.jwks, cookieKeys: cookies.cookieKeys };
}

/**
 * The development keys a server stored, read only (the CLI must never create keys nobody uses); `undefined` when no
 * dev server has run on this database.
 */
export async function loadDevKeys(conn: Connection): Promise<ProviderKeys | undefined> {
  const db = conn.db;
  if (!db) throw new AppError('store_not_connected', 'the MongoDB connection is not open yet');
  const existing = await db.collection<DevKeysDocument>(DEV_KEYS_COLLECTION).findOne({ _id: DEV_KEYS_ID });
  return existing ? checkStored(existing) : undefined;
}

/**
 * Development only: keys generated once (RS256 + ES256 signing keys as private JWKs with kid, 2+ random cookie
 * keys) and kept in the `dev_keys` collection, so a restart does not log everyone out. Concurrent first starts of
 * two processes end with ONE key set: the fixed `_id` lets only the first insert win; the others read it.
 */
export async function loadOrCreateDevKeys(conn: Connection): Promise<ProviderKeys> {
  const db = conn.db;
  if (!db) throw new AppError('store_not_connected', 'the MongoDB connection is not open yet');
  const collection = db.collection<DevKeysDocument>(DEV_KEYS_COLLECTION);

  const existing = await collection.findOne({ _id: DEV_KEYS_ID });
  if (existing) return checkStored(existing);

  const created: DevKeysDocument = { _id: DEV_KEYS_ID, ...(await generateProviderKeys()), createdAt: new Date() };
  try {
    await collection.insertOne(created);
    return { jwks: created.jwks, cookieKeys: created.cookieKeys };
  } catch (err) {
    if (!isDuplicateKeyError(err)) throw err;
  }
  const winner = await collection.findOne({ _id: DEV_KEYS_ID });
  if (!winner) throw new AppError('dev_keys_vanished', 'the development keys were deleted while being created');
  return checkStored(winner);
}
