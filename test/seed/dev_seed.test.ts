import { expect } from 'chai';
import type { Connection } from 'mongoose';
import { findAccountByEmail, listAccounts, setPassword, verifyLogin } from '../../src/accounts/accounts.ts';
import { findCompanyByName, listCompanies } from '../../src/accounts/companies.ts';
import { findClient, listClients } from '../../src/provider/clients.ts';
import { DEMO_CLIENT_ID, DEMO_COMPANY_NAME, seedDevData } from '../../src/seed/dev_seed.ts';
import { connectFreshDb } from '../helpers/db.ts';

const REDIRECT = 'http://localhost:3001/callback';
const LOGOUT = 'http://localhost:3001/';

describe('dev seed', function () {
  let conn: Connection;
  beforeEach(async function () {
    conn = await connectFreshDb('seed');
  });
  afterEach(async function () {
    await conn.dropDatabase();
    await conn.close();
  });

  it('creates a confidential first-party demo client and demo users who can log in with the documented passwords', async function () {
    const seed = await seedDevData(conn, { shopRedirectUris: [REDIRECT], shopPostLogoutRedirectUris: [LOGOUT] });
    expect(seed.client.clientId).to.equal(DEMO_CLIENT_ID);
    expect(seed.client.clientSecret).to.be.a('string').with.length.of.at.least(32);
    expect(seed.client.redirectUris).to.deep.equal([REDIRECT]);
    const client = await findClient(conn, DEMO_CLIENT_ID);
    expect(client).to.include({ firstParty: true, public: false, clientSecret: seed.client.clientSecret });
    expect(client?.postLogoutRedirectUris).to.deep.equal([LOGOUT]);

    expect(seed.users).to.have.length(4);
    for (const user of seed.users) {
      expect(user.description).to.be.a('string').and.not.equal('');
      expect(await verifyLogin(conn, user.email, user.password), user.email).to.not.equal(null);
    }
  });

  it('has a plain customer, an invoice customer, and a company admin and member under an opt_in company', async function () {
    await seedDevData(conn, { shopRedirectUris: [REDIRECT] });
    const company = await findCompanyByName(conn, DEMO_COMPANY_NAME);
    expect(company?.mfaPolicy).to.equal('opt_in');
    const all = await listAccounts(conn);
    const plain = all.filter((a) => a.companyId === null && a.privileges.length === 0);
    const invoice = all.filter((a) => a.companyId === null && a.privileges.includes('invoice'));
    const members = await listAccounts(conn, { companyId: company?.id as string });
    expect(plain).to.have.length(1);
    expect(invoice).to.have.length(1);
    expect(members.map((a) => a.companyRole).sort()).to.deep.equal(['admin', 'member']);
  });

  it('is idempotent: a second run creates nothing and keeps the client secret', async function () {
    const first = await seedDevData(conn, { shopRedirectUris: [REDIRECT] });
    const counts = async (): Promise<number[]> => [
      (await listAccounts(conn)).length,
      (await listCompanies(conn)).length,
      (await listClients(conn)).length,
    ];
    const before = await counts();
    const second = await seedDevData(conn, { shopRedirectUris: [REDIRECT] });
    expect(await counts()).to.deep.equal(before);
    expect(before).to.deep.equal([4, 1, 1]);
    expect(second).to.deep.equal(first);
    expect((await findClient(conn, DEMO_CLIENT_ID))?.clientSecret).to.equal(first.client.clientSecret);
  });

  it('two instances seeding one empty database at once still end with one of each', async function () {
    const runs = await Promise.all([
      seedDevData(conn, { shopRedirectUris: [REDIRECT] }),
      seedDevData(conn, { shopRedirectUris: [REDIRECT] }),
    ]);
    expect((await listAccounts(conn)).length).to.equal(4);
    expect((await listCompanies(conn)).length).to.equal(1);
    expect((await listClients(conn)).length).to.equal(1);
    const stored = (await findClient(conn, DEMO_CLIENT_ID))?.clientSecret;
    // both instances print the secret that is actually stored
    expect(runs.map((run) => run.client.clientSecret)).to.deep.equal([stored, stored]);
  });

  it('adds a new redirect URI to the existing demo client and keeps its secret', async function () {
    const first = await seedDevData(conn, { shopRedirectUris: [REDIRECT] });
    const moved = 'http://localhost:4000/callback';
    const second = await seedDevData(conn, { shopRedirectUris: [moved] });
    expect(second.client.clientSecret).to.equal(first.client.clientSecret);
    expect(second.client.redirectUris).to.deep.equal([REDIRECT, moved]);
    expect((await findClient(conn, DEMO_CLIENT_ID))?.redirectUris).to.deep.equal([REDIRECT, moved]);
  });

  it('leaves a demo account that was changed as it is', async function () {
    await seedDevData(conn, { shopRedirectUris: [REDIRECT] });
    const account = await findAccountByEmail(conn, 'customer@example.com');
    await setPassword(conn, account?.id as string, 'changed by the developer');
    await seedDevData(conn, { shopRedirectUris: [REDIRECT] });
    expect(await verifyLogin(conn, 'customer@example.com', 'changed by the developer')).to.not.equal(null);
  });
});
