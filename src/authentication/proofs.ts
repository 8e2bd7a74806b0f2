/**
 * Where the authentication state is kept: one document per browser session (`authentication_states`, `_id` = the
 * oidc-provider session uid, stable across the session's logins): which account it belongs to, the credentials epoch
 * it was proven under, when the password was proven and when each second factor was proven. Nothing else stores
 * these times; the level, `amr` and `auth_time` are derived from them (`state.ts`).
 *
 * A proof for another account, or under another epoch, replaces the document: proofs never mix accounts or survive a
 * change of credentials. A factor proof is only ever added to the password proof of the same account and epoch; when
 * that is gone (replaced, expired, epoch raised) the factor proof is not recorded and the caller learns it.
 *
 * Documents expire ({@link PROOF_TTL_INDEX}) some time after their last write — long enough to outlive the session and
 * every grant issued from it, since refresh tokens are checked against the state of the session they came from.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import type { AuthenticationState, Proof } from './state.ts';
import { oncePerConnection } from '../store/once_per_connection.ts';

interface ProofRecord {
  at: Date;
  /** The interaction that recorded it. */
  in?: string;
}

interface ProofDoc {
  _id: string;
  accountId: string;
  epoch: number;
  password: ProofRecord;
  /** Factor id → its last proof. Factor ids are lower_snake_case (safe as field names). */
  factors: Record<string, ProofRecord>;
  expiresAt: Date;
}

/** The collection of the states (a caller reading one together with another document decodes it: {@link proofsFromDocument}). */
export const PROOFS_COLLECTION = 'authentication_states';

const schema = new Schema<ProofDoc>(
  {
    _id: { type: String, required: true },
    accountId: { type: String, required: true },
    epoch: { type: Number, required: true },
    password: { type: Schema.Types.Mixed, required: true },
    factors: { type: Schema.Types.Mixed, default: {} },
    expiresAt: { type: Date, required: true },
  },
  { versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false, minimize: false, collection: PROOFS_COLLECTION },
);

/** The name of the TTL index on `expiresAt`. */
export const PROOF_TTL_INDEX = 'expires_at_ttl';
schema.index({ expiresAt: 1 }, { expireAfterSeconds: 0, name: PROOF_TTL_INDEX });
schema.index({ accountId: 1 }, { name: 'account_id' });

function model(conn: Connection): Model<ProofDoc> {
  return (conn.models.AuthenticationState as Model<ProofDoc> | undefined)
    ?? conn.model<ProofDoc>('AuthenticationState', schema, PROOFS_COLLECTION);
}

/** Creates the collection's indexes (TTL on `expiresAt`, account id); idempotent, once per connection. */
export const ensureProofIndexes = oncePerConnection((conn) => model(conn).createIndexes());

function toProof(record: ProofRecord | undefined): Proof | undefined {
  if (!record || !(record.at instanceof Date)) return undefined;
  return { at: record.at, ...(typeof record.in === 'string' ? { interaction: record.in } : {}) };
}

function toRecord(proof: Proof): ProofRecord {
  return { at: proof.at, ...(proof.interaction ? { in: proof.interaction } : {}) };
}

function toState(doc: ProofDoc): AuthenticationState | undefined {
  const password = toProof(doc.password);
  if (!password) return undefined;
  const factors: Record<string, Proof> = {};
  for (const [id, record] of Object.entries(doc.factors ?? {})) {
    const proof = toProof(record);
    if (proof) factors[id] = proof;
  }
  return { accountId: doc.accountId, epoch: doc.epoch, password, factors };
}

/** The state a stored document holds, or `undefined` (none, malformed, or expired and not yet removed). */
export function proofsFromDocument(doc: unknown): AuthenticationState | undefined {
  if (!doc || typeof doc !== 'object') return undefined;
  const stored = doc as ProofDoc;
  return stored.expiresAt instanceof Date && stored.expiresAt.getTime() > Date.now() ? toState(stored) : undefined;
}

/** The state of a session, or `undefined` (never proven, expired, or ended). */
export async function findProofs(conn: Connection, sessionUid: string): Promise<AuthenticationState | undefined> {
  return proofsFromDocument(await model(conn).findById(sessionUid).lean<ProofDoc>());
}

/** Stores `state` as the session's, replacing what it held (proofs moved in from the login interaction). */
export async function storeProofs(conn: Connection, sessionUid: string, state: AuthenticationState, keepMs: number): Promise<void> {
  const latest = Math.max(state.password.at.getTime(), ...Object.values(state.factors).map((proof) => proof.at.getTime()));
  const doc: ProofDoc = {
    _id: sessionUid,
    accountId: state.accountId,
    epoch: state.epoch,
    password: toRecord(state.password),
    factors: Object.fromEntries(Object.entries(state.factors).map(([id, proof]) => [id, toRecord(proof)])),
    expiresAt: new Date(latest + keepMs),
  };
  await model(conn).replaceOne({ _id: sessionUid }, doc, { upsert: true });
}

/**
 * Records a password proof. A sign-in (`keepFactors` false) starts a new authentication: earlier factor proofs of the
 * session are gone. A re-confirmation of the password (`keepFactors`) keeps them when `current` — the state this
 * request loaded — is of the same account and epoch (then it is one update).
 */
export async function recordPasswordProof(
  conn: Connection,
  proof: { sessionUid: string; accountId: string; epoch: number; proof: Proof; keepMs: number; keepFactors: boolean },
  current: AuthenticationState | undefined,
): Promise<AuthenticationState> {
  const expiresAt = new Date(proof.proof.at.getTime() + proof.keepMs);
  if (proof.keepFactors && current && current.accountId === proof.accountId && current.epoch === proof.epoch) {
    const result = await model(conn).updateOne(
      { _id: proof.sessionUid, accountId: proof.accountId, epoch: proof.epoch },
      { $set: { password: toRecord(proof.proof), expiresAt } },
    );
    if (result.matchedCount === 1) return { ...current, password: proof.proof };
  }
  const doc: ProofDoc = {
    _id: proof.sessionUid, accountId: proof.accountId, epoch: proof.epoch, password: toRecord(proof.proof), factors: {}, expiresAt,
  };
  await model(conn).replaceOne({ _id: proof.sessionUid }, doc, { upsert: true });
  return toState(doc) as AuthenticationState;
}

/**
 * Records that `factorId` was proven, on top of the password proof of the same account and epoch. Returns the new
 * state, or `undefined` when there is no such password proof any more (nothing is written then).
 */
export async function recordFactorProof(
  conn: Connection,
  proof: { sessionUid: string; accountId: string; epoch: number; factorId: string; proof: Proof; keepMs: number },
): Promise<AuthenticationState | undefined> {
  const doc = await model(conn).findOneAndUpdate(
    { _id: proof.sessionUid, accountId: proof.accountId, epoch: proof.epoch },
    { $set: { [`factors.${proof.factorId}`]: toRecord(proof.proof), expiresAt: new Date(proof.proof.at.getTime() + proof.keepMs) } },
    { returnDocument: 'after' },
  ).lean<ProofDoc>();
  return doc ? toState(doc) : undefined;
}

/**
 * Moves the state of `keep.sessionUid` to `epoch` (the session that just changed the credentials stays signed in) —
 * only if it is still of `keep.fromEpoch`, the epoch it was proven under — and deletes every other state of the
 * account. Returns how many were deleted.
 */
export async function keepOnlyProofs(
  conn: Connection, accountId: string, epoch: number, keep?: { sessionUid: string; fromEpoch: number },
): Promise<number> {
  if (keep) await model(conn).updateOne({ _id: keep.sessionUid, accountId, epoch: keep.fromEpoch }, { $set: { epoch } });
  const filter = keep ? { accountId, _id: { $ne: keep.sessionUid } } : { accountId };
  return (await model(conn).deleteMany(filter)).deletedCount;
}
