/**
 * Customer accounts: normalised unique email, Argon2id password hash (with its parameters; older scrypt hashes are
 * upgraded at the next sign-in), name, optional company and role, privileges (`invoice`: may pay by invoice, which the
 * step-up policy protects) and status.
 * The account id is a random string and becomes the OIDC `sub` (OIDC Core §2: locally unique, never reassigned).
 */
import type { Connection } from 'mongoose';
import { z } from 'zod';
import { AppError, isDuplicateKeyError } from '../shared/errors.ts';
import { findCompanyById } from './companies.ts';
import { ACCOUNT_STATUSES, COMPANY_ROLES, PRIVILEGES, accounts, type AccountDoc } from './models.ts';
import { hashPassword, needsRehash, verifyPassword } from './passwords.ts';
import { readModelDocument } from '../store/model_reads.ts';

export { ensureAccountIndexes } from './models.ts';

export type Privilege = (typeof PRIVILEGES)[number];
export type CompanyRole = (typeof COMPANY_ROLES)[number];
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

/** A customer account: who signs in with a password, its company and role, its privileges (`invoice`) and status. */
export interface Account {
  id: string;
  email: string;
  name: string;
  companyId: string | null;
  companyRole: CompanyRole | null;
  privileges: Privilege[];
  status: AccountStatus;
  /** "Ask for a code at every sign-in". */
  signInMfa: boolean;
  /** See {@link raiseCredentialsEpoch}. */
  credentialsEpoch: number;
  /** A password reset happened since the last second-factor proof: the next sign-in asks for one. */
  secondFactorDue: boolean;
  /** The language chosen in the security settings (pages and mails); absent = the browser's. */
  language?: string | undefined;
  /** The time zone chosen in the security settings (IANA), for times in mails; absent = UTC. */
  timeZone?: string | undefined;
  createdAt: Date;
  updatedAt: Date;
}

/** NIST SP 800-63B §5.1.1.2: at least 8 characters; accept at least 64 (we accept 256). Counted in code points. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;
/** RFC 5321 §4.5.3.1.3: a forward path holds at most 256 octets including the brackets, so 254 for the address. */
const EMAIL_MAX_LENGTH = 254;
const NAME_MAX_LENGTH = 200;

/** AppError `invalid_account` (400) carrying every problem found, so a form or the CLI can list them all. */
export class InvalidAccountError extends AppError {
  readonly problems: readonly string[];

  constructor(problems: string[]) {
    super('invalid_account', `Invalid account: ${problems.join('; ')}.`, { status: 400 });
    this.name = 'InvalidAccountError';
    this.problems = Object.freeze([...problems]);
  }
}

/** True for a known privilege value (for callers validating user input). */
export function isPrivilege(value: unknown): value is Privilege {
  return typeof value === 'string' && (PRIVILEGES as readonly string[]).includes(value);
}

/**
 * Trims, lower-cases and NFC-normalises an email address and checks its shape with the HTML `type=email`
 * rule (what the login form's browser check accepts), at most 254 characters.
 * Throws AppError `invalid_email` (400) otherwise.
 */
export function normaliseEmail(email: string): string {
  const normalised = typeof email === 'string' ? email.trim().normalize('NFC').toLowerCase() : '';
  if (normalised.length === 0 || normalised.length > EMAIL_MAX_LENGTH || !z.regexes.html5Email.test(normalised)) {
    throw new AppError('invalid_email', 'This is not a valid email address.', { status: 400 });
  }
  return normalised;
}

function passwordProblem(password: unknown): string | null {
  if (typeof password !== 'string') return 'password is required';
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `password must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `password must be at most ${PASSWORD_MAX_LENGTH} characters`;
  return null;
}

function toAccount(doc: AccountDoc): Account {
  return {
    id: doc._id,
    email: doc.email,
    name: doc.name,
    companyId: doc.companyId ?? null,
    companyRole: doc.companyRole ?? null,
    privileges: [...(doc.privileges ?? [])],
    status: doc.status,
    signInMfa: doc.signInMfa === true,
    credentialsEpoch: doc.credentialsEpoch ?? 0,
    secondFactorDue: doc.secondFactorDue === true,
    ...(doc.language ? { language: doc.language } : {}),
    ...(doc.timeZone ? { timeZone: doc.timeZone } : {}),
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

function notFound(): AppError {
  return new AppError('account_not_found', 'No such account.', { status: 404 });
}

/**
 * Creates an active account. Throws `InvalidAccountError` (`invalid_account`, 400) listing every problem at
 * once — bad email, password shorter than 8 or longer than 256 characters, empty name, unknown company, a role
 * without a company, an unknown privilege — and AppError `account_exists` (409) when the email is taken
 * (whatever its case). A company member gets the role `member` unless told otherwise.
 */
export async function createAccount(
  conn: Connection,
  input: { email: string; password: string; name: string; companyId?: string; companyRole?: CompanyRole; privileges?: Privilege[] },
): Promise<Account> {
  const problems: string[] = [];
  let email = '';
  try {
    email = normaliseEmail(input.email);
  } catch {
    problems.push('email is not a valid address');
  }
  const passwordIssue = passwordProblem(input.password);
  if (passwordIssue) problems.push(passwordIssue);
  const name = typeof input.name === 'string' ? input.name.normalize('NFC').trim() : '';
  if (!name) problems.push('name must not be empty');
  else if (name.length > NAME_MAX_LENGTH) problems.push(`name must be at most ${NAME_MAX_LENGTH} characters`);
  const companyId = input.companyId ?? null;
  if (companyId !== null && !(await findCompanyById(conn, companyId))) problems.push(`company ${companyId} does not exist`);
  if (input.companyRole !== undefined && !(COMPANY_ROLES as readonly string[]).includes(input.companyRole)) {
    problems.push(`companyRole must be one of ${COMPANY_ROLES.join(', ')}`);
  } else if (input.companyRole !== undefined && companyId === null) {
    problems.push('companyRole needs a company');
  }
  const privileges = input.privileges ?? [];
  for (const privilege of privileges) {
    if (!isPrivilege(privilege)) problems.push(`unknown privilege ${String(privilege)}`);
  }
  if (problems.length > 0) throw new InvalidAccountError(problems);

  const Account = await accounts(conn);
  try {
    const doc = await Account.create({
      email,
      name,
      passwordHash: await hashPassword(input.password),
      companyId,
      companyRole: companyId === null ? null : (input.companyRole ?? 'member'),
      privileges: [...new Set(privileges)],
      status: 'active',
    });
    return toAccount(doc.toObject());
  } catch (err) {
    if (isDuplicateKeyError(err)) {
      throw new AppError('account_exists', 'An account with this email already exists.', { status: 409, cause: err });
    }
    throw err;
  }
}

/** The account a stored document holds (a document read together with others, e.g. through `$lookup`). */
export function accountFromDocument(doc: unknown): Account | null {
  return doc && typeof doc === 'object' && typeof (doc as AccountDoc)._id === 'string' ? toAccount(doc as AccountDoc) : null;
}

export async function findAccountById(conn: Connection, id: string): Promise<Account | null> {
  if (typeof id !== 'string') return null;
  const doc = await readModelDocument(await accounts(conn), id);
  return doc ? toAccount(doc) : null;
}

/**
 * Looks an account up by id together with the document `_id: joined.id` of the collection `joined.collection`, in one
 * command (`$lookup`), for a caller that needs both at once. The joined document comes back as stored; `undefined`
 * when there is none — or no account (then it was not looked for).
 */
export async function findAccountByIdJoined(
  conn: Connection, id: string, joined: { readonly collection: string; readonly id: string },
): Promise<{ account: Account | null; joined: unknown }> {
  if (typeof id !== 'string') return { account: null, joined: undefined };
  const [doc] = await (await accounts(conn)).aggregate<AccountDoc & { joined: unknown[] }>([
    { $match: { _id: id } },
    { $limit: 1 },
    { $lookup: { from: joined.collection, pipeline: [{ $match: { _id: { $eq: joined.id } } }, { $limit: 1 }], as: 'joined' } },
  ]).exec();
  if (!doc) return { account: null, joined: undefined };
  const { joined: [found], ...account } = doc;
  return { account: toAccount(account), joined: found };
}

/** Looks an account up by email (normalised first); null for an unknown or malformed address. */
export async function findAccountByEmail(conn: Connection, email: string): Promise<Account | null> {
  let normalised: string;
  try {
    normalised = normaliseEmail(email);
  } catch {
    return null;
  }
  const doc = await (await accounts(conn)).findOne({ email: normalised }).lean<AccountDoc>().exec();
  return doc ? toAccount(doc) : null;
}

/**
 * Password login. Does the same hashing work whether or not the email exists (no enumeration by timing) and
 * answers null alike for an unknown email, a wrong password or a disabled account. After a successful check,
 * a hash made with outdated parameters is replaced by one with the current defaults.
 */
export async function verifyLogin(conn: Connection, email: string, password: string): Promise<Account | null> {
  const Account = await accounts(conn);
  let doc: AccountDoc | null = null;
  try {
    doc = await readModelDocument(Account, normaliseEmail(email), 'email');
  } catch (err) {
    if (!(err instanceof AppError && err.code === 'invalid_email')) throw err;
  }
  const ok = await verifyPassword(typeof password === 'string' ? password : '', doc?.passwordHash);
  if (!doc || !ok || doc.status !== 'active') return null;
  if (needsRehash(doc.passwordHash)) {
    const upgraded = await hashPassword(password);
    // conditional on the old hash: a password changed meanwhile is never overwritten
    await Account.updateOne({ _id: doc._id, passwordHash: doc.passwordHash }, { $set: { passwordHash: upgraded } }).exec();
  }
  return toAccount(doc);
}

/** Accounts sorted by email, optionally of one company. */
export async function listAccounts(conn: Connection, filter: { companyId?: string } = {}): Promise<Account[]> {
  const query = filter.companyId === undefined ? {} : { companyId: filter.companyId };
  const docs = await (await accounts(conn)).find(query).sort({ email: 1 }).lean<AccountDoc[]>().exec();
  return docs.map(toAccount);
}

/** Grants or revokes a privilege (idempotent). AppError `invalid_privilege` (400), `account_not_found` (404). */
export async function setPrivilege(conn: Connection, accountId: string, privilege: Privilege, granted: boolean): Promise<Account> {
  if (!isPrivilege(privilege)) {
    throw new AppError('invalid_privilege', `Unknown privilege: ${String(privilege)}.`, { status: 400 });
  }
  const update = granted ? { $addToSet: { privileges: privilege } } : { $pull: { privileges: privilege } };
  const doc = await (await accounts(conn))
    .findOneAndUpdate({ _id: accountId }, update, { returnDocument: 'after' })
    .lean<AccountDoc>()
    .exec();
  if (!doc) throw notFound();
  return toAccount(doc);
}

/** The filter of an account whose credentials epoch is still `epoch` (0 is stored as no field). */
function atEpoch(accountId: string, epoch: number): Record<string, unknown> {
  return { _id: accountId, credentialsEpoch: epoch === 0 ? { $in: [null, 0] } : epoch };
}

/**
 * Replaces the password and raises the credentials epoch (every session and token proven before is dead); returns
 * the new epoch. With `expectedEpoch` (the epoch the caller's sign-in was proven under) the change happens only if
 * no other change of credentials came in between — otherwise AppError `credentials_changed` (409) and nothing is
 * written. `secondFactorDue` (a reset by emailed link) makes the next sign-in prove a second factor, in the same write.
 * `InvalidAccountError` (400) for a bad length, AppError `account_not_found` (404).
 */
export async function setPassword(
  conn: Connection, accountId: string, password: string, options: { expectedEpoch?: number; secondFactorDue?: boolean } = {},
): Promise<number> {
  const problem = passwordProblem(password);
  if (problem) throw new InvalidAccountError([problem]);
  const Account = await accounts(conn);
  if (!(await Account.exists({ _id: accountId }).exec())) throw notFound();
  const passwordHash = await hashPassword(password);
  // One write: the new password and a new credentials epoch, so no sign-in made with the old one outlives it.
  const filter = options.expectedEpoch === undefined ? { _id: accountId } : atEpoch(accountId, options.expectedEpoch);
  const set = options.secondFactorDue ? { passwordHash, secondFactorDue: true } : { passwordHash };
  const doc = await Account.findOneAndUpdate(filter, { $set: set, $inc: { credentialsEpoch: 1 } }, {
    returnDocument: 'after', projection: { credentialsEpoch: 1 },
  }).lean<Pick<AccountDoc, 'credentialsEpoch'>>().exec();
  if (doc) return doc.credentialsEpoch ?? 0;
  if (options.expectedEpoch === undefined) throw notFound();
  throw new AppError('credentials_changed', 'Your password or sign-in methods were changed meanwhile. Sign in again.', { status: 409 });
}

/** Enables or disables an account; a disabled account cannot log in. AppError `account_not_found` (404). */
export async function setAccountStatus(conn: Connection, accountId: string, status: AccountStatus): Promise<Account> {
  if (!(ACCOUNT_STATUSES as readonly string[]).includes(status)) {
    throw new AppError('invalid_account', `Invalid account: status must be one of ${ACCOUNT_STATUSES.join(', ')}.`, { status: 400 });
  }
  const doc = await (await accounts(conn))
    .findOneAndUpdate({ _id: accountId }, { $set: { status } }, { returnDocument: 'after' })
    .lean<AccountDoc>()
    .exec();
  if (!doc) throw notFound();
  return toAccount(doc);
}

/**
 * Turns "ask for a code at every sign-in" on or off (what enabling 2FA on the security settings page does).
 * AppError `account_not_found` (404).
 */
export async function setSignInMfa(conn: Connection, accountId: string, enabled: boolean): Promise<void> {
  const result = await (await accounts(conn)).updateOne({ _id: accountId }, { $set: { signInMfa: enabled } }).exec();
  if (result.matchedCount === 0) throw notFound();
}

/**
 * The customer's language and time zone for pages and mails (the security settings); `undefined` removes the choice.
 * The caller checks them against the catalogues and the time zones there are.
 */
export async function setAccountLanguage(
  conn: Connection, accountId: string, choice: { language: string | undefined; timeZone: string | undefined },
): Promise<void> {
  const set: Partial<Pick<AccountDoc, 'language' | 'timeZone'>> = {};
  const unset: Record<string, ''> = {};
  if (choice.language) set.language = choice.language;
  else unset.language = '';
  if (choice.timeZone) set.timeZone = choice.timeZone;
  else unset.timeZone = '';
  const update = { ...(Object.keys(set).length ? { $set: set } : {}), ...(Object.keys(unset).length ? { $unset: unset } : {}) };
  const result = await (await accounts(conn)).updateOne({ _id: accountId }, update).exec();
  if (result.matchedCount === 0) throw notFound();
}

/** Whether the account asks for a code at every sign-in (false for an unknown account). */
export async function signInMfaEnabled(conn: Connection, accountId: string): Promise<boolean> {
  if (typeof accountId !== 'string') return false;
  const doc = await readModelDocument(await accounts(conn), accountId);
  return doc?.signInMfa === true;
}

/** The second factor asked after a password reset was proven: sign-ins go back to what the shop asks. */
export async function clearSecondFactorDue(conn: Connection, accountId: string): Promise<void> {
  await (await accounts(conn)).updateOne({ _id: accountId, secondFactorDue: true }, { $unset: { secondFactorDue: 1 } }).exec();
}

/**
 * Raises the account's credentials epoch and returns the new value: every session and token proven under an earlier
 * epoch is dead from now on (see `src/authentication/`). AppError `account_not_found` (404).
 */
export async function raiseCredentialsEpoch(conn: Connection, accountId: string): Promise<number> {
  const doc = await (await accounts(conn))
    .findOneAndUpdate({ _id: accountId }, { $inc: { credentialsEpoch: 1 } }, { returnDocument: 'after', projection: { credentialsEpoch: 1 } })
    .lean<Pick<AccountDoc, 'credentialsEpoch'>>()
    .exec();
  if (!doc) throw notFound();
  return doc.credentialsEpoch ?? 0;
}
