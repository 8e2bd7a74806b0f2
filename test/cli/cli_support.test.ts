import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import mongoose, { type Connection } from 'mongoose';
import { createAccount, type Account } from '../../src/accounts/accounts.ts';
import { listEvents } from '../../src/audit/audit_log.ts';
import { NOT_EMAILED_NO_SMTP } from '../../src/cli/commands/user.ts';
import { runCli, type CliIo } from '../../src/cli/run.ts';
import { loadConfig } from '../../src/config/index.ts';
import { resolveMfaSecrets } from '../../src/provider/mfa_secrets.ts';
import { createDefaultFactors, createSecretBox, type FactorRegistry } from '../../src/factors/index.ts';
import { createAttemptLimiter } from '../../src/factors/shared/attempts.ts';
import { loginThrottleKey, passwordAttemptLimiter } from '../../src/accounts/login_throttle.ts';
import { generateProviderKeys, loadOrCreateDevKeys } from '../../src/provider/keys.ts';
import { activeFactors } from '../../src/security/support_actions.ts';
import { closedPort, startSmtp, type TestSmtp } from '../mail/support.ts';
import { enrolEveryFactor, memoryCodeMailer } from '../security/support.ts';
import { noStackTrace, terminal } from './cli_io.ts';
import { freshDbUri } from './db_uri.ts';
import { failOnce } from '../factors/support.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('operators CLI: user reset-factors and user unlock', function () {
  let uri: string;
  let conn: Connection;
  let emptyDir: string;
  let registry: FactorRegistry;
  const codes = memoryCodeMailer();

  async function cli(argv: string[], options: { env?: Record<string, string | undefined>; stdin?: CliIo['stdin'] } = {}): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const code = await runCli(argv, {
      stdout: { write: (chunk: string) => (stdout += chunk) },
      stderr: { write: (chunk: string) => (stderr += chunk) },
      stdin: options.stdin ?? Object.assign(Readable.from([]), { isTTY: false }),
      env: options.env ?? { MONGODB_URI: uri, USER: 'alice' },
      cwd: emptyDir,
    });
    return { code, stdout, stderr };
  }



  async function customer(email: string): Promise<Account> {
    return createAccount(conn, { email, name: 'Max Muster', password: 'a long password' });
  }

  /** The second-factor bucket locked by five failed attempts. */
  async function lockSecondFactor(accountId: string): Promise<void> {
    const limiter = createAttemptLimiter(conn);
    for (let i = 0; i < 5; i += 1) await failOnce(limiter, accountId);
    expect(await limiter.status(accountId)).to.include({ locked: true });
  }

  before(async function () {
    emptyDir = await mkdtemp(join(tmpdir(), 'cli-support-'));
  });
  after(async function () {
    await rm(emptyDir, { recursive: true, force: true });
  });
  beforeEach(async function () {
    uri = freshDbUri('cli_support');
    conn = await mongoose.createConnection(uri).asPromise();
    // The factors as the server builds them on this database (its dev secrets, which the CLI then reads too).
    const secrets = await resolveMfaSecrets(loadConfig({ MONGODB_URI: uri }), conn);
    ({ registry } = createDefaultFactors({
      conn, secretBox: createSecretBox(secrets.factorKeys), issuer: 'oidc-stepup', recoveryPepper: secrets.peppers.recoveryCodes,
      codeMailer: codes, emailCodePepper: secrets.peppers.emailCodes,
    }));
  });
  afterEach(async function () {
    await conn.dropDatabase();
    await conn.close();
  });

  describe('bad arguments and unknown accounts', function () {
    const badArguments: Array<[string[], RegExp]> = [
      [['user', 'reset-factors'], /user reset-factors: missing EMAIL/],
      [['user', 'reset-factors', 'a@example.com'], /stdin is not a terminal.*add --yes to confirm/],
      [['user', 'reset-factors', 'a@example.com', 'b@example.com', '--yes'], /unexpected argument "b@example.com"/],
      [['user', 'reset-factors', 'a@example.com', '--force'], /Unknown option '--force'/],
      [['user', 'unlock'], /user unlock: missing EMAIL/],
      [['user', 'unlock', 'a@example.com', '--yes'], /Unknown option '--yes'/],
    ];
    for (const [argv, message] of badArguments) {
      it(`exit 2 with a message and the usage, before any database: ${argv.join(' ')}`, async function () {
        const run = await cli(argv, { env: {} });
        expect(run.stderr).to.match(/^Error: /).and.match(message);
        expect(run.stderr).to.match(new RegExp(`Usage: npm run cli -- ${argv.slice(0, 2).join(' ')} EMAIL`));
        expect(run.code).to.equal(2);
        expect(run.stdout).to.equal('');
        noStackTrace(run);
      });
    }

    for (const argv of [['user', 'reset-factors', 'ghost@example.com', '--yes'], ['user', 'unlock', 'ghost@example.com']]) {
      it(`an unknown email: message, exit 1: ${argv.join(' ')}`, async function () {
        const run = await cli(argv);
        expect(run.code).to.equal(1);
        expect(run.stderr).to.equal('Error: No account with the email ghost@example.com.\n');
        expect(run.stdout).to.equal('');
      });
    }

    it('a broken configuration: every problem listed, exit 1, nothing changed', async function () {
      const account = await customer('conf@example.com');
      await enrolEveryFactor(registry, codes, account);
      const run = await cli(['user', 'reset-factors', 'conf@example.com', '--yes'], { env: { MONGODB_URI: uri, SMTP_URL: 'ftp://mail.example', PORT: 'eighty' } });
      expect(run.code).to.equal(1);
      expect(run.stderr).to.match(/^Error: The configuration has 2 problem\(s\):/).and.include('SMTP_URL').and.include('PORT');
      noStackTrace(run);
      expect(await activeFactors(registry, account.id)).to.have.length(3);
    });

    it('help lists both commands', async function () {
      const run = await cli(['help'], { env: {} });
      expect(run.stdout).to.include('user reset-factors EMAIL [--yes]').and.include('user unlock EMAIL');
    });
  });

  describe('user reset-factors', function () {
    it('--yes without SMTP_URL: removes every factor, lifts the lock, records the operator, says the customer was not emailed', async function () {
      const account = await customer('lost@example.com');
      await enrolEveryFactor(registry, codes, account);
      await lockSecondFactor(account.id);

      const run = await cli(['user', 'reset-factors', 'LOST@example.com', '--yes']);
      expect(run.stderr).to.equal('');
      expect(run.code).to.equal(0);
      expect(run.stdout).to.equal([
        'Reset the second factors of lost@example.com: removed Authenticator app (totp), Email code (email_code), Recovery code (recovery_code).',
        'The second-factor lockout was lifted.',
        'They set up a new second factor at their next sign-in that needs one.',
        NOT_EMAILED_NO_SMTP,
        '',
      ].join('\n'));

      expect(await activeFactors(registry, account.id)).to.deep.equal([]);
      expect(await createAttemptLimiter(conn).status(account.id)).to.include({ locked: false });
      const [event] = await listEvents(conn, account.id);
      expect(event).to.deep.include({ event: 'factors_reset', actor: { type: 'support', id: 'alice' } });
      expect(event?.details).to.deep.include({ by: 'support', unlocked: true });
      expect(event?.details?.removed).to.have.length(3);
    });

    it('with SMTP_URL: the customer gets the mail, and the output says so', async function () {
      const smtp: TestSmtp = await startSmtp();
      try {
        const account = await customer('mailed@example.com');
        await enrolEveryFactor(registry, codes, account);
        const run = await cli(['user', 'reset-factors', 'mailed@example.com', '--yes'], {
          env: { MONGODB_URI: uri, SMTP_URL: smtp.url, MAIL_FROM: 'no-reply@keys.example', ISSUER_NAME: 'Keys Express' },
        });
        expect(run.stderr).to.equal('');
        expect(run.code).to.equal(0);
        expect(run.stdout).to.include('Emailed mailed@example.com about the reset.').and.not.include('not emailed');
        const { parsed, envelopeTo } = await smtp.next();
        expect(envelopeTo).to.deep.equal(['mailed@example.com']);
        expect(parsed.subject).to.equal('Your Keys Express two-factor authentication (2FA) was reset');
        expect(String(parsed.text)).to.include('removed by Keys Express support');
        // USER was unset: the operator is recorded as "cli"
        expect((await listEvents(conn, account.id)).map((event) => event.actor)).to.deep.equal([{ type: 'support', id: 'cli' }]);
        const none = await cli(['user', 'reset-factors', 'mailed@example.com', '--yes'], { env: { MONGODB_URI: uri, SMTP_URL: smtp.url } });
        expect(none.stdout).to.equal('mailed@example.com had no second factor: nothing was removed.\nNothing changed; the customer was not emailed.\n');
        expect(await listEvents(conn, account.id)).to.have.length(1);
        expect(smtp.received).to.have.length(1);
      } finally {
        await smtp.close();
      }
    });

    it('when the SMTP server is down: the reset stands, a warning, and "NOT emailed"', async function () {
      const account = await customer('down@example.com');
      await enrolEveryFactor(registry, codes, account);
      const run = await cli(['user', 'reset-factors', 'down@example.com', '--yes'], {
        env: { MONGODB_URI: uri, SMTP_URL: `smtp://127.0.0.1:${await closedPort()}` },
      });
      expect(run.code).to.equal(0);
      expect(run.stdout).to.include('The customer was NOT emailed: sending the notification failed');
      expect(run.stderr).to.match(/^Warning: mail to .* failed/);
      noStackTrace(run);
      expect(await activeFactors(registry, account.id)).to.deep.equal([]);
    });

    it('on a terminal without --yes: asks first; anything but yes changes nothing', async function () {
      const account = await customer('asked@example.com');
      await enrolEveryFactor(registry, codes, account);

      const declined = await cli(['user', 'reset-factors', 'asked@example.com'], { stdin: terminal('n\n') });
      expect(declined.stderr).to.include('Remove Authenticator app (totp), Email code (email_code), Recovery code (recovery_code) from asked@example.com?');
      expect(declined.stderr).to.include('Error: Aborted: nothing was changed.');
      expect(declined.code).to.equal(1);
      expect(await activeFactors(registry, account.id)).to.have.length(3);
      expect(await listEvents(conn, account.id)).to.deep.equal([]);

      const accepted = await cli(['user', 'reset-factors', 'asked@example.com'], { stdin: terminal('yes\n') });
      expect(accepted.code, accepted.stderr).to.equal(0);
      expect(accepted.stdout).to.include('Reset the second factors of asked@example.com');
      expect(await activeFactors(registry, account.id)).to.deep.equal([]);
    });

    it('on a terminal, an account with nothing to remove is not asked about', async function () {
      await customer('bare@example.com');
      // Nothing is ever typed: a question would wait for ever (and time the test out).
      const run = await cli(['user', 'reset-factors', 'bare@example.com'], { stdin: terminal('') });
      expect(run.code).to.equal(0);
      expect(run.stderr).to.equal('');
      expect(run.stdout).to.equal('bare@example.com had no second factor: nothing was removed.\nNothing changed; the customer was not emailed.\n');
    });
  });

  describe('user unlock', function () {
    async function lockPassword(keys: readonly string[], email: string): Promise<string> {
      const key = loginThrottleKey({ keys }, email);
      for (let i = 0; i < 5; i += 1) await failOnce(passwordAttemptLimiter(conn), key);
      expect(await passwordAttemptLimiter(conn).status(key)).to.include({ locked: true });
      return key;
    }

    it("lifts the second-factor lock and the password throttle keyed by the dev server's stored keys; factors stay", async function () {
      const account = await customer('locked@example.com');
      await enrolEveryFactor(registry, codes, account);
      await lockSecondFactor(account.id);
      const devKeys = await loadOrCreateDevKeys(conn);
      const key = await lockPassword(devKeys.cookieKeys, 'locked@example.com');

      const run = await cli(['user', 'unlock', 'Locked@Example.com']);
      expect(run.stderr).to.equal('');
      expect(run.code).to.equal(0);
      expect(run.stdout).to.equal(
        'Second factor of locked@example.com: the lockout was lifted.\nPassword sign-in of locked@example.com: the lockout was lifted.\n',
      );
      expect(await createAttemptLimiter(conn).status(account.id)).to.include({ locked: false });
      expect(await passwordAttemptLimiter(conn).status(key)).to.include({ locked: false });
      expect(await activeFactors(registry, account.id)).to.have.length(3);
      const events = await listEvents(conn, account.id);
      expect(events.map((event) => [event.event, event.actor.id, event.details?.scope])).to.have.deep.members([
        ['account_unlocked', 'alice', 'second_factor'],
        ['account_unlocked', 'alice', 'password'],
      ]);

      const again = await cli(['user', 'unlock', 'locked@example.com']);
      expect(again.stdout).to.equal('Second factor of locked@example.com: was not locked.\nPassword sign-in of locked@example.com: was not locked.\n');
      expect(await listEvents(conn, account.id)).to.have.length(2);
    });

    it('uses the configured COOKIE_KEYS when set (the production case)', async function () {
      await customer('prod@example.com');
      const keys = await generateProviderKeys();
      await loadOrCreateDevKeys(conn); // other keys in the database must not be used
      const key = await lockPassword(keys.cookieKeys, 'prod@example.com');
      const run = await cli(['user', 'unlock', 'prod@example.com'], {
        env: { MONGODB_URI: uri, JWKS: JSON.stringify(keys.jwks), COOKIE_KEYS: keys.cookieKeys.join(',') },
      });
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.include('Password sign-in of prod@example.com: the lockout was lifted.');
      expect(await passwordAttemptLimiter(conn).status(key)).to.include({ locked: false });
    });

    it('with no provider keys anywhere: says there is no password lockout to lift, and creates no keys', async function () {
      await customer('fresh@example.com');
      const run = await cli(['user', 'unlock', 'fresh@example.com']);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.equal(
        'Second factor of fresh@example.com: was not locked.\n'
        + 'Password sign-in: nothing to unlock: no COOKIE_KEYS are set and no dev server has stored its keys in this '
        + 'database yet, so no password attempt has been counted with them.\n',
      );
      expect(await conn.collection('dev_keys').countDocuments()).to.equal(0);
    });
  });
});
