import { expect } from 'chai';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import mongoose, { type Connection } from 'mongoose';
import { findAccountByEmail, verifyLogin } from '../../src/accounts/accounts.ts';
import { findCompanyByName } from '../../src/accounts/companies.ts';
import { NO_DATABASE_MESSAGE } from '../../src/cli/database.ts';
import { runCli, type CliIo } from '../../src/cli/run.ts';
import { SECRET_ARGUMENT_WARNING } from '../../src/cli/commands/client.ts';
import { findClient } from '../../src/provider/clients.ts';
import { noStackTrace } from './cli_io.ts';
import { freshDbUri } from './db_uri.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  env?: Record<string, string | undefined>;
  stdin?: CliIo['stdin'];
  cwd?: string;
}

describe('operators CLI (runCli)', function () {
  let uri: string;
  let conn: Connection;
  let emptyDir: string;

  async function cli(argv: string[], options: RunOptions = {}): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const stdin = options.stdin ?? Object.assign(Readable.from([]), { isTTY: false });
    const code = await runCli(argv, {
      stdout: { write: (chunk: string) => (stdout += chunk) },
      stderr: { write: (chunk: string) => (stderr += chunk) },
      stdin,
      env: options.env ?? { MONGODB_URI: uri },
      cwd: options.cwd ?? emptyDir,
    });
    return { code, stdout, stderr };
  }

  async function ok(argv: string[], options?: RunOptions): Promise<string> {
    const run = await cli(argv, options);
    expect(run.stderr, `stderr of ${argv.join(' ')}`).to.equal('');
    expect(run.code, argv.join(' ')).to.equal(0);
    return run.stdout;
  }


  before(async function () {
    emptyDir = await mkdtemp(join(tmpdir(), 'cli-test-'));
  });
  after(async function () {
    await rm(emptyDir, { recursive: true, force: true });
  });
  beforeEach(async function () {
    uri = freshDbUri('cli');
    conn = await mongoose.createConnection(uri).asPromise();
  });
  afterEach(async function () {
    await conn.dropDatabase();
    await conn.close();
  });

  describe('help and bad arguments', function () {
    it('help lists every command and exits 0', async function () {
      const out = await ok(['help']);
      for (const usage of [
        'user add --email EMAIL --name NAME',
        'user list [--company NAME] [--json]',
        'user grant-invoice EMAIL',
        'user revoke-invoice EMAIL',
        'user set-password EMAIL [--password PASSWORD | --password-stdin]',
        'user disable EMAIL',
        'user enable EMAIL',
        'user reset-factors EMAIL [--yes]',
        'user unlock EMAIL',
        'company add --name NAME [--policy forced|opt_in]',
        'company list',
        'company policy NAME forced|opt_in',
        'client add --id ID --redirect-uri URI',
        'client list',
      ]) {
        expect(out).to.include(usage);
      }
    });

    it('<command> --help shows that command only, without touching a database', async function () {
      const out = await ok(['client', 'add', '--help'], { env: {} });
      expect(out).to.include('client add --id ID');
      expect(out).to.not.include('company policy');
    });

    it('no command: usage on stderr, exit 2', async function () {
      const run = await cli([]);
      expect(run.code).to.equal(2);
      expect(run.stderr).to.include('Usage:');
    });

    const badArguments: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['user'], /"user" needs a command; one of: user add, user list/],
      [['user', 'delete', 'x@example.com'], /unknown command "user delete"/],
      [['user', 'add', '--email', 'a@example.com', '--password', 'password-1'], /--name is required/],
      [['user', 'add', '--name', 'A', '--password', 'password-1'], /--email is required/],
      [['user', 'add', '--email', 'a@example.com', '--name', 'A', '--password', 'password-1', '--bogus'], /Unknown option '--bogus'/],
      [['user', 'add', '--email', 'a@example.com', '--name', 'A', '--password', 'password-1', '--admin'], /--admin needs --company/],
      [['user', 'add', '--email', 'a@example.com', '--name', 'A', '--password', 'x', '--password-stdin'], /either --password or --password-stdin/],
      [['user', 'add', '--email', 'a@example.com', '--name', 'A'], /no password/],
      [['user', 'grant-invoice'], /missing EMAIL/],
      [['user', 'list', 'extra'], /unexpected argument "extra"/],
      [['company', 'add'], /--name is required/],
      [['company', 'add', '--name', 'X', '--policy', 'sometimes'], /"forced" or "opt_in", not "sometimes"/],
      [['company', 'policy', 'Acme'], /missing POLICY/],
      [['client', 'add', '--id', 'shop'], /at least one --redirect-uri/],
      [['client', 'add', '--id', 'my.shop', '--redirect-uri', 'https://shop.example/cb'], /must not contain "\."/],
      [['client', 'add', '--id', 'shop', '--redirect-uri', 'not a uri'], /not an absolute URI/],
      [['client', 'add', '--id', 'shop', '--redirect-uri', 'https://shop.example/cb', '--public', '--secret', 'x'.repeat(40)], /public client has no client_secret/],
      [['client', 'add', '--id', 'shop', '--redirect-uri', 'https://shop.example/cb', '--secret', 'short'], /at least 32 characters/],
    ];
    for (const [argv, message] of badArguments) {
      it(`exit 2 with a message: ${argv.join(' ') || '(nothing)'}`, async function () {
        // no database configured: argument errors come first
        const run = await cli(argv, { env: {} });
        expect(run.stderr).to.match(message);
        expect(run.stderr).to.match(/^Error: /);
        expect(run.code).to.equal(2);
        expect(run.stdout).to.equal('');
        noStackTrace(run);
      });
    }
  });

  describe('which database', function () {
    it('with neither MONGODB_URI nor a running dev server: the message, exit 1', async function () {
      const run = await cli(['user', 'list'], { env: {} });
      expect(run.code).to.equal(1);
      expect(run.stderr.trim()).to.equal(`Error: ${NO_DATABASE_MESSAGE}`);
      expect(NO_DATABASE_MESSAGE).to.equal('No database: set MONGODB_URI, or start the dev server (npm start) and run this again.');
    });

    it("uses the dev server's engine URI from .data/embedded-mongo.uri, or from DATA_DIR", async function () {
      const project = await mkdtemp(join(tmpdir(), 'cli-project-'));
      try {
        await mkdir(join(project, '.data'));
        await writeFile(join(project, '.data', 'embedded-mongo.uri'), `${uri}\n`);
        await ok(['company', 'add', '--name', 'Via File'], { env: {}, cwd: project });
        expect(await findCompanyByName(conn, 'Via File')).to.not.equal(null);

        await mkdir(join(project, 'elsewhere'));
        await writeFile(join(project, 'elsewhere', 'embedded-mongo.uri'), uri);
        await ok(['company', 'add', '--name', 'Via Data Dir'], { env: { DATA_DIR: 'elsewhere' }, cwd: project });
        expect(await findCompanyByName(conn, 'Via Data Dir')).to.not.equal(null);
      } finally {
        await rm(project, { recursive: true, force: true });
      }
    });

    it('a stale URI file (dev server gone) gives a plain message, exit 1', async function () {
      this.timeout(30_000);
      const project = await mkdtemp(join(tmpdir(), 'cli-stale-'));
      try {
        await mkdir(join(project, '.data'));
        // port 9 (discard) on localhost: nothing listens there
        await writeFile(join(project, '.data', 'embedded-mongo.uri'), 'mongodb://127.0.0.1:9/gone');
        const run = await cli(['user', 'list'], { env: {}, cwd: project });
        expect(run.code).to.equal(1);
        expect(run.stderr).to.match(/^Error: Cannot connect to the database at mongodb:\/\/127\.0\.0\.1:9\/gone: .*Is the dev server/);
        noStackTrace(run);
      } finally {
        await rm(project, { recursive: true, force: true });
      }
    });
  });

  describe('company', function () {
    it('add, list, policy', async function () {
      expect(await ok(['company', 'list'])).to.equal('No companies.\n');
      expect(await ok(['company', 'add', '--name', 'Acme GmbH'])).to.match(/^Created company "Acme GmbH" \(id [\w-]+\), 2FA policy opt_in\.\n$/);
      await ok(['company', 'add', '--name', 'Strict AG', '--policy', 'forced']);
      const table = await ok(['company', 'list']);
      expect(table.split('\n')[0]).to.match(/^NAME\s+POLICY\s+USERS\s+ID$/);
      expect(table).to.match(/Acme GmbH\s+opt_in\s+0/).and.match(/Strict AG\s+forced\s+0/);

      expect(await ok(['company', 'policy', 'acme gmbh', 'forced'])).to.equal('Company "Acme GmbH": 2FA policy is now forced.\n');
      expect((await findCompanyByName(conn, 'Acme GmbH'))?.mfaPolicy).to.equal('forced');

      const json = JSON.parse(await ok(['company', 'list', '--json'])) as Array<{ name: string; mfaPolicy: string; users: number }>;
      expect(json.map(({ name, mfaPolicy, users }) => ({ name, mfaPolicy, users }))).to.deep.equal([
        { name: 'Acme GmbH', mfaPolicy: 'forced', users: 0 },
        { name: 'Strict AG', mfaPolicy: 'forced', users: 0 },
      ]);
    });

    it('a duplicate name or an unknown company: message, exit 1', async function () {
      await ok(['company', 'add', '--name', 'Acme GmbH']);
      const duplicate = await cli(['company', 'add', '--name', 'ACME GMBH']);
      expect(duplicate.code).to.equal(1);
      expect(duplicate.stderr).to.equal('Error: A company named "ACME GMBH" already exists.\n');
      const unknown = await cli(['company', 'policy', 'Nope', 'forced']);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.equal('Error: No company named "Nope".\n');
    });
  });

  describe('user', function () {
    it('add with --password, --company, --admin and --invoice; list, filtered and as JSON', async function () {
      await ok(['company', 'add', '--name', 'Acme GmbH']);
      const created = await ok([
        'user', 'add', '--email', 'Anna@Acme.example', '--name', 'Anna Admin', '--password', 'anna-password',
        '--company', 'Acme GmbH', '--admin', '--invoice',
      ]);
      expect(created).to.match(/^Created account anna@acme\.example \(id [\w-]+\), admin of Acme GmbH, privileges: invoice\.\n$/);
      const member = await ok(['user', 'add', '--email', 'max@acme.example', '--name', 'Max', '--password', 'max-password', '--company', 'acme gmbh']);
      expect(member).to.match(/, member of Acme GmbH\.\n$/);
      await ok(['user', 'add', '--email', 'solo@example.com', '--name', 'Solo', '--password', 'solo-password']);

      expect(await verifyLogin(conn, 'anna@acme.example', 'anna-password')).to.include({ companyRole: 'admin' });
      expect((await findAccountByEmail(conn, 'anna@acme.example'))?.privileges).to.deep.equal(['invoice']);

      const table = await ok(['user', 'list']);
      expect(table.split('\n')[0]).to.match(/^EMAIL\s+NAME\s+COMPANY\s+ROLE\s+PRIVILEGES\s+STATUS\s+ID$/);
      expect(table).to.match(/anna@acme\.example\s+Anna Admin\s+Acme GmbH\s+admin\s+invoice\s+active/);
      expect(table).to.match(/solo@example\.com\s+Solo\s+-\s+-\s+-\s+active/);
      expect(table).to.not.match(/scrypt|password/);

      const companyOnly = await ok(['user', 'list', '--company', 'Acme GmbH']);
      expect(companyOnly).to.include('anna@acme.example').and.include('max@acme.example').and.not.include('solo@example.com');

      const json = JSON.parse(await ok(['user', 'list', '--json'])) as Array<Record<string, unknown>>;
      expect(json.map((a) => a.email)).to.deep.equal(['anna@acme.example', 'max@acme.example', 'solo@example.com']);
      expect(json[1]).to.include({ companyName: 'Acme GmbH', companyRole: 'member' });
      expect(JSON.stringify(json)).to.not.include('passwordHash');
      expect(await ok(['company', 'list'])).to.match(/Acme GmbH\s+opt_in\s+2/);
    });

    it('a duplicate user: message, exit 1, no second account', async function () {
      await ok(['user', 'add', '--email', 'dup@example.com', '--name', 'First', '--password', 'password-1']);
      const run = await cli(['user', 'add', '--email', 'DUP@example.com', '--name', 'Second', '--password', 'password-2']);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.equal('Error: An account with this email already exists.\n');
      expect(await verifyLogin(conn, 'dup@example.com', 'password-2')).to.equal(null);
    });

    it('invalid values: every problem in one message, exit 1', async function () {
      const run = await cli(['user', 'add', '--email', 'nope', '--name', 'Nope', '--password', 'short']);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.equal('Error: Invalid account: email is not a valid address; password must be at least 8 characters.\n');
      noStackTrace(run);
    });

    it('an unknown company: message, exit 1, no account', async function () {
      const run = await cli(['user', 'add', '--email', 'x@example.com', '--name', 'X', '--password', 'password-1', '--company', 'Nope']);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.include('No company named "Nope"');
      expect(await findAccountByEmail(conn, 'x@example.com')).to.equal(null);
    });

    it('reads the password from stdin with --password-stdin (one trailing newline removed)', async function () {
      const stdin = Object.assign(Readable.from(['piped pass', 'word\n']), { isTTY: false });
      await ok(['user', 'add', '--email', 'pipe@example.com', '--name', 'Pipe', '--password-stdin'], { stdin });
      expect(await verifyLogin(conn, 'pipe@example.com', 'piped password')).to.not.equal(null);
    });

    function terminal(typed: string): CliIo['stdin'] & { rawModes: boolean[] } {
      const rawModes: boolean[] = [];
      const stream = Object.assign(new PassThrough(), {
        isTTY: true,
        rawModes,
        setRawMode: (mode: boolean) => rawModes.push(mode),
      });
      setImmediate(() => stream.write(typed));
      return stream;
    }

    it('on a terminal, asks twice for a hidden password (Backspace works) and restores the terminal', async function () {
      const stdin = terminal('tty-passwordX\u007f\rtty-password\r');
      const run = await cli(['user', 'add', '--email', 'tty@example.com', '--name', 'Tty'], { stdin });
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stderr).to.equal('Password: \nRepeat the password: \n');
      expect(run.stderr).to.not.include('tty-password');
      expect(stdin.rawModes).to.deep.equal([true, false]);
      expect(await verifyLogin(conn, 'tty@example.com', 'tty-password')).to.not.equal(null);
    });

    it('on a terminal, two different passwords: message, exit 1, no account', async function () {
      const run = await cli(['user', 'add', '--email', 'typo@example.com', '--name', 'Typo'], { stdin: terminal('password-1\rpassword-2\r') });
      expect(run.code).to.equal(1);
      expect(run.stderr).to.include('The passwords do not match.');
      expect(await findAccountByEmail(conn, 'typo@example.com')).to.equal(null);
    });

    it('grant-invoice and revoke-invoice', async function () {
      await ok(['user', 'add', '--email', 'inv@example.com', '--name', 'Inv', '--password', 'password-1']);
      expect(await ok(['user', 'grant-invoice', 'INV@example.com'])).to.equal('Granted the invoice privilege to inv@example.com.\n');
      expect((await findAccountByEmail(conn, 'inv@example.com'))?.privileges).to.deep.equal(['invoice']);
      expect(await ok(['user', 'grant-invoice', 'inv@example.com'])).to.equal('inv@example.com already has the invoice privilege.\n');
      expect(await ok(['user', 'revoke-invoice', 'inv@example.com'])).to.equal('Revoked the invoice privilege of inv@example.com.\n');
      expect((await findAccountByEmail(conn, 'inv@example.com'))?.privileges).to.deep.equal([]);
      const unknown = await cli(['user', 'grant-invoice', 'ghost@example.com']);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.equal('Error: No account with the email ghost@example.com.\n');
    });
    it('set-password replaces the password (from an argument, or piped)', async function () {
      await ok(['user', 'add', '--email', 'pw@example.com', '--name', 'Pw', '--password', 'first password']);
      expect(await ok(['user', 'set-password', 'PW@example.com', '--password', 'second password'])).to.equal('Set a new password for pw@example.com; its sessions and tokens were ended.\n');
      expect(await verifyLogin(conn, 'pw@example.com', 'first password')).to.equal(null);
      expect(await verifyLogin(conn, 'pw@example.com', 'second password')).to.not.equal(null);
      const stdin = Object.assign(Readable.from(['third password\n']), { isTTY: false });
      await ok(['user', 'set-password', 'pw@example.com', '--password-stdin'], { stdin });
      expect(await verifyLogin(conn, 'pw@example.com', 'third password')).to.not.equal(null);
      const tooShort = await cli(['user', 'set-password', 'pw@example.com', '--password', 'short']);
      expect(tooShort.code).to.equal(1);
      expect(tooShort.stderr).to.include('at least 8 characters');
      const noPassword = await cli(['user', 'set-password', 'pw@example.com']);
      expect(noPassword.code).to.equal(2);
      expect(noPassword.stderr).to.include('no password');
    });

    it('disable blocks the sign-in, enable allows it again', async function () {
      await ok(['user', 'add', '--email', 'off@example.com', '--name', 'Off', '--password', 'password-1']);
      expect(await ok(['user', 'disable', 'off@example.com'])).to.equal('off@example.com is disabled: it cannot sign in.\n');
      expect(await verifyLogin(conn, 'off@example.com', 'password-1')).to.equal(null);
      expect(await ok(['user', 'list'])).to.match(/off@example\.com\s+Off\s+-\s+-\s+-\s+disabled/);
      expect(await ok(['user', 'enable', 'off@example.com'])).to.equal('off@example.com is active: it can sign in.\n');
      expect(await verifyLogin(conn, 'off@example.com', 'password-1')).to.not.equal(null);
      const unknown = await cli(['user', 'disable', 'ghost@example.com']);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.equal('Error: No account with the email ghost@example.com.\n');
    });
  });

  describe('client', function () {
    it('add prints a generated secret once; list never prints it', async function () {
      const out = await ok([
        'client', 'add', '--id', 'shop-1', '--name', 'Shop One', '--first-party',
        '--redirect-uri', 'https://shop.example/cb', '--redirect-uri', 'http://localhost:3001/cb',
        '--post-logout-redirect-uri', 'https://shop.example/',
      ]);
      const secret = /client_secret:\s+(\S+)/.exec(out)?.[1];
      expect(secret).to.be.a('string').with.length.of.at.least(32);
      expect(out).to.include('Created client shop-1 (confidential, first-party).').and.include('not shown again');
      const stored = await findClient(conn, 'shop-1');
      expect(stored).to.include({ clientSecret: secret, firstParty: true, public: false, name: 'Shop One' });
      expect(stored?.redirectUris).to.deep.equal(['https://shop.example/cb', 'http://localhost:3001/cb']);
      expect(stored?.postLogoutRedirectUris).to.deep.equal(['https://shop.example/']);

      await ok(['client', 'add', '--id', 'spa', '--public', '--redirect-uri', 'https://spa.example/cb']);
      const table = await ok(['client', 'list']);
      expect(table).to.match(/shop-1\s+Shop One\s+confidential\s+yes\s+client_secret_basic\s+https:\/\/shop\.example\/cb http:\/\/localhost:3001\/cb/);
      expect(table).to.match(/spa\s+-\s+public\s+no\s+none\s+https:\/\/spa\.example\/cb/);
      const json = await ok(['client', 'list', '--json']);
      for (const listing of [table, json]) {
        expect(listing).to.not.include(secret);
        expect(listing).to.not.match(/client_secret"?:/);
      }
      expect((JSON.parse(json) as Array<{ clientId: string }>).map((c) => c.clientId)).to.deep.equal(['shop-1', 'spa']);
    });

    it('add with --secret stores it without echoing it, and warns that the command line is visible', async function () {
      const secret = 'a-secret-chosen-by-the-operator-123456';
      const run = await cli(['client', 'add', '--id', 'own-secret', '--redirect-uri', 'https://shop.example/cb', '--secret', secret]);
      expect(run.code).to.equal(0);
      expect(run.stdout).to.not.include(secret);
      expect(run.stderr).to.equal(`${SECRET_ARGUMENT_WARNING}\n`);
      expect(run.stderr).to.include('--secret-stdin').and.not.include(secret);
      expect((await findClient(conn, 'own-secret'))?.clientSecret).to.equal(secret);
    });

    it('add with --secret-stdin reads the secret from stdin, without a warning or an echo', async function () {
      const secret = 'a-piped-secret-chosen-by-the-operator-42';
      const stdin = Object.assign(Readable.from([`${secret}\n`]), { isTTY: false });
      const out = await ok(['client', 'add', '--id', 'piped', '--redirect-uri', 'https://shop.example/cb', '--secret-stdin'], { stdin });
      expect(out).to.not.include(secret);
      expect((await findClient(conn, 'piped'))?.clientSecret).to.equal(secret);

      const short = Object.assign(Readable.from(['short\n']), { isTTY: false });
      const run = await cli(['client', 'add', '--id', 'piped-short', '--redirect-uri', 'https://shop.example/cb', '--secret-stdin'], { stdin: short });
      expect(run.code).to.not.equal(0);
      expect(run.stderr).to.match(/at least 32 characters/);
      expect(await findClient(conn, 'piped-short')).to.equal(null);

      const both = await cli(['client', 'add', '--id', 'x', '--redirect-uri', 'https://shop.example/cb', '--secret-stdin', '--secret', 'y'.repeat(40)]);
      expect(both.code).to.equal(2);
      expect(both.stderr).to.include('either --secret or --secret-stdin');
    });

    it('add gives client credentials only with --client-credentials', async function () {
      await ok(['client', 'add', '--id', 'plain-shop', '--redirect-uri', 'https://shop.example/cb']);
      const out = await ok(['client', 'add', '--id', 'api-shop', '--redirect-uri', 'https://shop.example/cb', '--client-credentials']);
      expect(out).to.include('Created client api-shop (confidential, third-party, client credentials).');
      expect((await findClient(conn, 'plain-shop'))?.clientCredentials).to.equal(false);
      expect((await findClient(conn, 'api-shop'))?.metadata.grant_types).to.include('client_credentials');
    });

    it('two concurrent adds of one id: one succeeds, the other fails, the printed secret is the stored one', async function () {
      const runs = await Promise.all([
        cli(['client', 'add', '--id', 'twin', '--redirect-uri', 'https://shop.example/cb']),
        cli(['client', 'add', '--id', 'twin', '--redirect-uri', 'https://other.example/cb']),
      ]);
      expect(runs.map((run) => run.code).sort()).to.deep.equal([0, 1]);
      const winner = runs.find((run) => run.code === 0);
      const loser = runs.find((run) => run.code === 1);
      expect(loser?.stderr).to.equal('Error: A client with the id "twin" already exists.\n');
      const printed = /client_secret:\s+(\S+)/.exec(winner?.stdout ?? '')?.[1];
      expect(printed).to.be.a('string');
      expect((await findClient(conn, 'twin'))?.clientSecret).to.equal(printed);
    });

    it('an existing client id: message, exit 1, the stored secret unchanged', async function () {
      await ok(['client', 'add', '--id', 'shop-1', '--redirect-uri', 'https://shop.example/cb']);
      const before = (await findClient(conn, 'shop-1'))?.clientSecret;
      const run = await cli(['client', 'add', '--id', 'shop-1', '--redirect-uri', 'https://other.example/cb']);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.equal('Error: A client with the id "shop-1" already exists.\n');
      expect(run.stdout).to.equal('');
      expect((await findClient(conn, 'shop-1'))?.clientSecret).to.equal(before);
    });
  });
});
