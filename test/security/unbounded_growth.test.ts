/**
 * Threat: unbounded growth of the database. Anyone can make the server write state — a wrong password for any
 * made-up email, an abandoned sign-in, a code sent — so every collection holding temporary state must forget it by
 * itself (a TTL index created at start-up), or a patient attacker fills the disk one request at a time.
 *
 * The flows below write that state over HTTP like a browser; then the plugin's `ensureIndexes` runs (as at start-up)
 * and every collection of the database is listed, so a collection added later is checked without editing this file.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Connection, mongo } from 'mongoose';
import { createAccount } from '../../src/accounts/accounts.ts';
import { DEFAULT_AUDIT_RETENTION_DAYS } from '../../src/audit/audit_log.ts';
import type { Factor } from '../../src/factors/contract.ts';
import { loginThrottleKey, PASSWORD_ATTEMPT_POLICY, PASSWORD_BUCKET, passwordAttemptLimiter } from '../../src/accounts/login_throttle.ts';
import { createStepUp } from '../../src/plugin.ts';
import { ADAPTER_MODEL_NAMES, collectionNameFor } from '../../src/provider/adapter.ts';
import { connectSameDb, wrongCode } from '../factors/support.ts';
import { onlyOnEngine } from '../helpers/db.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, parseForms, useShop, type Page, type Shop } from '../helpers/shop.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';
import { newCustomer, signInConsole } from '../console/support.ts';

const SHOP = 'http://localhost:7777/';
const DAY_MS = 24 * 3_600_000;
/** The product rule under test: an attempt counter is forgotten 30 days after the longest lockout its last failure could start. */
const ATTEMPT_RETENTION_MS = 30 * DAY_MS;
const PASSWORD_COUNTER_LIFETIME_MS = PASSWORD_ATTEMPT_POLICY.maxLockoutMs + ATTEMPT_RETENTION_MS;
const BLOCKED = 'Sign-in with this email address is blocked';

/**
 * Temporary state by design: the attempt counters, the console sessions, the sessions' authentication state, the
 * policy notices, the factor-set leases and everything oidc-provider stores but clients.
 */
const TEMPORARY_COLLECTIONS = [
  'factor_attempts',
  'account_sessions',
  'authentication_states',
  'policy_notices',
  'factor_set_leases',
  ...ADAPTER_MODEL_NAMES.filter((name) => name !== 'Client').map(collectionNameFor),
];
/** State that must stay until someone removes it: no TTL index, no document with an `expiresAt`. */
const LASTING_COLLECTIONS = [
  'accounts', 'companies', 'totp_enrolments', 'email_code_factors', 'recovery_code_sets', 'recovery_codes', 'factor_preferences', 'dev_keys',
];
/** Of those, the ones the flows below are sure to write (so the check cannot pass on an empty database). */
const LASTING_WRITTEN = ['accounts', 'companies', 'totp_enrolments', 'email_code_factors', 'recovery_codes'];

interface IndexInfo {
  name: string;
  key: Record<string, unknown>;
  expireAfterSeconds?: number;
}

interface AttemptRow {
  _id: string;
  failures: number;
  permanent: boolean;
  lastAttemptAt: Date;
  expiresAt?: Date;
}

function db(conn: Connection): mongo.Db {
  if (!conn.db) throw new Error('not connected');
  return conn.db;
}

async function collectionNames(conn: Connection): Promise<string[]> {
  const listed = await db(conn).listCollections({}, { nameOnly: true }).toArray();
  return listed.map((entry) => entry.name).filter((name) => !name.startsWith('system.')).sort();
}

async function indexesOf(conn: Connection, name: string): Promise<IndexInfo[]> {
  return (await db(conn).collection(name).listIndexes().toArray()) as IndexInfo[];
}

/** A TTL index that deletes a document at the moment its `expiresAt` says. */
function isExpiresAtTtl(index: IndexInfo): boolean {
  return Object.keys(index.key).join() === 'expiresAt' && index.expireAfterSeconds === 0;
}

describe('unbounded growth: every collection holding temporary state forgets it by itself', function () {
  const server = useTestServer('unbounded_growth', { mailer: 'config' });
  const shop = useShop(server);
  const clock = useFrozenClock();
  const unknownEmail = 'nobody-ever-registered@example.com';
  const lockedUnknownEmail = 'nobody-locked-forever@example.com';

  before(async function () {
    this.timeout(60_000);
    const passwordPage = async (browser: Browser, email: string, password: string, params?: Record<string, string>) => {
      const pending = await shop.startLogin(params);
      const loginPage = await browser.go(pending.url.href);
      return { pending, page: await browser.submit(findForm(loginPage, '/login'), { email, password }) };
    };

    // Wrong passwords: an email nobody registered, and a registered one.
    for (const email of [unknownEmail, server.accounts.alice.email]) {
      const { page } = await passwordPage(new Browser([SHOP]), email, 'not-the-password');
      expect(page.status, email).to.equal(401);
    }

    // A second-factor sign-in (one wrong code first), up to the shop's tokens.
    const fred = server.mfaAccounts.fred;
    const browser = new Browser([SHOP]);
    const { page: challenge, pending } = await passwordPage(browser, fred.email, fred.password);
    expect(isChallenge(challenge), challenge.html.slice(0, 600)).to.equal(true);
    const retry = await submitCode(browser, challenge, await wrongCode(server.totpSecrets.fred));
    const done = await submitCode(browser, retry, await nextCode(clock, server.totpSecrets.fred));
    expect(done.status, done.html.slice(0, 600)).to.equal(0);
    await shop.finishLogin(pending, done.url);

    // An email code sent: an invoice customer without a factor chooses email codes during the login.
    const email = server.factors.all.find((factor) => factor.role === 'primary' && factor.challenge) as Factor;
    await createAccount(server.conn, { email: 'growth-mail@example.com', password: 'growth-mail-password', name: 'Growth Mail', privileges: ['invoice'] });
    const mailBrowser = new Browser([SHOP]);
    const choice = (await passwordPage(mailBrowser, 'growth-mail@example.com', 'growth-mail-password', { scope: 'openid email invoice' })).page;
    expect(parseForms(choice).some((form) => form.action.endsWith('/enrol/method')), choice.html.slice(0, 600)).to.equal(true);
    const sent = await mailBrowser.submit(findForm(choice, '/enrol/method'), { method: email.id });
    expect(sent.html).to.include('We sent a 6-digit code');

    // A console sign-in.
    await signInConsole(server, new Browser(), await newCustomer(server, 'growth-console'), clock);

    // Start-up: the plugin's ensureIndexes (as main.ts calls it).
    await createStepUp({ conn: server.conn, issuerName: 'growth', factors: server.factors }).ensureIndexes();
  });

  it('every collection holding a document with an `expiresAt` has a TTL index on `expiresAt`', async function () {
    const withExpiry: string[] = [];
    const missing: string[] = [];
    for (const name of await collectionNames(server.conn)) {
      if ((await db(server.conn).collection(name).countDocuments({ expiresAt: { $exists: true } })) === 0) continue;
      withExpiry.push(name);
      if (!(await indexesOf(server.conn, name)).some(isExpiresAtTtl)) missing.push(name);
    }
    expect(missing, 'collections whose expiresAt nothing enforces').to.deep.equal([]);
    expect(withExpiry, 'the flows wrote temporary state').to.include.members(['factor_attempts', 'account_sessions', collectionNameFor('Session')]);
  });

  it('each collection known to hold temporary state has its TTL index', async function () {
    const names = await collectionNames(server.conn);
    const missing: string[] = [];
    for (const name of TEMPORARY_COLLECTIONS) {
      if (!names.includes(name) || !(await indexesOf(server.conn, name)).some(isExpiresAtTtl)) missing.push(name);
    }
    expect(missing).to.deep.equal([]);
  });

  it("an unknown email's password counter expires 30 days after the longest lockout its last failure could start — like a registered email's", async function () {
    const attempts = db(server.conn).collection<AttemptRow>('factor_attempts');
    const rowOf = async (email: string): Promise<AttemptRow | null> => attempts.findOne({ _id: `${PASSWORD_BUCKET}:${loginThrottleKey(server.provider, email)}` });
    const unknown = await rowOf(unknownEmail);
    const known = await rowOf(server.accounts.alice.email);
    for (const [label, row] of [['unknown', unknown], ['registered', known]] as const) {
      expect(row, label).to.not.equal(null);
      expect(row?.failures, label).to.equal(1);
      expect(row?.expiresAt, `${label}: expiresAt`).to.be.instanceOf(Date);
      const expiresAt = (row?.expiresAt as Date).getTime();
      expect(expiresAt, label).to.be.greaterThan(Date.now());
      expect(expiresAt, label).to.be.at.most(Date.now() + PASSWORD_COUNTER_LIFETIME_MS);
      expect(expiresAt - (row as AttemptRow).lastAttemptAt.getTime(), `${label}: set with the failure`).to.equal(PASSWORD_COUNTER_LIFETIME_MS);
    }
    // The second factor's counter of the account that typed a wrong code expires by the same rule.
    const secondFactor = await attempts.findOne({ accountId: server.mfaAccounts.fred.id });
    expect(secondFactor?.expiresAt, 'second-factor counter').to.be.instanceOf(Date);
  });

  it('a permanent lock carries no expiry: after 100 failures an unknown and a registered email stay blocked alike', async function () {
    this.timeout(60_000);
    const limiter = passwordAttemptLimiter(server.conn);
    const lockForever = async (email: string): Promise<void> => {
      const key = loginThrottleKey(server.provider, email);
      for (let round = 0; round < 3 * PASSWORD_ATTEMPT_POLICY.maxConsecutiveFailures; round += 1) {
        const reserved = await limiter.reserve(key);
        if (reserved.ok) {
          await limiter.fail(reserved.ticket);
          continue;
        }
        if (reserved.permanent) return;
        clock.tick((reserved.until?.getTime() ?? Date.now()) - Date.now() + 1);
      }
      throw new Error(`${email} never reached the permanent lock`);
    };
    await lockForever(lockedUnknownEmail);
    await lockForever(server.accounts.bob.email);

    const attempts = db(server.conn).collection<AttemptRow>('factor_attempts');
    for (const email of [lockedUnknownEmail, server.accounts.bob.email]) {
      const row = await attempts.findOne({ _id: `${PASSWORD_BUCKET}:${loginThrottleKey(server.provider, email)}` });
      expect(row?.permanent, email).to.equal(true);
      expect(row?.failures, email).to.equal(PASSWORD_ATTEMPT_POLICY.maxConsecutiveFailures);
      expect(row, `${email}: no expiresAt`).to.not.have.property('expiresAt');
    }
    const unknownPage = await attemptLogin(shop, lockedUnknownEmail, 'any-password');
    const knownPage = await attemptLogin(shop, server.accounts.bob.email, server.accounts.bob.password);
    expect([unknownPage.status, knownPage.status]).to.deep.equal([429, 429]);
    expect(unknownPage.html).to.include(BLOCKED);
    expect(knownPage.html).to.include(BLOCKED);
  });

  it("31 days later the TTL sweep has removed the unknown email's counter, and both permanent locks still hold (engine only: skipped on real MongoDB)", async function () {
    onlyOnEngine(this);
    const attempts = db(server.conn).collection<AttemptRow>('factor_attempts');
    const unknownId = `${PASSWORD_BUCKET}:${loginThrottleKey(server.provider, unknownEmail)}`;
    expect(await attempts.findOne({ _id: unknownId })).to.not.equal(null);
    clock.tick(31 * DAY_MS + PASSWORD_ATTEMPT_POLICY.maxLockoutMs);
    // The engine's sweep runs on a real timer (every 100 ms in the tests): wait for it, not for the frozen time.
    for (let i = 0; i < 50 && (await attempts.findOne({ _id: unknownId })); i += 1) await sleep(50);
    expect(await attempts.findOne({ _id: unknownId }), 'the unknown email is forgotten').to.equal(null);
    for (const email of [lockedUnknownEmail, server.accounts.bob.email]) {
      const row = await attempts.findOne({ _id: `${PASSWORD_BUCKET}:${loginThrottleKey(server.provider, email)}` });
      expect(row?.permanent, email).to.equal(true);
    }
    expect((await attemptLogin(shop, server.accounts.bob.email, server.accounts.bob.password)).html).to.include(BLOCKED);
    expect((await attemptLogin(shop, lockedUnknownEmail, 'any-password')).html).to.include(BLOCKED);
  });

  it('collections that must stay get no expiry, and the audit log keeps only its retention TTL on `at`', async function () {
    const names = await collectionNames(server.conn);
    expect(names).to.include.members([...LASTING_WRITTEN, 'audit_events', collectionNameFor('Client')]);
    for (const name of LASTING_COLLECTIONS.filter((lasting) => names.includes(lasting))) {
      const ttl = (await indexesOf(server.conn, name)).filter((index) => index.expireAfterSeconds !== undefined);
      expect(ttl, `${name}: TTL indexes`).to.deep.equal([]);
      expect(await db(server.conn).collection(name).countDocuments({ expiresAt: { $exists: true } }), `${name}: documents with expiresAt`).to.equal(0);
    }
    const auditTtl = (await indexesOf(server.conn, 'audit_events')).filter((index) => index.expireAfterSeconds !== undefined);
    expect(auditTtl.map((index) => [index.key, index.expireAfterSeconds])).to.deep.equal([[{ at: 1 }, DEFAULT_AUDIT_RETENTION_DAYS * 86_400]]);
    // Shop clients live in a collection of the adapter (TTL on expiresAt) but never carry an expiresAt.
    expect(await db(server.conn).collection(collectionNameFor('Client')).countDocuments({ expiresAt: { $exists: true } })).to.equal(0);
  });

  it('ensureIndexes run again by another server instance changes no index', async function () {
    const other = await connectSameDb(server.conn);
    try {
      const snapshot = async (): Promise<string> => {
        const all: Record<string, IndexInfo[]> = {};
        for (const name of await collectionNames(server.conn)) {
          all[name] = (await indexesOf(server.conn, name)).map(({ name: indexName, key, expireAfterSeconds }) => ({ name: indexName, key, expireAfterSeconds }));
        }
        return JSON.stringify(all);
      };
      const before = await snapshot();
      await createStepUp({ conn: other, issuerName: 'growth', factors: server.factors }).ensureIndexes();
      expect(await snapshot()).to.equal(before);
    } finally {
      await other.close();
    }
  });
});

/** One password attempt from a fresh browser. */
async function attemptLogin(shop: Shop, email: string, password: string): Promise<Page> {
  const browser = new Browser([SHOP]);
  const pending = await shop.startLogin();
  const loginPage = await browser.go(pending.url.href);
  return browser.submit(findForm(loginPage, '/login'), { email, password });
}
