/**
 * mongoose models of accounts and companies, bound to an explicit connection (never the global one).
 * Indexes are built once per connection, on first use or by `ensureAccountIndexes` at start-up; the unique
 * indexes are what keeps emails and company names unique under concurrent writes.
 */
import { randomUUID } from 'node:crypto';
import { Schema, type Connection, type Model } from 'mongoose';
import { forgetsRequestReads } from '../store/model_reads.ts';
import { oncePerConnection } from '../store/once_per_connection.ts';

export const PRIVILEGES = ['invoice'] as const;
export const COMPANY_ROLES = ['member', 'admin'] as const;
export const ACCOUNT_STATUSES = ['active', 'disabled'] as const;
export const MFA_POLICIES = ['forced', 'opt_in'] as const;

/** Stored shape of an account (`accounts` collection). `_id` becomes the OIDC `sub`. */
export interface AccountDoc {
  _id: string;
  email: string;
  name: string;
  passwordHash: string;
  companyId: string | null;
  companyRole: (typeof COMPANY_ROLES)[number] | null;
  privileges: Array<(typeof PRIVILEGES)[number]>;
  status: (typeof ACCOUNT_STATUSES)[number];
  /** "Ask for a code at every sign-in" (the security settings' switch); absent = off. */
  signInMfa?: boolean;
  /**
   * Raised by every change that must end the sign-ins made before it (password change, factor reset, disable);
   * absent = 0. Sessions and tokens proven under another epoch are dead.
   */
  credentialsEpoch?: number;
  /**
   * Set by a password reset: the next sign-in proves a second factor whatever the shop asks (the emailed link is not
   * a factor), and the first second-factor proof clears it. Absent = not due.
   */
  secondFactorDue?: boolean;
  /** The language of the customer's pages and mails (a tag with a catalogue, `de`), set in the security settings. */
  language?: string;
  /** The customer's time zone (IANA, `Europe/Berlin`) for times in mails; absent = UTC. */
  timeZone?: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Stored shape of a company (`companies` collection). `nameKey` is the case-folded name, unique. */
export interface CompanyDoc {
  _id: string;
  name: string;
  nameKey: string;
  mfaPolicy: (typeof MFA_POLICIES)[number];
  createdAt: Date;
  updatedAt: Date;
}

const MODEL_OPTIONS = { timestamps: true, versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false } as const;

const accountSchema = new Schema<AccountDoc>(
  {
    _id: { type: String, default: () => randomUUID() },
    email: { type: String, required: true },
    name: { type: String, required: true },
    passwordHash: { type: String, required: true },
    companyId: { type: String, default: null },
    companyRole: { type: String, enum: COMPANY_ROLES, default: null },
    privileges: { type: [{ type: String, enum: PRIVILEGES }], default: [] },
    status: { type: String, enum: ACCOUNT_STATUSES, default: 'active', required: true },
    signInMfa: { type: Boolean },
    credentialsEpoch: { type: Number },
    secondFactorDue: { type: Boolean },
    language: { type: String, maxlength: 35 },
    timeZone: { type: String, maxlength: 64 },
  },
  { ...MODEL_OPTIONS, collection: 'accounts' },
);
accountSchema.index({ email: 1 }, { unique: true });
accountSchema.plugin(forgetsRequestReads);
accountSchema.index({ companyId: 1 });

const companySchema = new Schema<CompanyDoc>(
  {
    _id: { type: String, default: () => randomUUID() },
    name: { type: String, required: true },
    nameKey: { type: String, required: true },
    mfaPolicy: { type: String, enum: MFA_POLICIES, default: 'opt_in', required: true },
  },
  { ...MODEL_OPTIONS, collection: 'companies' },
);
companySchema.index({ nameKey: 1 }, { unique: true });
companySchema.plugin(forgetsRequestReads);

function accountModel(conn: Connection): Model<AccountDoc> {
  return (conn.models.Account as Model<AccountDoc> | undefined) ?? conn.model<AccountDoc>('Account', accountSchema, 'accounts');
}

function companyModel(conn: Connection): Model<CompanyDoc> {
  return (conn.models.Company as Model<CompanyDoc> | undefined) ?? conn.model<CompanyDoc>('Company', companySchema, 'companies');
}

/** Creates the indexes of `accounts` and `companies` (unique email, unique case-folded company name). Idempotent. */
export const ensureAccountIndexes = oncePerConnection((conn) => Promise.all([accountModel(conn).createIndexes(), companyModel(conn).createIndexes()]));

/** The Account model on `conn`, with its indexes in place. */
export async function accounts(conn: Connection): Promise<Model<AccountDoc>> {
  await ensureAccountIndexes(conn);
  return accountModel(conn);
}

/** The Company model on `conn`, with its indexes in place. */
export async function companies(conn: Connection): Promise<Model<CompanyDoc>> {
  await ensureAccountIndexes(conn);
  return companyModel(conn);
}
