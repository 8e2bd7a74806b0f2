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

import { AppError } from '../shared/errors.ts';
import { forgetReads, readBefore, readById, rememberRead } from '../store/request_reads.ts';

/** One stored entity of an oidc-provider model. */
export interface AdapterDocument {
  _id: string;
  payload: AdapterPayload;
  /** Absent for entities without a lifetime (clients); the TTL index removes the document after it. */
  expiresAt?: Date;
  /** Copied from the payload so `revokeByGrantId` is an indexed `deleteMany`. */
  grantId?: string;
  /** Session only: the session's stable uid (interactions refer to the session by it); not unique, see `upsert`. */
  uid?: string;
  /** When this document was last written: `findByUid` answers with the most recent session of a uid. */
  updatedAt?: Date;
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

/** Models whose entities belong to a grant and are revoked with it (oidc-provider `helpers/revoke.js`; the Grant itself is destroyed by id). */
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

/** The name of the Session uid index before 2026-11 (unique; see `upsert`); dropped by {@link ensureAdapterIndexes}. */
const LEGACY_SESSION_UID_INDEX = 'uid_unique';

/** Options of the adapter; all optional. */
export interface MongoAdapterOptions {
  /**
   * oidc-provider's `clockTolerance`, in seconds (default 0). Like oidc-provider's memory adapter, an entity is then
   * kept (and found) for `expiresIn + clockTolerance` seconds, so a token oidc-provider still accepts within its
   * tolerance is not missing from the store. Set it to the same value as the provider's `clockTolerance`.
   */
  clockToleranceSeconds?: number;
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
  readonly #clockToleranceSeconds: number;
  #collection: mongo.Collection<AdapterDocument> | undefined;

  constructor(conn: Connection, modelName: string, options: MongoAdapterOptions = {}) {
    collectionNameFor(modelName); // validates the name early
    const tolerance = options.clockToleranceSeconds ?? 0;
    if (!Number.isFinite(tolerance) || tolerance < 0) {
      throw new AppError('invalid_clock_tolerance', `clockToleranceSeconds must be a number ≥ 0 (got ${String(tolerance)})`);
    }
    this.#conn = conn;
    this.modelName = modelName;
    this.#clockToleranceSeconds = tolerance;
  }

  get collection(): mongo.Collection<AdapterDocument> {
    this.#collection ??= nativeCollection(this.#conn, this.modelName);
    return this.#collection;
  }

  /**
   * Stores (replaces) the entity. Sessions: oidc-provider rotates a session's id on login but keeps its `uid`, and a
   * slow request still holding the old id may save it again after the rotation. So the uid is **not** unique and
   * no other document is ever deleted here (deleting "the other session of this uid" would delete the fresh,
   * logged-in one); `findByUid` answers with the most recently written, as oidc-provider's memory adapter (which
   * only moves its uid pointer) does.
   */
  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const now = Date.now();
    const doc: AdapterDocument = { _id: id, payload };
    if (typeof expiresIn === 'number' && Number.isFinite(expiresIn)) {
      doc.expiresAt = new Date(now + (expiresIn + this.#clockToleranceSeconds) * 1000);
    }
    if (typeof payload.grantId === 'string') doc.grantId = payload.grantId;
    if (this.modelName === 'Session' && typeof payload.uid === 'string') {
      doc.uid = payload.uid;
      doc.updatedAt = new Date(now);
    }
    if (typeof payload.userCode === 'string') doc.userCode = payload.userCode;
    // A replacement, so a re-upsert without a lifetime or grant drops the old ones.
    await this.collection.replaceOne({ _id: id }, doc, { upsert: true });
    this.#remember(id, doc);
    if (doc.uid !== undefined) rememberRead(this.#db, this.collection.collectionName, doc.uid, doc, 'uid');
  }

  /**
   * The entity, read once per request (`src/store/request_reads.ts`: a second read in the same request, or one the
   * request's first read fetched along, costs no command). Clients too: nothing is kept between requests, so a client
   * changed or removed (the CLI, another instance) counts from the next request on, on every instance.
   */
  async find(id: string): Promise<AdapterPayload | undefined> {
    const doc = await readById<AdapterDocument>(this.#db, this.collection.collectionName, id);
    return isLive(doc, Date.now()) ? doc.payload : undefined;
  }

  /** The most recently written live session of `uid` (several documents may share it, see {@link upsert}). */
  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const name = this.collection.collectionName;
    let doc = readBefore(this.#db, name, uid, 'uid') as AdapterDocument | null | undefined;
    if (doc === undefined) {
      [doc = null] = await this.collection.find({ uid }).sort({ updatedAt: -1 }).limit(1).toArray();
      rememberRead(this.#db, name, uid, doc, 'uid');
    }
    return isLive(doc, Date.now()) ? doc.payload : undefined;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#findOne({ userCode });
  }

  /**
   * Marks the entity consumed (epoch seconds) only if nobody did before: of parallel callers exactly one
   * succeeds, the others get `invalid_grant` (`invalid_request_uri` for pushed requests), so a code or a
   * rotated refresh token cannot be redeemed twice by racing requests (RFC 6749 §4.1.2, §10.4).
   *
   * A lost race is a replay like a sequential one, which oidc-provider answers by revoking the grant
   * (`helpers/grant_source.js`): RFC 6749 §4.1.2 says the server SHOULD then revoke every token issued from the
   * code. So the loser revokes the document's grant (its tokens and the Grant itself) before it throws; the
   * winner's tokens, saved before or after, are dead with the Grant (introspection and userinfo look it up).
   */
  async consume(id: string): Promise<void> {
    const result = await this.collection.updateOne(
      { _id: id, 'payload.consumed': { $exists: false } },
      { $set: { 'payload.consumed': epochSeconds() } },
    );
    // What this request read of it is outdated now.
    forgetReads(this.#db, this.collection.collectionName);
    if (result.modifiedCount === 1) return;
    const existing = await this.collection.findOne({ _id: id }, { projection: { grantId: 1 } });
    if (existing?.grantId !== undefined && existing.grantId !== null) {
      await revokeGrantEverywhere(this.#conn, existing.grantId);
    }
    throw alreadyConsumed(this.modelName);
  }

  async destroy(id: string): Promise<void> {
    await this.collection.deleteOne({ _id: id });
    // A session's uid may point at the deleted document: forget the collection's reads.
    if (this.modelName === 'Session') forgetReads(this.#db, this.collection.collectionName);
    else this.#remember(id, null);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.collection.deleteMany({ grantId });
    forgetReads(this.#db, this.collection.collectionName);
  }

  get #db(): mongo.Db {
    return this.collection.db;
  }

  #remember(id: string, doc: AdapterDocument | null): void {
    rememberRead(this.#db, this.collection.collectionName, id, doc);
  }

  async #findOne(filter: mongo.Filter<AdapterDocument>): Promise<AdapterPayload | undefined> {
    const doc = await this.collection.findOne(filter);
    return isLive(doc, Date.now()) ? doc.payload : undefined;
  }
}

/**
 * Revokes a grant in every store at once: its entities in each grant-bound model (what oidc-provider's
 * `helpers/revoke.js` covers) and the Grant document itself.
 */
export async function revokeGrantEverywhere(conn: Connection, grantId: string): Promise<void> {
  const collections = [...GRANTABLE_MODELS].map((modelName) => nativeCollection(conn, modelName));
  const grants = nativeCollection(conn, 'Grant');
  await Promise.all([...collections.map((collection) => collection.deleteMany({ grantId })), grants.deleteOne({ _id: grantId })]);
  for (const collection of [...collections, grants]) forgetReads(collection.db, collection.collectionName);
}

/**
 * Revokes every grant of an account — each grant's codes and tokens in every grant-bound model, and the grant itself
 * (refresh and access tokens whose grant is gone are refused: oidc-provider looks the grant up). Returns how many
 * grants there were.
 */
export async function revokeAccountGrants(conn: Connection, accountId: string): Promise<number> {
  const grants = await nativeCollection(conn, 'Grant').find({ 'payload.accountId': accountId }, { projection: { _id: 1 } }).toArray();
  await Promise.all(grants.map((grant) => revokeGrantEverywhere(conn, grant._id)));
  return grants.length;
}

/**
 * Ends the provider sessions (SSO) of an account, except the one whose id is `keepSessionId` (the browser that asked):
 * after a password change, a browser signed in with the old password must sign in again. oidc-provider keeps the
 * signed-in account in the session payload's `accountId`; a deleted session is simply not found, so the browser gets
 * a fresh, anonymous one. Tokens already issued (grants) are not touched. Returns how many ended.
 */
export async function endAccountSessions(conn: Connection, accountId: string, keepSessionId?: string): Promise<number> {
  const filter: mongo.Filter<AdapterDocument> = { 'payload.accountId': accountId };
  if (keepSessionId) filter._id = { $ne: keepSessionId };
  const sessions = nativeCollection(conn, 'Session');
  const result = await sessions.deleteMany(filter);
  forgetReads(sessions.db, sessions.collectionName);
  return result.deletedCount;
}

/**
 * A class oidc-provider instantiates per model name: `new Provider(issuer, { adapter: createMongoAdapter(conn) })`.
 * Pass the provider's `clockTolerance` as `clockToleranceSeconds` when it is configured.
 */
export function createMongoAdapter(conn: Connection, options: MongoAdapterOptions = {}): new (modelName: string) => Adapter {
  return class BoundMongoAdapter extends MongoAdapter {
    constructor(modelName: string) {
      super(conn, modelName, options);
    }
  };
}

/** The indexes each model's collection needs. */
export function adapterIndexesFor(modelName: string): mongo.IndexDescription[] {
  const indexes: mongo.IndexDescription[] = [{ key: { expiresAt: 1 }, name: 'expiresAt_ttl', expireAfterSeconds: 0 }];
  if (GRANTABLE_MODELS.has(modelName)) indexes.push({ key: { grantId: 1 }, name: 'grantId' });
  // Not unique: a stale request may re-save a session's old id with the same uid (see MongoAdapter.upsert).
  if (modelName === 'Session') indexes.push({ key: { uid: 1, updatedAt: -1 }, name: 'uid_updatedAt' });
  // A change of credentials revokes every grant of the account (`revokeAccountGrants`).
  if (modelName === 'Grant') indexes.push({ key: { 'payload.accountId': 1 }, name: 'accountId' });
  if (modelName === 'DeviceCode') indexes.push({ key: { userCode: 1 }, name: 'userCode_unique', unique: true });
  return indexes;
}

/**
 * Creates the collections' indexes (TTL on expiresAt, grantId, uid + updatedAt, userCode) and drops the old unique
 * Session uid index; idempotent; call once at start-up.
 */
export async function ensureAdapterIndexes(conn: Connection): Promise<void> {
  await Promise.all(
    ADAPTER_MODEL_NAMES.map((modelName) =>
      nativeCollection(conn, modelName).createIndexes(adapterIndexesFor(modelName)),
    ),
  );
  const sessions = nativeCollection(conn, 'Session');
  const existing = await sessions.indexes();
  if (existing.some((index) => index.name === LEGACY_SESSION_UID_INDEX)) {
    try {
      await sessions.dropIndex(LEGACY_SESSION_UID_INDEX);
    } catch (err) {
      // Another process dropped it first.
      if ((err as { codeName?: string }).codeName !== 'IndexNotFound') throw err;
    }
  }
}
