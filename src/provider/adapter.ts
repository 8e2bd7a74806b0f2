/**
 * oidc-provider's storage adapter on MongoDB: one native collection per model (`oidc_<model>s`), documents
 * `{ _id, payload, expiresAt?, grantId?, uid?, userCode? }`.
 *
 * Native collections (not mongoose models) because `_id` is oidc-provider's string id (a default schema
 * casts it to ObjectId) and mongoose's `minimize` would drop the empty objects oidc-provider stores.
 * The contract is oidc-provider's `lib/adapters/memory_adapter.js`.
 */
import type { Connection, mongo } from 'mongoose';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';

import { AppError, isDuplicateKeyError } from '../shared/errors.ts';

/** One stored entity of an oidc-provider model. */
export interface AdapterDocument {
  _id: string;
  payload: AdapterPayload;
  /** Absent for entities without a lifetime (clients); the TTL index removes the document after it. */
  expiresAt?: Date;
  /** Copied from the payload so `revokeByGrantId` is an indexed `deleteMany`. */
  grantId?: string;
  /** Session only: the session's stable uid (interactions refer to the session by it). */
  uid?: string;
  /** DeviceCode only: the code the user types (RFC 8628 §3.3). */
  userCode?: string;
}

/** Every model oidc-provider 9 persists through an adapter. */
export const ADAPTER_MODEL_NAMES = [
  'Session',
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'ClientCredentials',
  'Client',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'Interaction',
  'ReplayDetection',
  'PushedAuthorizationRequest',
  'Grant',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
] as const;

/** Models whose entities belong to a grant and are revoked with it (oidc-provider `helpers/revoke.js`). */
const GRANTABLE_MODELS: ReadonlySet<string> = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

const MODEL_NAME = /^[A-Z][A-Za-z0-9]*$/;

/**
 * The collection of a model: `oidc_` + snake_case plural (`AuthorizationCode` → `oidc_authorization_codes`,
 * `ClientCredentials` → `oidc_client_credentials`).
 */
export function collectionNameFor(modelName: string): string {
  if (!MODEL_NAME.test(modelName)) {
    throw new AppError('invalid_model_name', `not an oidc-provider model name: ${JSON.stringify(modelName)}`);
  }
  const snake = modelName.replace(/(?<=[a-z0-9])([A-Z])/g, '_$1').toLowerCase();
  return `oidc_${snake.endsWith('s') ? snake : `${snake}s`}`;
}

function nativeCollection(conn: Connection, modelName: string): mongo.Collection<AdapterDocument> {
  const db = conn.db;
  if (!db) {
    throw new AppError('store_not_connected', 'the MongoDB connection is not open yet (connect before serving requests)');
  }
  return db.collection<AdapterDocument>(collectionNameFor(modelName));
}

function isLive(doc: AdapterDocument | null, nowMs: number): doc is AdapterDocument {
  // The TTL sweeper runs about once a minute on mongod: an expired document may still be there.
  return doc !== null && (doc.expiresAt === undefined || doc.expiresAt === null || doc.expiresAt.getTime() > nowMs);
}

function epochSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** The error a caller gets when it loses a `consume` race (or consumes what is gone). */
function alreadyConsumed(modelName: string): Error {
  if (modelName === 'PushedAuthorizationRequest') {
    return new errors.InvalidRequestUri('request_uri is invalid, expired, or was already used');
  }
  return new errors.InvalidGrant(`${modelName} already consumed or not found`);
}

/**
 * The adapter for one model on one connection. oidc-provider creates one per model through
 * {@link createMongoAdapter}; tests and tools may construct it directly.
 */
export class MongoAdapter implements Adapter {
  readonly #conn: Connection;
  readonly modelName: string;
  #collection: mongo.Collection<AdapterDocument> | undefined;

  constructor(conn: Connection, modelName: string) {
    collectionNameFor(modelName); // validates the name early
    this.#conn = conn;
    this.modelName = modelName;
  }

  get collection(): mongo.Collection<AdapterDocument> {
    this.#collection ??= nativeCollection(this.#conn, this.modelName);
    return this.#collection;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const doc: AdapterDocument = { _id: id, payload };
    if (typeof expiresIn === 'number' && Number.isFinite(expiresIn)) {
      doc.expiresAt = new Date(Date.now() + expiresIn * 1000);
    }
    if (typeof payload.grantId === 'string') doc.grantId = payload.grantId;
    if (this.modelName === 'Session' && typeof payload.uid === 'string') doc.uid = payload.uid;
    if (typeof payload.userCode === 'string') doc.userCode = payload.userCode;
    // A replacement, so a re-upsert without a lifetime or grant drops the old ones.
    try {
      await this.collection.replaceOne({ _id: id }, doc, { upsert: true });
    } catch (err) {
      if (!(doc.uid !== undefined && isDuplicateKeyError(err))) throw err;
      // Two requests rotated the same session's id at once (oidc-provider destroys the old id, then saves the
      // new one): the latest save wins, as with oidc-provider's memory adapter, instead of failing the request.
      await this.collection.deleteMany({ uid: doc.uid, _id: { $ne: id } });
      await this.collection.replaceOne({ _id: id }, doc, { upsert: true });
    }
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.#findOne({ _id: id });
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#findOne({ uid });
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#findOne({ userCode });
  }

  /**
   * Marks the entity consumed (epoch seconds) only if nobody did before: of parallel callers exactly one
   * succeeds, the others get `invalid_grant` (`invalid_request_uri` for pushed requests), so a code or a
   * rotated refresh token cannot be redeemed twice by racing requests (RFC 6749 §4.1.2, §10.4).
   */
  async consume(id: string): Promise<void> {
    const result = await this.collection.updateOne(
      { _id: id, 'payload.consumed': { $exists: false } },
      { $set: { 'payload.consumed': epochSeconds() } },
    );
    if (result.modifiedCount !== 1) throw alreadyConsumed(this.modelName);
  }

  async destroy(id: string): Promise<void> {
    await this.collection.deleteOne({ _id: id });
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.collection.deleteMany({ grantId });
  }

  async #findOne(filter: mongo.Filter<AdapterDocument>): Promise<AdapterPayload | undefined> {
    const doc = await this.collection.findOne(filter);
    return isLive(doc, Date.now()) ? doc.payload : undefined;
  }
}

/** A class oidc-provider instantiates per model name: `new Provider(issuer, { adapter: createMongoAdapter(conn) })`. */
export function createMongoAdapter(conn: Connection): new (modelName: string) => Adapter {
  return class BoundMongoAdapter extends MongoAdapter {
    constructor(modelName: string) {
      super(conn, modelName);
    }
  };
}

/** The indexes each model's collection needs. */
export function adapterIndexesFor(modelName: string): mongo.IndexDescription[] {
  const indexes: mongo.IndexDescription[] = [{ key: { expiresAt: 1 }, name: 'expiresAt_ttl', expireAfterSeconds: 0 }];
  if (GRANTABLE_MODELS.has(modelName)) indexes.push({ key: { grantId: 1 }, name: 'grantId' });
  if (modelName === 'Session') indexes.push({ key: { uid: 1 }, name: 'uid_unique', unique: true });
  if (modelName === 'DeviceCode') indexes.push({ key: { userCode: 1 }, name: 'userCode_unique', unique: true });
  return indexes;
}

/** Creates the collections' indexes (TTL on expiresAt, grantId, uid, userCode); idempotent; call once at start-up. */
export async function ensureAdapterIndexes(conn: Connection): Promise<void> {
  await Promise.all(
    ADAPTER_MODEL_NAMES.map((modelName) =>
      nativeCollection(conn, modelName).createIndexes(adapterIndexesFor(modelName)),
    ),
  );
}
