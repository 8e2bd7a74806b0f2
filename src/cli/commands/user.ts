/**
 * `user add`, `user list`, `user grant-invoice`, `user revoke-invoice`, `user set-password`, `user disable`,
 * `user enable`, and the support actions `user reset-factors` and `user unlock` (README "The operators' CLI").
 */
import {
  createAccount,
  findAccountByEmail,
  listAccounts,
  setPassword,
  setPrivilege,
  type Account,
  type Privilege,
} from '../../accounts/accounts.ts';
import { findCompanyByName, listCompanies, type Company } from '../../accounts/companies.ts';
import { resetLoginThrottle } from '../../accounts/login_throttle.ts';
import { endSignIns } from '../../security/end_sign_ins.ts';
import { activeFactors, changeAccountStatus, recordUnlock, resetFactors, unlockSecondFactor } from '../../security/support_actions.ts';
import { loadLanguages } from '../../i18n/languages.ts';
import { confirm } from '../confirm.ts';
import { formatJson, formatTable } from '../format.ts';
import { CliFailure, UsageError, type CliIo, type CommandContext, type CommandSpec } from '../io.ts';
import { optionalString, parseCommandArgs, requireString, type Parsed } from '../parse.ts';
import { promptNewPassword, readPasswordFromStdin } from '../password_input.ts';
import { auditOnly, cliActionContext, loadThrottleKeys, openSupport, prepareAuditLog } from '../support.ts';

/** The CLI speaks English to operators; factor labels are message ids of the catalogues. */
const OPERATOR_WORDS = loadLanguages().translator('en');

const ADD_USAGE =
  'user add --email EMAIL --name NAME [--password PASSWORD | --password-stdin] [--company NAME] [--admin] [--invoice]';
const LIST_USAGE = 'user list [--company NAME] [--json]';
const SET_PASSWORD_USAGE = 'user set-password EMAIL [--password PASSWORD | --password-stdin]';
const RESET_FACTORS_USAGE = 'user reset-factors EMAIL [--yes]';
const UNLOCK_USAGE = 'user unlock EMAIL';

/** Printed when a support action could not email the customer because the CLI has no SMTP server. */
export const NOT_EMAILED_NO_SMTP =
  "The customer was not emailed: no SMTP_URL is set (the dev server's mail outbox lives in the server process, out of "
  + "the CLI's reach). The reset is in the audit log.";

const PASSWORD_OPTIONS = { password: { type: 'string' }, 'password-stdin': { type: 'boolean' } } as const;

type PasswordSource = { kind: 'argument'; value: string } | { kind: 'stdin' } | { kind: 'prompt' };

/** Where the password comes from: `--password`, `--password-stdin`, or a prompt when stdin is a terminal. */
function passwordSource(command: string, usage: string, values: Parsed['values'], io: CliIo): PasswordSource {
  const password = optionalString(values, 'password');
  const fromStdin = values['password-stdin'] === true;
  if (password !== undefined && fromStdin) throw new UsageError(`${command}: give either --password or --password-stdin, not both`, usage);
  if (password !== undefined) return { kind: 'argument', value: password };
  if (fromStdin) return { kind: 'stdin' };
  if (!io.stdin.isTTY) {
    throw new UsageError(`${command}: no password: give --password, pipe it with --password-stdin, or run on a terminal to be asked`, usage);
  }
  return { kind: 'prompt' };
}

async function readPassword(ctx: CommandContext, source: PasswordSource): Promise<string> {
  if (source.kind === 'argument') return source.value;
  if (source.kind === 'stdin') return readPasswordFromStdin(ctx.io.stdin);
  return promptNewPassword(ctx.io);
}

async function companyByName(ctx: CommandContext, name: string): Promise<Company> {
  const company = await findCompanyByName(ctx.conn, name);
  if (!company) throw new CliFailure(`No company named "${name}". Create it first: npm run cli -- company add --name "${name}"`);
  return company;
}

async function accountByEmail(ctx: CommandContext, email: string): Promise<Account> {
  const account = await findAccountByEmail(ctx.conn, email);
  if (!account) throw new CliFailure(`No account with the email ${email}.`);
  return account;
}

export const userAdd: CommandSpec = {
  name: 'user add',
  usage: ADD_USAGE,
  summary: 'create a customer account (asks for the password on a terminal when none is given)',
  parse(args, io) {
    const { values, help } = parseCommandArgs('user add', ADD_USAGE, args, {
      email: { type: 'string' },
      name: { type: 'string' },
      ...PASSWORD_OPTIONS,
      company: { type: 'string' },
      admin: { type: 'boolean' },
      invoice: { type: 'boolean' },
    });
    if (help) return { help: ADD_USAGE };
    const email = requireString('user add', ADD_USAGE, values, 'email');
    const name = requireString('user add', ADD_USAGE, values, 'name');
    const company = optionalString(values, 'company');
    if (values.admin === true && company === undefined) {
      throw new UsageError('user add: --admin needs --company (an admin of which company?)', ADD_USAGE);
    }
    const source = passwordSource('user add', ADD_USAGE, values, io);
    const privileges: Privilege[] = values.invoice === true ? ['invoice'] : [];
    return {
      async run(ctx: CommandContext) {
        const found = company === undefined ? undefined : await companyByName(ctx, company);
        const account = await createAccount(ctx.conn, {
          email,
          name,
          password: await readPassword(ctx, source),
          privileges,
          ...(found !== undefined ? { companyId: found.id, companyRole: values.admin === true ? 'admin' : 'member' } : {}),
        });
        const extras = [
          found ? `${account.companyRole} of ${found.name}` : null,
          account.privileges.length > 0 ? `privileges: ${account.privileges.join(', ')}` : null,
        ].filter(Boolean);
        ctx.print(`Created account ${account.email} (id ${account.id})${extras.length > 0 ? `, ${extras.join(', ')}` : ''}.`);
      },
    };
  },
};

export const userList: CommandSpec = {
  name: 'user list',
  usage: LIST_USAGE,
  summary: 'list accounts, optionally of one company',
  parse(args) {
    const { values, help } = parseCommandArgs('user list', LIST_USAGE, args, {
      company: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (help) return { help: LIST_USAGE };
    const company = optionalString(values, 'company');
    return {
      async run(ctx: CommandContext) {
        const filter = company === undefined ? {} : { companyId: (await companyByName(ctx, company)).id };
        const list = await listAccounts(ctx.conn, filter);
        const names = new Map((await listCompanies(ctx.conn)).map((c) => [c.id, c.name]));
        const companyName = (account: Account): string | null => (account.companyId ? (names.get(account.companyId) ?? account.companyId) : null);
        if (values.json === true) {
          ctx.print(formatJson(list.map((account) => ({ ...account, companyName: companyName(account) }))));
          return;
        }
        if (list.length === 0) {
          ctx.print(company === undefined ? 'No accounts.' : `No accounts in "${company}".`);
          return;
        }
        const rows = list.map((a) => [a.email, a.name, companyName(a) ?? '-', a.companyRole ?? '-', a.privileges.join(',') || '-', a.status, a.id]);
        ctx.print(formatTable(['EMAIL', 'NAME', 'COMPANY', 'ROLE', 'PRIVILEGES', 'STATUS', 'ID'], rows));
      },
    };
  },
};

function privilegeCommand(granted: boolean): CommandSpec {
  const name = granted ? 'user grant-invoice' : 'user revoke-invoice';
  const usage = `${name} EMAIL`;
  return {
    name,
    usage,
    summary: granted ? 'allow an account to pay by invoice (step-up protected)' : 'withdraw the invoice privilege',
    parse(args) {
      const { positionals, help } = parseCommandArgs(name, usage, args, {}, ['email']);
      if (help) return { help: usage };
      const email = positionals[0] as string;
      return {
        async run(ctx: CommandContext) {
          const account = await accountByEmail(ctx, email);
          const had = account.privileges.includes('invoice');
          await setPrivilege(ctx.conn, account.id, 'invoice', granted);
          if (granted) ctx.print(had ? `${account.email} already has the invoice privilege.` : `Granted the invoice privilege to ${account.email}.`);
          else ctx.print(had ? `Revoked the invoice privilege of ${account.email}.` : `${account.email} did not have the invoice privilege.`);
        },
      };
    },
  };
}

export const userGrantInvoice = privilegeCommand(true);
export const userRevokeInvoice = privilegeCommand(false);

export const userSetPassword: CommandSpec = {
  name: 'user set-password',
  usage: SET_PASSWORD_USAGE,
  summary: "replace an account's password (asks on a terminal when none is given)",
  parse(args, io) {
    const { values, positionals, help } = parseCommandArgs('user set-password', SET_PASSWORD_USAGE, args, PASSWORD_OPTIONS, ['email']);
    if (help) return { help: SET_PASSWORD_USAGE };
    const email = positionals[0] as string;
    const source = passwordSource('user set-password', SET_PASSWORD_USAGE, values, io);
    return {
      async run(ctx: CommandContext) {
        const account = await accountByEmail(ctx, email);
        const epoch = await setPassword(ctx.conn, account.id, await readPassword(ctx, source));
        // Whoever signed in with the old password is signed out: sessions, grants and their tokens end.
        await endSignIns(ctx.conn, account.id, { epoch });
        ctx.print(`Set a new password for ${account.email}; its sessions and tokens were ended.`);
      },
    };
  },
};

function statusCommand(status: 'active' | 'disabled'): CommandSpec {
  const name = status === 'disabled' ? 'user disable' : 'user enable';
  const usage = `${name} EMAIL`;
  return {
    name,
    usage,
    summary: status === 'disabled' ? 'block an account from signing in (its data stays)' : 'allow a disabled account to sign in again',
    parse(args) {
      const { positionals, help } = parseCommandArgs(name, usage, args, {}, ['email']);
      if (help) return { help: usage };
      const email = positionals[0] as string;
      return {
        async run(ctx: CommandContext) {
          const account = await accountByEmail(ctx, email);
          await prepareAuditLog(ctx);
          await changeAccountStatus(auditOnly(ctx), account, status, cliActionContext(ctx.io.env));
          ctx.print(`${account.email} is ${status === 'disabled' ? 'disabled: it cannot sign in' : 'active: it can sign in'}.`);
        },
      };
    },
  };
}

export const userDisable = statusCommand('disabled');
export const userEnable = statusCommand('active');

export const userResetFactors: CommandSpec = {
  name: 'user reset-factors',
  usage: RESET_FACTORS_USAGE,
  summary: 'remove every second factor of an account (app, email codes, recovery codes) and lift its lockout; '
    + 'emails the customer when SMTP_URL is set; asks for confirmation on a terminal unless --yes',
  parse(args, io) {
    const { values, positionals, help } = parseCommandArgs('user reset-factors', RESET_FACTORS_USAGE, args, { yes: { type: 'boolean', short: 'y' } }, ['email']);
    if (help) return { help: RESET_FACTORS_USAGE };
    const email = positionals[0] as string;
    const confirmed = values.yes === true;
    if (!confirmed && !io.stdin.isTTY) {
      throw new UsageError('user reset-factors: stdin is not a terminal, so there is nobody to ask: add --yes to confirm', RESET_FACTORS_USAGE);
    }
    return {
      async run(ctx: CommandContext) {
        ctx.config(); // a broken configuration fails before anything is looked up
        const account = await accountByEmail(ctx, email);
        const support = await openSupport(ctx);
        try {
          const active = await activeFactors(support.deps.factors, account.id);
          const labels = (factors: readonly { id: string; label: string }[]): string =>
            factors.map((factor) => `${OPERATOR_WORDS.t(factor.label)} (${factor.id})`).join(', ');
          if (!confirmed && active.length > 0) {
            const question = `Remove ${labels(active)} from ${account.email}? They will have to set up a second factor again. [y/N] `;
            if (!await confirm(ctx.io, question)) throw new CliFailure('Aborted: nothing was changed.');
          }
          const result = await resetFactors(support.deps, account, 'support', cliActionContext(ctx.io.env));
          const removed = result.removed.map((id) => support.deps.factors.get(id) ?? { id, label: id });
          if (removed.length === 0) {
            ctx.print(`${account.email} had no second factor: nothing was removed.`);
          } else {
            ctx.print(`Reset the second factors of ${account.email}: removed ${labels(removed)}.`);
          }
          if (result.unlocked) ctx.print('The second-factor lockout was lifted.');
          if (removed.length === 0) {
            ctx.print(result.unlocked ? 'The customer was not emailed (no factor was removed).' : 'Nothing changed; the customer was not emailed.');
          } else {
            ctx.print('They set up a new second factor at their next sign-in that needs one.');
            if (support.mail === 'none') ctx.print(NOT_EMAILED_NO_SMTP);
            else if (result.mailed) ctx.print(`Emailed ${account.email} about the reset.`);
            else ctx.print('The customer was NOT emailed: sending the notification failed (see the warning above). The reset is in the audit log.');
          }
          const changed = removed.length > 0 || result.unlocked;
          if (changed && !result.recorded) {
            throw new CliFailure('The change was made, but its audit record could not be written (see the warning above).');
          }
        } finally {
          await support.close();
        }
      },
    };
  },
};

export const userUnlock: CommandSpec = {
  name: 'user unlock',
  usage: UNLOCK_USAGE,
  summary: "lift an account's second-factor lockout and its password-login throttle (factors and password stay)",
  parse(args) {
    const { positionals, help } = parseCommandArgs('user unlock', UNLOCK_USAGE, args, {}, ['email']);
    if (help) return { help: UNLOCK_USAGE };
    const email = positionals[0] as string;
    return {
      async run(ctx: CommandContext) {
        const config = ctx.config();
        const account = await accountByEmail(ctx, email);
        await prepareAuditLog(ctx);
        const deps = auditOnly(ctx);
        const context = cliActionContext(ctx.io.env);
        const recorded: boolean[] = [];

        const second = await unlockSecondFactor(deps, account, context);
        if (second.unlocked) recorded.push(second.recorded);
        ctx.print(`Second factor of ${account.email}: ${second.unlocked ? 'the lockout was lifted' : 'was not locked'}.`);

        const keys = await loadThrottleKeys(ctx.conn, config);
        if (!keys) {
          ctx.print(
            'Password sign-in: nothing to unlock: no COOKIE_KEYS are set and no dev server has stored its keys in this '
              + 'database yet, so no password attempt has been counted with them.',
          );
        } else {
          const unlocked = await resetLoginThrottle(ctx.conn, { keys: keys.keys }, account.email);
          if (unlocked) recorded.push(await recordUnlock(deps, account, context, 'password'));
          ctx.print(`Password sign-in of ${account.email}: ${unlocked ? 'the lockout was lifted' : 'was not locked'}.`);
        }
        if (recorded.includes(false)) {
          throw new CliFailure('The lockout was lifted, but its audit record could not be written (see the warning above).');
        }
      },
    };
  },
};
