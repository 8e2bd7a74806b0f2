/**
 * `recovery_code_sets`: one document per account naming its current set (`setId`, random) and a `generation`
 * counter that each regeneration bumps — conditionally on the generation it read, so of concurrent regenerations
 * exactly one wins. `recovery_codes`: one document per code — `_id` = `<setId>.<locator>` with the Argon2id hash of its
 * secret part (`secretHash`), or, for sets made before that format, `_id` = the code's keyed hash — valid only while its `setId` is
 * the account's current one and `usedAt` is null. New codes are inserted under a fresh `setId` **before** the set
 * document points at it: a crash in between leaves the old set working and the new codes inert, and a regeneration
 * invalidates every earlier code at once, even if deleting the old documents lags or races.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { forgetsRequestReads } from '../../store/model_reads.ts';

export interface RecoveryCodeSetDoc {
  _id: string;
  generation: number;
  /** The set whose codes are valid. */
  setId: string;
  createdAt: Date;
}

export interface RecoveryCodeDoc {
  /** `<setId>.<locator>`; for codes of earlier sets, HMAC-SHA256 of the code (hex). The code itself is never stored. */
  _id: string;
  /** Argon2id (PHC string) of the code's secret part; absent for codes of earlier sets. */
  secretHash?: string;
  accountId: string;
  /** The set this code belongs to; valid only while it is the account's current set. */
  setId: string;
  createdAt: Date;
  usedAt: Date | null;
}

const setSchema = new Schema<RecoveryCodeSetDoc>(
  {
    _id: { type: String, required: true },
    generation: { type: Number, required: true },
    setId: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, strict: 'throw' },
);
setSchema.plugin(forgetsRequestReads);

const codeSchema = new Schema<RecoveryCodeDoc>(
  {
    _id: { type: String, required: true },
    accountId: { type: String, required: true },
    setId: { type: String, required: true },
    secretHash: { type: String },
    createdAt: { type: Date, required: true },
    usedAt: { type: Date, default: null },
  },
  { versionKey: false, strict: 'throw' },
);
codeSchema.index({ accountId: 1, setId: 1 });

export function recoveryCodeSetModel(conn: Connection): Model<RecoveryCodeSetDoc> {
  return (conn.models.RecoveryCodeSet as Model<RecoveryCodeSetDoc> | undefined)
    ?? conn.model<RecoveryCodeSetDoc>('RecoveryCodeSet', setSchema, 'recovery_code_sets');
}

export function recoveryCodeModel(conn: Connection): Model<RecoveryCodeDoc> {
  return (conn.models.RecoveryCode as Model<RecoveryCodeDoc> | undefined)
    ?? conn.model<RecoveryCodeDoc>('RecoveryCode', codeSchema, 'recovery_codes');
}
