import { expect } from 'chai';
import type { Connection } from 'mongoose';
import {
  createAccount,
  findAccountByEmail,
  findAccountById,
  InvalidAccountError,
  listAccounts,
  normaliseEmail,
  setAccountStatus,
  setPassword,
  setPrivilege,
  verifyLogin,
} from '../../src/accounts/accounts.ts';
import { createCompany } from '../../src/accounts/companies.ts';
import { accounts } from '../../src/accounts/models.ts';
import { hashPassword, needsRehash } from '../../src/accounts/passwords.ts';
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

async function storedHash(conn: Connection, id: string): Promise<string> {
  const doc = await (await accounts(conn)).findById(id).lean().exec();
  return doc?.passwordHash as string;
}

describe('accounts', function () {
  let conn: Connection;
  beforeEach(async function () {
    conn = await connectFreshDb('accounts');
  });
  afterEach(async function () {
    await conn.dropDatabase();
    await conn.close();
  });

  describe('normaliseEmail', function () {
    it('trims, lower-cases and NFC-normalises', function () {
      expect(normaliseEmail('  Jane.Doe+Shop@Example.COM ')).to.equal('jane.doe+shop@example.com');
    });

    it('rejects what is not an email address, with code invalid_email', function () {
      for (const bad of ['', '   ', 'no-at-sign', 'two@@example.com', 'spa ce@example.com', '@example.com', 'a@', `${'a'.repeat(250)}@example.com`]) {
        expect(() => normaliseEmail(bad), bad).to.throw(AppError).with.property('code', 'invalid_email');
      }
    });
  });

  describe('createAccount', function () {
    it('creates an active account with a string id, normalised email and no privileges', async function () {
      const account = await createAccount(conn, { email: ' Alice@Example.com', password: 'correct horse', name: ' Alice ' });
      expect(account.id).to.be.a('string').with.length.greaterThan(8);
      expect(account).to.include({ email: 'alice@example.com', name: 'Alice', companyId: null, companyRole: null, status: 'active' });
      expect(account.privileges).to.deep.equal([]);
      expect(account.createdAt).to.be.instanceOf(Date);
      expect(account).to.not.have.property('passwordHash');
      expect(await findAccountById(conn, account.id)).to.deep.equal(account);
      expect(await findAccountByEmail(conn, 'ALICE@example.com ')).to.deep.equal(account);
    });

    it('stores an Argon2id hash with its parameters, never the password', async function () {
      const account = await createAccount(conn, { email: 'bob@example.com', password: 'correct horse', name: 'Bob' });
      const hash = await storedHash(conn, account.id);
      expect(hash).to.match(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      expect(hash).to.not.include('correct horse');
    });

    it('rejects a duplicate email in another case with account_exists (409)', async function () {
      await createAccount(conn, { email: 'carol@example.com', password: 'password-1', name: 'Carol' });
      const error = await rejection(createAccount(conn, { email: 'CAROL@Example.com', password: 'password-2', name: 'Carol 2' }));
      expect(error.code).to.equal('account_exists');
      expect(error.status).to.equal(409);
      expect(await listAccounts(conn)).to.have.length(1);
    });

    it('lets only one of two concurrent creations with one email win (unique index)', async function () {
      const results = await Promise.allSettled([
        createAccount(conn, { email: 'race@example.com', password: 'password-1', name: 'One' }),
        createAccount(conn, { email: 'Race@example.com', password: 'password-2', name: 'Two' }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
      const failed = results.find((r) => r.status === 'rejected');
      expect((failed as PromiseRejectedResult).reason).to.have.property('code', 'account_exists');
    });

    it('lists every validation problem at once (invalid_account, 400)', async function () {
      const error = await rejection(
        createAccount(conn, { email: 'not-an-email', password: 'short', name: '  ', companyId: 'no-such-company' }),
      );
      expect(error).to.be.instanceOf(InvalidAccountError);
      expect(error.code).to.equal('invalid_account');
      expect(error.status).to.equal(400);
      const problems = (error as InvalidAccountError).problems;
      expect(problems).to.have.length(4);
      expect(problems.join('\n')).to.match(/email/).and.match(/at least 8/).and.match(/name/).and.match(/company no-such-company/);
      expect(error.message).to.include('at least 8');
      expect(await listAccounts(conn)).to.have.length(0);
    });

    it('accepts 8 to 256 characters of password, counted in characters, and refuses 257', async function () {
      await createAccount(conn, { email: 'eight@example.com', password: '12345678', name: 'Eight' });
      await createAccount(conn, { email: 'emoji@example.com', password: '🔑'.repeat(256), name: 'Emoji' });
      const tooLong = await rejection(createAccount(conn, { email: 'long@example.com', password: 'x'.repeat(257), name: 'Long' }));
      expect(tooLong.message).to.include('at most 256');
      const tooShort = await rejection(createAccount(conn, { email: 'seven@example.com', password: '1234567', name: 'Seven' }));
      expect(tooShort.message).to.include('at least 8');
    });

    it('joins a company as member by default, as admin when asked', async function () {
      const company = await createCompany(conn, { name: 'ACME AG' });
      const member = await createAccount(conn, { email: 'm@acme.example', password: 'password-1', name: 'M', companyId: company.id });
      const admin = await createAccount(conn, {
        email: 'a@acme.example', password: 'password-1', name: 'A', companyId: company.id, companyRole: 'admin',
      });
      expect(member).to.include({ companyId: company.id, companyRole: 'member' });
      expect(admin).to.include({ companyId: company.id, companyRole: 'admin' });
      await createAccount(conn, { email: 'solo@example.com', password: 'password-1', name: 'Solo' });
      expect((await listAccounts(conn, { companyId: company.id })).map((a) => a.email)).to.deep.equal(['a@acme.example', 'm@acme.example']);
      expect(await listAccounts(conn)).to.have.length(3);
    });

    it('refuses a company role without a company', async function () {
      const error = await rejection(createAccount(conn, { email: 'r@example.com', password: 'password-1', name: 'R', companyRole: 'admin' }));
      expect(error.message).to.include('companyRole needs a company');
    });
  });

  describe('verifyLogin', function () {
    it('answers the account for the right password, whatever the email case', async function () {
      const account = await createAccount(conn, { email: 'dora@example.com', password: 'right password', name: 'Dora' });
      expect(await verifyLogin(conn, ' DORA@example.com', 'right password')).to.deep.equal(account);
    });

    it('answers null for a wrong password, an unknown email, a malformed email and a disabled account', async function () {
      const account = await createAccount(conn, { email: 'erin@example.com', password: 'right password', name: 'Erin' });
      expect(await verifyLogin(conn, 'erin@example.com', 'wrong password')).to.equal(null);
      expect(await verifyLogin(conn, 'nobody@example.com', 'right password')).to.equal(null);
      expect(await verifyLogin(conn, 'not an email', 'right password')).to.equal(null);
      await setAccountStatus(conn, account.id, 'disabled');
      expect(await verifyLogin(conn, 'erin@example.com', 'right password')).to.equal(null);
      await setAccountStatus(conn, account.id, 'active');
      expect(await verifyLogin(conn, 'erin@example.com', 'right password')).to.not.equal(null);
    });

    it('upgrades a hash made with outdated parameters after a successful login, not after a failed one', async function () {
      const account = await createAccount(conn, { email: 'old@example.com', password: 'old password', name: 'Old' });
      const weak = await hashPassword('old password', { N: 2 ** 10, r: 8, p: 1, keyLength: 32 });
      await (await accounts(conn)).updateOne({ _id: account.id }, { $set: { passwordHash: weak } }).exec();

      expect(await verifyLogin(conn, 'old@example.com', 'wrong password')).to.equal(null);
      expect(await storedHash(conn, account.id)).to.equal(weak);

      expect(await verifyLogin(conn, 'old@example.com', 'old password')).to.not.equal(null);
      const upgraded = await storedHash(conn, account.id);
      expect(upgraded).to.not.equal(weak);
      expect(upgraded.startsWith('$argon2id$')).to.equal(true);
      expect(needsRehash(upgraded)).to.equal(false);
      expect(await verifyLogin(conn, 'old@example.com', 'old password')).to.not.equal(null);
    });
  });

  describe('setPrivilege', function () {
    it('grants and revokes the invoice privilege, idempotently', async function () {
      const account = await createAccount(conn, { email: 'fred@example.com', password: 'password-1', name: 'Fred' });
      expect((await setPrivilege(conn, account.id, 'invoice', true)).privileges).to.deep.equal(['invoice']);
      expect((await setPrivilege(conn, account.id, 'invoice', true)).privileges).to.deep.equal(['invoice']);
      expect((await findAccountById(conn, account.id))?.privileges).to.deep.equal(['invoice']);
      expect((await setPrivilege(conn, account.id, 'invoice', false)).privileges).to.deep.equal([]);
      expect((await setPrivilege(conn, account.id, 'invoice', false)).privileges).to.deep.equal([]);
    });

    it('creates an account with the invoice privilege when asked', async function () {
      const account = await createAccount(conn, { email: 'gina@example.com', password: 'password-1', name: 'Gina', privileges: ['invoice'] });
      expect(account.privileges).to.deep.equal(['invoice']);
    });

    it('answers account_not_found (404) for an unknown account and invalid_privilege for an unknown privilege', async function () {
      expect((await rejection(setPrivilege(conn, 'nope', 'invoice', true))).code).to.equal('account_not_found');
      const account = await createAccount(conn, { email: 'hank@example.com', password: 'password-1', name: 'Hank' });
      const error = await rejection(setPrivilege(conn, account.id, 'admin' as 'invoice', true));
      expect(error.code).to.equal('invalid_privilege');
    });
  });

  describe('setPassword', function () {
    it('replaces the password: the old one stops working, the new one works', async function () {
      const account = await createAccount(conn, { email: 'ivy@example.com', password: 'first password', name: 'Ivy' });
      await setPassword(conn, account.id, 'second password');
      expect(await verifyLogin(conn, 'ivy@example.com', 'first password')).to.equal(null);
      expect(await verifyLogin(conn, 'ivy@example.com', 'second password')).to.not.equal(null);
    });

    it('refuses a short password and an unknown account', async function () {
      const account = await createAccount(conn, { email: 'jo@example.com', password: 'first password', name: 'Jo' });
      expect((await rejection(setPassword(conn, account.id, 'short'))).code).to.equal('invalid_account');
      expect((await rejection(setPassword(conn, 'nope', 'long enough'))).code).to.equal('account_not_found');
      expect(await verifyLogin(conn, 'jo@example.com', 'first password')).to.not.equal(null);
    });
  });
});
