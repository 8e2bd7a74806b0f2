/** `client add`, `client list`. Secrets are shown once, at creation, and never listed. */
import { createClient, listClients, validateClientInput, type ShopClient, type ShopClientInput } from '../../provider/clients.ts';
import { AppError } from '../../shared/errors.ts';
import { formatJson, formatTable } from '../format.ts';
import { CliFailure, UsageError, type CommandContext, type CommandSpec } from '../io.ts';
import { optionalString, parseCommandArgs, requireString, stringList } from '../parse.ts';
import { readPasswordFromStdin } from '../password_input.ts';

const ADD_USAGE =
  'client add --id ID --redirect-uri URI [--redirect-uri URI …] [--post-logout-redirect-uri URI …] [--secret-stdin | --secret SECRET] [--name NAME] [--first-party] [--public] [--client-credentials]';

/** A secret in the arguments is visible to other users (`ps`) and kept in the shell history. */
export const SECRET_ARGUMENT_WARNING =
  'Warning: a secret given with --secret is visible in the process list and your shell history; prefer --secret-stdin.';
const LIST_USAGE = 'client list [--json]';

export const clientAdd: CommandSpec = {
  name: 'client add',
  usage: ADD_USAGE,
  summary: 'register a shop (relying party); prints a generated secret once',
  parse(args) {
    const { values, help } = parseCommandArgs('client add', ADD_USAGE, args, {
      id: { type: 'string' },
      secret: { type: 'string' },
      'secret-stdin': { type: 'boolean' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      name: { type: 'string' },
      'first-party': { type: 'boolean' },
      public: { type: 'boolean' },
      'client-credentials': { type: 'boolean' },
    });
    if (help) return { help: ADD_USAGE };
    const clientId = requireString('client add', ADD_USAGE, values, 'id');
    const redirectUris = stringList(values, 'redirect-uri');
    if (redirectUris.length === 0) throw new UsageError('client add: at least one --redirect-uri is required', ADD_USAGE);
    const secret = optionalString(values, 'secret');
    const secretFromStdin = values['secret-stdin'] === true;
    if (secret !== undefined && secretFromStdin) {
      throw new UsageError('client add: give either --secret or --secret-stdin, not both', ADD_USAGE);
    }
    if (secretFromStdin && values.public === true) {
      throw new UsageError('client add: a public client has no client_secret', ADD_USAGE);
    }
    const name = optionalString(values, 'name');
    const input: ShopClientInput = {
      clientId,
      redirectUris,
      postLogoutRedirectUris: stringList(values, 'post-logout-redirect-uri'),
      firstParty: values['first-party'] === true,
      public: values.public === true,
      clientCredentials: values['client-credentials'] === true,
      ...(secret !== undefined ? { clientSecret: secret } : {}),
      ...(name !== undefined ? { name } : {}),
    };
    const problems = validateClientInput(input);
    if (problems.length > 0) throw new UsageError(`client add: ${problems.join('; ')}`, ADD_USAGE);
    return {
      async run(ctx: CommandContext) {
        if (secret !== undefined) ctx.io.stderr.write(`${SECRET_ARGUMENT_WARNING}\n`);
        if (secretFromStdin) {
          const fromStdin = await readPasswordFromStdin(ctx.io.stdin);
          const withSecret = { ...input, clientSecret: fromStdin };
          const secretProblems = validateClientInput(withSecret);
          if (secretProblems.length > 0) throw new CliFailure(`client add: ${secretProblems.join('; ')}`, 2);
          input.clientSecret = fromStdin;
        }
        // Insert-only: a concurrent `client add` of the same id cannot overwrite a secret already printed.
        let client: ShopClient;
        try {
          client = await createClient(ctx.conn, input);
        } catch (err) {
          if (err instanceof AppError && err.code === 'client_exists') {
            throw new CliFailure(`A client with the id "${clientId}" already exists.`);
          }
          throw err;
        }
        const kind = [client.public ? 'public' : 'confidential', client.firstParty ? 'first-party' : 'third-party'].join(', ');
        ctx.print(`Created client ${client.clientId} (${kind}${client.clientCredentials ? ', client credentials' : ''}).`);
        const generated = input.clientSecret === undefined ? client.clientSecret : undefined;
        ctx.print(`  client_id:      ${client.clientId}`);
        if (generated !== undefined) ctx.print(`  client_secret:  ${generated}`);
        ctx.print(`  redirect URIs:  ${client.redirectUris.join(' ')}`);
        if (generated !== undefined) ctx.print('Store the client secret now: it is not shown again.');
      },
    };
  },
};

export const clientList: CommandSpec = {
  name: 'client list',
  usage: LIST_USAGE,
  summary: 'list registered clients (never their secrets)',
  parse(args) {
    const { values, help } = parseCommandArgs('client list', LIST_USAGE, args, { json: { type: 'boolean' } });
    if (help) return { help: LIST_USAGE };
    return {
      async run(ctx: CommandContext) {
        // Only these fields leave the process: `clientSecret` and the raw `metadata` (which holds it) never do.
        const list = (await listClients(ctx.conn)).map((client) => ({
          clientId: client.clientId,
          name: client.name ?? null,
          public: client.public,
          firstParty: client.firstParty,
          redirectUris: client.redirectUris,
          postLogoutRedirectUris: client.postLogoutRedirectUris,
        }));
        if (values.json === true) {
          ctx.print(formatJson(list));
          return;
        }
        if (list.length === 0) {
          ctx.print('No clients.');
          return;
        }
        const rows = list.map((c) => [
          c.clientId,
          c.name ?? '-',
          c.public ? 'public' : 'confidential',
          c.firstParty ? 'yes' : 'no',
          c.redirectUris.join(' '),
        ]);
        ctx.print(formatTable(['CLIENT ID', 'NAME', 'TYPE', 'FIRST PARTY', 'REDIRECT URIS'], rows));
      },
    };
  },
};
