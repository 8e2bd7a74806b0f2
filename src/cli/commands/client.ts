/**
 * `client add`, `client list`. Secrets are shown once, when generated, and never listed; `client show`, `update`,
 * `rotate-secret` and `remove` are in `client_manage.ts`.
 */
import {
  createClient,
  isSecretMethod,
  listClients,
  validateClient,
  type ShopClient,
  type ShopClientInput,
} from '../../provider/clients.ts';
import { AppError } from '../../shared/errors.ts';
import {
  AUTH_METHODS_HELP,
  REDIRECT_URI_RULES,
  REQUIRE_ACR_HELP,
  clientJson,
  describeClient,
  parseAcrLevel,
  parseAuthMethod,
  readJwksFile,
  NAME_OPTIONS_HELP,
  NAME_OPTION_TYPES,
  PAGE_OPTIONS_HELP,
  localizedNameOptions,
  pageOptions,
} from '../client_options.ts';
import { formatJson, formatTable } from '../format.ts';
import { CliFailure, UsageError, type CommandContext, type CommandSpec } from '../io.ts';
import { optionalString, parseCommandArgs, requireString, stringList } from '../parse.ts';
import { readPasswordFromStdin } from '../password_input.ts';

const ADD_USAGE =
  'client add --id ID --redirect-uri URI [--redirect-uri URI …] [--post-logout-redirect-uri URI …] [--name NAME] [--name-<language> NAME] [--first-party] '
  + '[--auth METHOD | --public] [--jwks-uri URL | --jwks FILE] [--secret-stdin | --secret SECRET] [--require-acr LEVEL] [--client-credentials] [--logo-uri URL] [--policy-uri URL] [--tos-uri URL]';

/** A secret in the arguments is visible to other users (`ps`) and kept in the shell history. */
export const SECRET_ARGUMENT_WARNING =
  'Warning: a secret given with --secret is visible in the process list and your shell history; prefer --secret-stdin.';
const LIST_USAGE = 'client list [--json]';

const ADD_DETAILS = [
  'Options:',
  '  --id ID                 the client_id: letters, digits, "_", "-", "~", ":" (no ".")',
  '  --redirect-uri URI      where a sign-in returns to the shop (repeat for several)',
  '  --post-logout-redirect-uri URI   where a sign-out may return (repeat for several)',
  '  --name NAME             the shop\'s name on the consent and sign-out pages',
  NAME_OPTIONS_HELP,
  '  --first-party           your own shop: no consent page',
  AUTH_METHODS_HELP,
  '  --public                same as --auth none',
  '  --secret-stdin          read a secret of your own (at least 32 characters) from stdin instead of generating one',
  '  --secret SECRET         the same from the command line (visible in the process list: prefer --secret-stdin)',
  REQUIRE_ACR_HELP,
  '  --client-credentials    may use the client_credentials grant (never for a public client)',
  PAGE_OPTIONS_HELP,
  '',
  REDIRECT_URI_RULES,
  'A generated secret is printed once. A new client is served at once; later changes (client update) count on every',
  'running server from its next request on.',
].join('\n');

export const clientAdd: CommandSpec = {
  name: 'client add',
  usage: ADD_USAGE,
  summary: 'register a shop (relying party); prints what was registered and a generated secret once',
  details: ADD_DETAILS,
  async parse(args, io) {
    const { values, help } = parseCommandArgs('client add', ADD_USAGE, args, {
      id: { type: 'string' },
      secret: { type: 'string' },
      'secret-stdin': { type: 'boolean' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      name: { type: 'string' },
      'first-party': { type: 'boolean' },
      public: { type: 'boolean' },
      auth: { type: 'string' },
      'jwks-uri': { type: 'string' },
      jwks: { type: 'string' },
      'require-acr': { type: 'string' },
      'client-credentials': { type: 'boolean' },
      'logo-uri': { type: 'string' },
      'policy-uri': { type: 'string' },
      'tos-uri': { type: 'string' },
      ...NAME_OPTION_TYPES,
    });
    if (help) return { help: ADD_USAGE };
    const clientId = requireString('client add', ADD_USAGE, values, 'id');
    const redirectUris = stringList(values, 'redirect-uri');
    if (redirectUris.length === 0) throw new UsageError('client add: at least one --redirect-uri is required', ADD_USAGE);
    const method = parseAuthMethod('client add', ADD_USAGE, optionalString(values, 'auth'), values.public === true);
    const secret = optionalString(values, 'secret');
    const secretFromStdin = values['secret-stdin'] === true;
    if (secret !== undefined && secretFromStdin) {
      throw new UsageError('client add: give either --secret or --secret-stdin, not both', ADD_USAGE);
    }
    if (secretFromStdin && method !== undefined && !isSecretMethod(method)) {
      const who = method === 'none' ? 'a public client' : `a client authenticating with ${method}`;
      throw new UsageError(`client add: ${who} has no client_secret`, ADD_USAGE);
    }
    const jwksUri = optionalString(values, 'jwks-uri');
    const jwksFile = optionalString(values, 'jwks');
    if (jwksUri !== undefined && jwksFile !== undefined) {
      throw new UsageError('client add: give either --jwks-uri or --jwks, not both', ADD_USAGE);
    }
    if (method === 'private_key_jwt' && jwksUri === undefined && jwksFile === undefined) {
      throw new UsageError("client add: --auth private_key_jwt needs the shop's public keys: --jwks-uri URL or --jwks FILE", ADD_USAGE);
    }
    if ((jwksUri !== undefined || jwksFile !== undefined) && method !== 'private_key_jwt') {
      throw new UsageError('client add: --jwks-uri and --jwks go with --auth private_key_jwt', ADD_USAGE);
    }
    const acrText = optionalString(values, 'require-acr');
    const requireAcr = acrText === undefined ? undefined : parseAcrLevel('client add', ADD_USAGE, acrText);
    const name = optionalString(values, 'name');
    const input: ShopClientInput = {
      clientId,
      redirectUris,
      postLogoutRedirectUris: stringList(values, 'post-logout-redirect-uri'),
      firstParty: values['first-party'] === true,
      clientCredentials: values['client-credentials'] === true,
      ...(method !== undefined ? { tokenEndpointAuthMethod: method } : {}),
      ...(secret !== undefined ? { clientSecret: secret } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(jwksUri !== undefined ? { jwksUri } : {}),
      ...(jwksFile !== undefined ? { jwks: await readJwksFile('client add', ADD_USAGE, jwksFile, io) } : {}),
      ...(requireAcr !== undefined ? { defaultAcrValues: [requireAcr] } : {}),
      ...pageOptions(values),
      ...(Object.keys(localizedNameOptions(values)).length > 0 ? { localizedNames: localizedNameOptions(values) } : {}),
    };
    const problems = await validateClient(input);
    if (problems.length > 0) throw new UsageError(`client add: ${problems.join('; ')}`, ADD_USAGE);
    return {
      async run(ctx: CommandContext) {
        if (secret !== undefined) ctx.io.stderr.write(`${SECRET_ARGUMENT_WARNING}\n`);
        if (secretFromStdin) {
          const fromStdin = await readPasswordFromStdin(ctx.io.stdin);
          const secretProblems = await validateClient({ ...input, clientSecret: fromStdin });
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
        const secretLine = generated ?? (client.clientSecret !== undefined ? 'the one you gave (not shown)' : undefined);
        for (const line of describeClient(client, secretLine)) ctx.print(line);
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
        const list = await listClients(ctx.conn);
        if (values.json === true) {
          ctx.print(formatJson(list.map(clientJson)));
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
          c.tokenEndpointAuthMethod,
          c.redirectUris.join(' '),
        ]);
        ctx.print(formatTable(['CLIENT ID', 'NAME', 'TYPE', 'FIRST PARTY', 'AUTH', 'REDIRECT URIS'], rows));
      },
    };
  },
};
