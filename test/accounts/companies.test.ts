import { expect } from 'chai';
import type { Connection } from 'mongoose';
import {
  createCompany,
  ensureAccountIndexes,
  findCompanyById,
  findCompanyByName,
  listCompanies,
  setCompanyPolicy,
} from '../../src/accounts/companies.ts';
import { AppError } from '../../src/shared/errors.ts';
import { connectFreshDb } from '../helpers/db.ts';

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(AppError);
    return err as AppError;
  }
  expect.fail('expected a rejection');
}

describe('companies', function () {
  let conn: Connection;
  beforeEach(async function () {
    conn = await connectFreshDb('companies');
  });
  afterEach(async function () {
    await conn.dropDatabase();
    await conn.close();
  });

  it('a new company has the 2FA policy opt_in unless told otherwise', async function () {
    const plain = await createCompany(conn, { name: 'Opt In GmbH' });
    const forced = await createCompany(conn, { name: 'Forced AG', mfaPolicy: 'forced' });
    expect(plain.mfaPolicy).to.equal('opt_in');
    expect(forced.mfaPolicy).to.equal('forced');
    expect(plain.id).to.be.a('string');
    expect(await findCompanyById(conn, plain.id)).to.deep.equal(plain);
  });

  it('sets the policy, and the change is stored', async function () {
    const company = await createCompany(conn, { name: 'Switch KG' });
    const updated = await setCompanyPolicy(conn, company.id, 'forced');
    expect(updated.mfaPolicy).to.equal('forced');
    expect((await findCompanyById(conn, company.id))?.mfaPolicy).to.equal('forced');
    expect((await setCompanyPolicy(conn, company.id, 'opt_in')).mfaPolicy).to.equal('opt_in');
  });

  it('refuses an unknown policy and an unknown company', async function () {
    const company = await createCompany(conn, { name: 'Strict SE' });
    expect((await rejection(setCompanyPolicy(conn, company.id, 'sometimes' as 'forced'))).code).to.equal('invalid_company');
    expect((await rejection(setCompanyPolicy(conn, 'no-such-id', 'forced'))).code).to.equal('company_not_found');
    expect((await rejection(createCompany(conn, { name: 'Other', mfaPolicy: 'never' as 'forced' }))).code).to.equal('invalid_company');
  });

  it('names are unique regardless of case and spacing (company_exists, 409)', async function () {
    await createCompany(conn, { name: 'Demo Company GmbH' });
    const error = await rejection(createCompany(conn, { name: '  demo  COMPANY gmbh ' }));
    expect(error.code).to.equal('company_exists');
    expect(error.status).to.equal(409);
    expect(await listCompanies(conn)).to.have.length(1);
  });

  it('finds a company by name in any case, keeps the name as written, lists by name', async function () {
    await createCompany(conn, { name: 'Zeta Ltd' });
    const alpha = await createCompany(conn, { name: ' Alpha   Inc ' });
    expect(alpha.name).to.equal('Alpha Inc');
    expect(await findCompanyByName(conn, 'ALPHA INC')).to.deep.equal(alpha);
    expect(await findCompanyByName(conn, 'Beta')).to.equal(null);
    expect((await listCompanies(conn)).map((c) => c.name)).to.deep.equal(['Alpha Inc', 'Zeta Ltd']);
  });

  it('refuses an empty name', async function () {
    const error = await rejection(createCompany(conn, { name: '   ' }));
    expect(error.code).to.equal('invalid_company');
    expect(error.status).to.equal(400);
  });

  it('ensureAccountIndexes creates the unique indexes and can run twice', async function () {
    await ensureAccountIndexes(conn);
    await ensureAccountIndexes(conn);
    const companyIndexes = await conn.collection('companies').indexes();
    const accountIndexes = await conn.collection('accounts').indexes();
    expect(companyIndexes.find((index) => index.key.nameKey === 1)).to.include({ unique: true });
    expect(accountIndexes.find((index) => index.key.email === 1)).to.include({ unique: true });
  });
});
