/**
 * `totp_enrolments`: one document per account (`_id` = account id) with two slots, so activation is one atomic
 * update: `pending` (shown as a QR code to the one session/flow it is bound to, not usable to sign in) and `active`
 * (the confirmed secret and the last accepted time step). Secrets are sealed with the secret box; the associated data binds each to its account and
 * enrolment id.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { forgetsRequestReads } from '../../store/model_reads.ts';
import type { SealedSecret } from '../shared/secret_box.ts';

export interface TotpSlotDoc {
  /** Enrolment id (random): single-use steps and the secret's associated data belong to it. */
  id: string;
  secret: SealedSecret;
  createdAt: Date;
}

export interface TotpPendingDoc extends TotpSlotDoc {
  /**
   * SHA-256 (hex) of the opaque binding of the session/flow that started the enrolment, or `null` for an unbound
   * one: only that flow sees the secret and may confirm it.
   */
  binding: string | null;
}

export interface TotpActiveDoc extends TotpSlotDoc {
  confirmedAt: Date;
  /** The last accepted RFC 6238 time step; every step ≤ it is refused. */
  lastUsedStep: number;
}

export interface TotpEnrolmentDoc {
  _id: string;
  active: TotpActiveDoc | null;
  pending: TotpPendingDoc | null;
}

const sealedSchema = new Schema<SealedSecret>(
  {
    v: { type: Number, required: true },
    kid: { type: String, required: true },
    iv: { type: String, required: true },
    tag: { type: String, required: true },
    ct: { type: String, required: true },
  },
  { _id: false, strict: 'throw' },
);

const pendingSchema = new Schema<TotpPendingDoc>(
  {
    id: { type: String, required: true },
    secret: { type: sealedSchema, required: true },
    createdAt: { type: Date, required: true },
    binding: { type: String, default: null },
  },
  { _id: false, strict: 'throw' },
);

const activeSchema = new Schema<TotpActiveDoc>(
  {
    id: { type: String, required: true },
    secret: { type: sealedSchema, required: true },
    createdAt: { type: Date, required: true },
    confirmedAt: { type: Date, required: true },
    lastUsedStep: { type: Number, required: true },
  },
  { _id: false, strict: 'throw' },
);

const enrolmentSchema = new Schema<TotpEnrolmentDoc>(
  {
    _id: { type: String, required: true },
    active: { type: activeSchema, default: null },
    pending: { type: pendingSchema, default: null },
  },
  { versionKey: false, strict: 'throw', minimize: false },
);
enrolmentSchema.plugin(forgetsRequestReads);

export function totpEnrolmentModel(conn: Connection): Model<TotpEnrolmentDoc> {
  return (conn.models.TotpEnrolment as Model<TotpEnrolmentDoc> | undefined)
    ?? conn.model<TotpEnrolmentDoc>('TotpEnrolment', enrolmentSchema, 'totp_enrolments');
}
