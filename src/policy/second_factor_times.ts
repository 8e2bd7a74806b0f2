/**
 * Per-session "second factor done at" times, per level (issue 4): the oidc-provider session keeps one acr, one amr
 * and one loginTs, overwritten by each login, so a scope rule such as `invoice` (second factor ≤ 15 minutes) is
 * judged on these times, keyed by the session uid (stable across logins of one browser session).
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { LEVEL, MAX_LEVEL } from './acr.ts';

interface SecondFactorTimesDoc {
  _id: string;
  accountId: string;
  level2At: Date | null;
  level3At: Date | null;
  expiresAt: Date;
}

const schema = new Schema<SecondFactorTimesDoc>(
  {
    _id: { type: String, required: true },
    accountId: { type: String, required: true },
    level2At: { type: Date, default: null },
    level3At: { type: Date, default: null },
    expiresAt: { type: Date, required: true },
  },
  { versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false },
);

function model(conn: Connection): Model<SecondFactorTimesDoc> {
  return (conn.models.SecondFactorTimes as Model<SecondFactorTimesDoc> | undefined)
    ?? conn.model<SecondFactorTimesDoc>('SecondFactorTimes', schema, 'session_second_factors');
}

/** How long the times are kept: the longest a session can live is bounded by the session TTL; a day covers it here. */
const KEEP_MS = 14 * 24 * 3_600_000;

/** The times recorded for `sessionUid`, for `accountId` only (another account's times in a reused session never count). */
export async function loadSecondFactorTimes(conn: Connection, sessionUid: string | undefined, accountId: string): Promise<Record<number, Date | undefined>> {
  if (!sessionUid) return {};
  const doc = await model(conn).findById(sessionUid).lean<SecondFactorTimesDoc>();
  if (!doc || doc.accountId !== accountId) return {};
  return { [LEVEL.mfa]: doc.level2At ?? undefined, [LEVEL.mfaApp]: doc.level3At ?? undefined };
}

/** Records that `accountId` completed a second factor proving `level` at `at` in session `sessionUid`. */
export async function recordSecondFactor(conn: Connection, sessionUid: string, accountId: string, level: number, at: Date): Promise<void> {
  const previous = await loadSecondFactorTimes(conn, sessionUid, accountId);
  const set: Partial<SecondFactorTimesDoc> = { accountId, expiresAt: new Date(at.getTime() + KEEP_MS) };
  set.level2At = level >= LEVEL.mfa ? at : previous[LEVEL.mfa] ?? null;
  set.level3At = level >= MAX_LEVEL ? at : previous[LEVEL.mfaApp] ?? null;
  await model(conn).updateOne({ _id: sessionUid }, { $set: set }, { upsert: true });
}
