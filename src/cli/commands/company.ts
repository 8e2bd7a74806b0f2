/** `company add`, `company list`, `company policy`. */
import { listAccounts } from '../../accounts/accounts.ts';
import { createCompany, findCompanyByName, isMfaPolicy, listCompanies, setCompanyPolicy, type MfaPolicy } from '../../accounts/companies.ts';
import { formatJson, formatTable } from '../format.ts';
import { CliFailure, UsageError, type CommandContext, type CommandSpec } from '../io.ts';
import { optionalString, parseCommandArgs, requireString } from '../parse.ts';

const ADD_USAGE = 'company add --name NAME [--policy forced|opt_in]';
const LIST_USAGE = 'company list [--json]';
const POLICY_USAGE = 'company policy NAME forced|opt_in';

function parsePolicy(command: string, usage: string, value: string): MfaPolicy {
  if (!isMfaPolicy(value)) throw new UsageError(`${command}: the policy must be "forced" or "opt_in", not "${value}"`, usage);
  return value;
}

export const companyAdd: CommandSpec = {
  name: 'company add',
  usage: ADD_USAGE,
  summary: 'create a company account (2FA policy opt_in unless --policy forced)',
  parse(args) {
    const { values, help } = parseCommandArgs('company add', ADD_USAGE, args, { name: { type: 'string' }, policy: { type: 'string' } });
    if (help) return { help: ADD_USAGE };
    const name = requireString('company add', ADD_USAGE, values, 'name');
    const policyText = optionalString(values, 'policy');
    const mfaPolicy = policyText === undefined ? undefined : parsePolicy('company add', ADD_USAGE, policyText);
    return {
      async run(ctx: CommandContext) {
        const company = await createCompany(ctx.conn, { name, ...(mfaPolicy ? { mfaPolicy } : {}) });
        ctx.print(`Created company "${company.name}" (id ${company.id}), 2FA policy ${company.mfaPolicy}.`);
      },
    };
  },
};

export const companyList: CommandSpec = {
  name: 'company list',
  usage: LIST_USAGE,
  summary: 'list companies with their 2FA policy and number of users',
  parse(args) {
    const { values, help } = parseCommandArgs('company list', LIST_USAGE, args, { json: { type: 'boolean' } });
    if (help) return { help: LIST_USAGE };
    return {
      async run(ctx: CommandContext) {
        const list = await listCompanies(ctx.conn);
        const users = new Map<string, number>();
        for (const account of await listAccounts(ctx.conn)) {
          if (account.companyId) users.set(account.companyId, (users.get(account.companyId) ?? 0) + 1);
        }
        if (values.json === true) {
          ctx.print(formatJson(list.map((company) => ({ ...company, users: users.get(company.id) ?? 0 }))));
          return;
        }
        if (list.length === 0) {
          ctx.print('No companies.');
          return;
        }
        const rows = list.map((c) => [c.name, c.mfaPolicy, String(users.get(c.id) ?? 0), c.id]);
        ctx.print(formatTable(['NAME', 'POLICY', 'USERS', 'ID'], rows));
      },
    };
  },
};

export const companyPolicy: CommandSpec = {
  name: 'company policy',
  usage: POLICY_USAGE,
  summary: "set a company's 2FA policy: forced (everyone enrols at next login) or opt_in",
  parse(args) {
    const { positionals, help } = parseCommandArgs('company policy', POLICY_USAGE, args, {}, ['name', 'policy']);
    if (help) return { help: POLICY_USAGE };
    const name = positionals[0] as string;
    const policy = parsePolicy('company policy', POLICY_USAGE, positionals[1] as string);
    return {
      async run(ctx: CommandContext) {
        const company = await findCompanyByName(ctx.conn, name);
        if (!company) throw new CliFailure(`No company named "${name}".`);
        const updated = await setCompanyPolicy(ctx.conn, company.id, policy);
        ctx.print(`Company "${updated.name}": 2FA policy is now ${updated.mfaPolicy}.`);
      },
    };
  },
};
