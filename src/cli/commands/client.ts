/** `client add`, `client list`. Secrets are shown once, at creation, and never listed. */
import { findClient, listClients, saveClient, validateClientInput, type ShopClientInput } from '../../provider/clients.ts';
import { formatJson, formatTable } from '../format.ts';
import { CliFailure, UsageError, type CommandContext, type CommandSpec } from '../io.ts';
import { optionalString, parseCommandArgs, requireString, stringList } from '../parse.ts';

const ADD_USAGE =
  'client add --id ID --redirect-uri URI [--redirect-uri URI …] [--post-logout-redirect-uri URI …] [--secret SECRET] [--name NAME] [--first-party] [--public]';
const LIST_USAGE = 'client list [--json]';

export const clientAdd: CommandSpec = {
  name: 'client add',
  usage: ADD_USAGE,
  summary: 'register a shop (relying party); prints a generated secret once',
  parse(args) {
    const { values, help } = parseCommandArgs('client add', ADD_USAGE, args, {
      id: { type: 'string' },
      secret: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      name: { type: 'string' },
      'first-party': { type: 'boolean' },
      public: { type: 'boolean' },
    });
    if (help) return { help: ADD_USAGE };
    const clientId = requireString('client add', ADD_USAGE, values, 'id');
    const redirectUris = stringList(values, 'redirect-uri');
    if (redirectUris.length === 0) throw new UsageError('client add: at least one --redirect-uri is required', ADD_USAGE);
    const secret = optionalString(values, 'secret');
    const name = optionalString(values, 'name');
    const input: ShopClientInput = {
      clientId,
      redirectUris,
      postLogoutRedirectUris: stringList(values, 'post-logout-redirect-uri'),
      firstParty: values['first-party'] === true,
      public: values.public === true,
      ...(secret !== undefined ? { clientSecret: secret } : {}),
      ...(name !== undefined ? { name } : {}),
    };
    const problems = validateClientInput(input);
    if (problems.length > 0) throw new UsageError(`client add: ${problems.join('; ')}`, ADD_USAGE);
    return {
      async run(ctx: CommandContext) {
        if (await findClient(ctx.conn, clientId)) throw new CliFailure(`A client with the id "${clientId}" already exists.`);
        const client = await saveClient(ctx.conn, input);
        const kind = [client.public ? 'public' : 'confidential', client.firstParty ? 'first-party' : 'third-party'].join(', ');
        ctx.print(`Created client ${client.clientId} (${kind}).`);
        const generated = secret === undefined ? client.clientSecret : undefined;
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
