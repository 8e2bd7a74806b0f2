/**
 * `email_code_factors`: one document per account (`_id` = account id), so every transition is one conditional
 * update of one document:
 * - `active`: the verified address codes go to; `pending`: an enrolment waiting for its code;
 * - `code`: the one live code (an enrolment or a sign-in code; a new send replaces it, which makes the old one dead),
 *   stored only as a keyed hash, with its expiry, tries left and `usedAt` (single use);
 * - `lastSentAt`, `recentSends`, `rev`: the send budget (cooldown, codes per hour). `rev` changes with each send
 *   reservation, so two concurrent sends cannot both pass the cooldown. Removing the factor keeps the budget: a
 *   remove/enrol loop cannot be used to mail-bomb the address.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { forgetsRequestReads } from '../../store/model_reads.ts';

/** Why a code was sent: it only works for that purpose. */
export type EmailCodePurpose = 'enrol' | 'sign_in';

export interface EmailCodeSlotDoc {
  /** Random id of this send: the hash binds to it, and tries and consumption are conditional on it. */
  id: string;
  purpose: EmailCodePurpose;
  /** HMAC-SHA256 (hex) of the code; the code itself is never stored. */
  hash: string;
  sentAt: Date;
  expiresAt: Date;
  triesLeft: number;
  usedAt: Date | null;
}

export interface EmailActiveDoc {
  /** The address that proved it receives codes. */
  email: string;
  confirmedAt: Date;
}

export interface EmailPendingDoc {
  email: string;
  startedAt: Date;
}

export interface EmailFactorDoc {
  _id: string;
  active: EmailActiveDoc | null;
  pending: EmailPendingDoc | null;
  code: EmailCodeSlotDoc | null;
  /** The last successful send; the epoch when none. */
  lastSentAt: Date;
  /** Successful sends within the last hour, oldest first. */
  recentSends: Date[];
  rev: number;
}

const slotSchema = new Schema<EmailCodeSlotDoc>(
  {
    id: { type: String, required: true },
    purpose: { type: String, required: true, enum: ['enrol', 'sign_in'] },
    hash: { type: String, required: true },
    sentAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    triesLeft: { type: Number, required: true },
    usedAt: { type: Date, default: null },
  },
  { _id: false, strict: 'throw' },
);

const activeSchema = new Schema<EmailActiveDoc>(
  { email: { type: String, required: true }, confirmedAt: { type: Date, required: true } },
  { _id: false, strict: 'throw' },
);

const pendingSchema = new Schema<EmailPendingDoc>(
  { email: { type: String, required: true }, startedAt: { type: Date, required: true } },
  { _id: false, strict: 'throw' },
);

const factorSchema = new Schema<EmailFactorDoc>(
  {
    _id: { type: String, required: true },
    active: { type: activeSchema, default: null },
    pending: { type: pendingSchema, default: null },
    code: { type: slotSchema, default: null },
    lastSentAt: { type: Date, required: true },
    recentSends: { type: [Date], default: [] },
    rev: { type: Number, required: true },
  },
  { versionKey: false, strict: 'throw', minimize: false },
);
factorSchema.plugin(forgetsRequestReads);

export function emailFactorModel(conn: Connection): Model<EmailFactorDoc> {
  return (conn.models.EmailCodeFactor as Model<EmailFactorDoc> | undefined)
    ?? conn.model<EmailFactorDoc>('EmailCodeFactor', factorSchema, 'email_code_factors');
}
