/**
 * `recovery_code_sets`: one document per account with the current generation (incremented by each
 * regeneration). `recovery_codes`: one document per code, `_id` = its keyed hash, valid only while its generation
 * is the account's current one and `usedAt` is null — so a regeneration invalidates every earlier code at once,
 * even if deleting the old documents lags or races.
 */
import { Schema, type Connection, type Model } from 'mongoose';

export interface RecoveryCodeSetDoc {
  _id: string;
  generation: number;
  createdAt: Date;
}

export interface RecoveryCodeDoc {
  /** HMAC-SHA256 of the code (hex); the code itself is never stored. */
  _id: string;
  accountId: string;
  generation: number;
  createdAt: Date;
  usedAt: Date | null;
}

const setSchema = new Schema<RecoveryCodeSetDoc>(
  {
    _id: { type: String, required: true },
    generation: { type: Number, required: true },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, strict: 'throw' },
);

const codeSchema = new Schema<RecoveryCodeDoc>(
  {
    _id: { type: String, required: true },
    accountId: { type: String, required: true },
    generation: { type: Number, required: true },
    createdAt: { type: Date, required: true },
    usedAt: { type: Date, default: null },
  },
  { versionKey: false, strict: 'throw' },
);
codeSchema.index({ accountId: 1, generation: 1 });

export function recoveryCodeSetModel(conn: Connection): Model<RecoveryCodeSetDoc> {
  return (conn.models.RecoveryCodeSet as Model<RecoveryCodeSetDoc> | undefined)
    ?? conn.model<RecoveryCodeSetDoc>('RecoveryCodeSet', setSchema, 'recovery_code_sets');
}

export function recoveryCodeModel(conn: Connection): Model<RecoveryCodeDoc> {
  return (conn.models.RecoveryCode as Model<RecoveryCodeDoc> | undefined)
    ?? conn.model<RecoveryCodeDoc>('RecoveryCode', codeSchema, 'recovery_codes');
}
