/**
 * Companies: B2B customer accounts with several users and one 2FA policy: `forced` — every user must enrol at the next
 * login — or `opt_in` — each user decides. Names are unique regardless of case.
 */
import type { Connection } from 'mongoose';
import { AppError, isDuplicateKeyError } from '../shared/errors.ts';
import { readModelDocument } from '../store/model_reads.ts';
import { MFA_POLICIES, companies, type CompanyDoc } from './models.ts';

export { ensureAccountIndexes } from './models.ts';

/** A company's two-factor policy: `forced` (every member sets one up and is asked at every sign-in) or `opt_in`. */
export type MfaPolicy = (typeof MFA_POLICIES)[number];

/** A company whose members' accounts share one two-factor policy, set by its admins. */
export interface Company {
  id: string;
  name: string;
  mfaPolicy: MfaPolicy;
  createdAt: Date;
  updatedAt: Date;
}

const MAX_NAME_LENGTH = 200;

/** True for a known policy value (for callers validating user input). */
export function isMfaPolicy(value: unknown): value is MfaPolicy {
  return typeof value === 'string' && (MFA_POLICIES as readonly string[]).includes(value);
}

/** The display form of a company name: NFC, trimmed, inner whitespace collapsed. */
function cleanName(name: string): string {
  return name.normalize('NFC').trim().replace(/\s+/g, ' ');
}

/** The key names are unique by: "ACME  GmbH" and "acme gmbh" are one company. */
function nameKeyOf(name: string): string {
  return cleanName(name).toLowerCase();
}

function toCompany(doc: CompanyDoc): Company {
  return { id: doc._id, name: doc.name, mfaPolicy: doc.mfaPolicy, createdAt: doc.createdAt, updatedAt: doc.updatedAt };
}

/**
 * Creates a company (policy `opt_in` unless given). AppError `invalid_company` (400) for an empty or overlong
 * name or an unknown policy; `company_exists` (409) when the name is taken, whatever its case.
 */
export async function createCompany(conn: Connection, input: { name: string; mfaPolicy?: MfaPolicy }): Promise<Company> {
  const name = cleanName(input.name ?? '');
  const problems: string[] = [];
  if (!name) problems.push('name must not be empty');
  else if (name.length > MAX_NAME_LENGTH) problems.push(`name must be at most ${MAX_NAME_LENGTH} characters`);
  if (input.mfaPolicy !== undefined && !isMfaPolicy(input.mfaPolicy)) {
    problems.push(`mfaPolicy must be one of ${MFA_POLICIES.join(', ')}`);
  }
  if (problems.length > 0) {
    throw new AppError('invalid_company', `Invalid company: ${problems.join('; ')}.`, { status: 400 });
  }
  const Company = await companies(conn);
  try {
    const doc = await Company.create({ name, nameKey: nameKeyOf(name), mfaPolicy: input.mfaPolicy ?? 'opt_in' });
    return toCompany(doc.toObject());
  } catch (err) {
    if (isDuplicateKeyError(err)) {
      throw new AppError('company_exists', `A company named "${name}" already exists.`, { status: 409, cause: err });
    }
    throw err;
  }
}

export async function findCompanyById(conn: Connection, id: string): Promise<Company | null> {
  if (typeof id !== 'string') return null;
  const doc = await readModelDocument(await companies(conn), id);
  return doc ? toCompany(doc) : null;
}

/** Looks a company up by name, ignoring case and surrounding whitespace. */
export async function findCompanyByName(conn: Connection, name: string): Promise<Company | null> {
  if (typeof name !== 'string') return null;
  const doc = await (await companies(conn)).findOne({ nameKey: nameKeyOf(name) }).lean<CompanyDoc>().exec();
  return doc ? toCompany(doc) : null;
}

/** All companies, sorted by name. */
export async function listCompanies(conn: Connection): Promise<Company[]> {
  const docs = await (await companies(conn)).find({}).sort({ nameKey: 1 }).lean<CompanyDoc[]>().exec();
  return docs.map(toCompany);
}

/** Sets a company's 2FA policy. AppError `invalid_company` (400) for an unknown policy, `company_not_found` (404). */
export async function setCompanyPolicy(conn: Connection, id: string, policy: MfaPolicy): Promise<Company> {
  if (!isMfaPolicy(policy)) {
    throw new AppError('invalid_company', `Invalid company: mfaPolicy must be one of ${MFA_POLICIES.join(', ')}.`, { status: 400 });
  }
  const doc = await (await companies(conn))
    .findOneAndUpdate({ _id: id }, { $set: { mfaPolicy: policy } }, { returnDocument: 'after' })
    .lean<CompanyDoc>()
    .exec();
  if (!doc) throw new AppError('company_not_found', 'No such company.', { status: 404 });
  return toCompany(doc);
}
