/**
 * `client show`, `client update`, `client rotate-secret`, `client remove`: managing a registered shop. A secret is
 * shown only right after `rotate-secret` made it; the destructive commands ask first on a terminal unless `--yes`.
 * Running servers see a change from their next request on (every request reads its client from the database).
 */
import {
  clientInputOf,
  findClient,
  isSecretMethod,
  removeClient,
  rotateClientSecret,
  updateClient,
  validateClient,
  type ShopClient,
  type ShopClientInput,
} from '../../provider/clients.ts';
import { AppError } from '../../shared/errors.ts';
import {
  CACHE_NOTE,
  REDIRECT_URI_RULES,
  REQUIRE_ACR_HELP,
  checkRedirectUris,
  clientJson,
  describeClient,
  parseAcrLevel,
  readJwksFile,
  NAME_OPTIONS_HELP,
  NAME_OPTION_TYPES,
  PAGE_OPTIONS_HELP,
  localizedNameOptions,
  pageOptions,
} from '../client_options.ts';
import { confirm } from '../confirm.ts';
import { formatJson } from '../format.ts';
import { CliFailure, UsageError, type CliIo, type CommandContext, type CommandSpec } from '../io.ts';
import { optionalString, parseCommandArgs, stringList } from '../parse.ts';

const SHOW_USAGE = 'client show ID [--json]';
const UPDATE_USAGE =
  'client update ID [--redirect-uri URI …] [--post-logout-redirect-uri URI … | --no-post-logout-redirect-uris] [--name NAME] [--name-<language> NAME] '
  + '[--first-party | --third-party] [--require-acr LEVEL | --no-require-acr] [--jwks-uri URL | --jwks FILE] '
  + '[--logo-uri URL] [--policy-uri URL] [--tos-uri URL]';
const ROTATE_USAGE = 'client rotate-secret ID [--yes]';
const REMOVE_USAGE = 'client remove ID [--yes]';

async function storedClient(ctx: CommandContext, clientId: string): Promise<ShopClient> {
  const client = await findClient(ctx.conn, clientId);
  if (!client) throw new CliFailure(`No client with the id "${clientId}". See: npm run cli -- client list`);
  return client;
}

/** A destructive command without `--yes` needs someone to ask: refused up front when stdin is not a terminal. */
function requireAnswerable(command: string, usage: string, confirmed: boolean, io: CliIo): void {
  if (!confirmed && !io.stdin.isTTY) {
    throw new UsageError(`${command}: stdin is not a terminal, so there is nobody to ask: add --yes to confirm`, usage);
  }
}

export const clientShow: CommandSpec = {
  name: 'client show',
  usage: SHOW_USAGE,
  summary: 'show everything registered for a client (never its secret)',
  parse(args) {
    const { values, positionals, help } = parseCommandArgs('client show', SHOW_USAGE, args, { json: { type: 'boolean' } }, ['id']);
    if (help) return { help: SHOW_USAGE };
    const clientId = positionals[0] as string;
    return {
      async run(ctx: CommandContext) {
        const client = await storedClient(ctx, clientId);
        if (values.json === true) {
          ctx.print(formatJson(clientJson(client)));
          return;
        }
        ctx.print(`Client ${client.clientId}:`);
        for (const line of describeClient(client)) ctx.print(line);
      },
    };
  },
};

const UPDATE_DETAILS = [
  'Changes only what is given; the rest, the secret included, stays.',
  'Options:',
  '  --redirect-uri URI      the redirect URIs (repeat for several): replaces the whole list',
  '  --post-logout-redirect-uri URI   the post-logout redirect URIs (repeat): replaces the whole list',
  '  --no-post-logout-redirect-uris   removes every post-logout redirect URI',
  '  --name NAME             the shop\'s name on the consent and sign-out pages',
  NAME_OPTIONS_HELP,
  '  --first-party           your own shop: no consent page',
  '  --third-party           a partner\'s shop: the consent page is shown',
  REQUIRE_ACR_HELP,
  '  --no-require-acr        removes the required level (the request decides)',
  '  --jwks-uri URL          a private_key_jwt client: its new key URL (https; replaces --jwks keys)',
  '  --jwks FILE             a private_key_jwt client: its new public keys (a JWKS file; replaces the old ones)',
  PAGE_OPTIONS_HELP,
  '',
  REDIRECT_URI_RULES,
  'The authentication method is not changed here: remove the client and add it again.',
  CACHE_NOTE,
].join('\n');

/** The names of the fields that differ, in the order the options are listed. */
function changedFields(before: ShopClientInput, after: ShopClientInput): string[] {
  const fields: Array<[string, (input: ShopClientInput) => unknown]> = [
    ['redirect URIs', (input) => input.redirectUris],
    ['post-logout redirect URIs', (input) => input.postLogoutRedirectUris ?? []],
    ['name', (input) => input.name],
    ['names per language', (input) => input.localizedNames ?? {}],
    ['first party', (input) => input.firstParty === true],
    ['required acr', (input) => input.defaultAcrValues ?? []],
    ['jwks_uri', (input) => input.jwksUri],
    ['jwks', (input) => input.jwks],
    ['logo_uri', (input) => input.logoUri],
    ['policy_uri', (input) => input.policyUri],
    ['tos_uri', (input) => input.tosUri],
  ];
  return fields.filter(([, read]) => JSON.stringify(read(before)) !== JSON.stringify(read(after))).map(([label]) => label);
}

const UPDATE_OPTION_TYPES = {
  'redirect-uri': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  'no-post-logout-redirect-uris': { type: 'boolean' },
  name: { type: 'string' },
  'first-party': { type: 'boolean' },
  'third-party': { type: 'boolean' },
  'require-acr': { type: 'string' },
  'no-require-acr': { type: 'boolean' },
  'jwks-uri': { type: 'string' },
  jwks: { type: 'string' },
  'logo-uri': { type: 'string' },
  'policy-uri': { type: 'string' },
  'tos-uri': { type: 'string' },
  ...NAME_OPTION_TYPES,
} as const;
const UPDATE_OPTIONS = Object.keys(UPDATE_OPTION_TYPES);

export const clientUpdate: CommandSpec = {
  name: 'client update',
  usage: UPDATE_USAGE,
  summary: "change a client's redirect URIs, post-logout redirect URIs, name, first party, required acr level or keys",
  details: UPDATE_DETAILS,
  async parse(args, io) {
    const { values, positionals, help } = parseCommandArgs('client update', UPDATE_USAGE, args, UPDATE_OPTION_TYPES, ['id']);
    if (help) return { help: UPDATE_USAGE };
    const clientId = positionals[0] as string;
    const either = (a: string, b: string): void => {
      if (values[a] !== undefined && values[b] !== undefined) throw new UsageError(`client update: give either --${a} or --${b}, not both`, UPDATE_USAGE);
    };
    either('post-logout-redirect-uri', 'no-post-logout-redirect-uris');
    either('first-party', 'third-party');
    either('require-acr', 'no-require-acr');
    either('jwks-uri', 'jwks');

    const redirectUris = stringList(values, 'redirect-uri');
    const postLogoutRedirectUris = stringList(values, 'post-logout-redirect-uri');
    checkRedirectUris('client update', UPDATE_USAGE, redirectUris, 'redirect_uris');
    checkRedirectUris('client update', UPDATE_USAGE, postLogoutRedirectUris, 'post_logout_redirect_uris');
    const name = optionalString(values, 'name');
    const acrText = optionalString(values, 'require-acr');
    const requireAcr = acrText === undefined ? undefined : parseAcrLevel('client update', UPDATE_USAGE, acrText);
    const jwksUri = optionalString(values, 'jwks-uri');
    const jwksFile = optionalString(values, 'jwks');
    const jwks = jwksFile === undefined ? undefined : await readJwksFile('client update', UPDATE_USAGE, jwksFile, io);
    const pages = pageOptions(values);
    const names = localizedNameOptions(values);

    /** The stored client's input with the options applied. */
    const apply = (input: ShopClientInput): ShopClientInput => {
      const next: ShopClientInput = { ...input, ...pages };
      if (redirectUris.length > 0) next.redirectUris = redirectUris;
      if (postLogoutRedirectUris.length > 0) next.postLogoutRedirectUris = postLogoutRedirectUris;
      if (values['no-post-logout-redirect-uris'] === true) next.postLogoutRedirectUris = [];
      if (name !== undefined) next.name = name;
      if (Object.keys(names).length > 0) next.localizedNames = { ...next.localizedNames, ...names };
      if (values['first-party'] === true) next.firstParty = true;
      if (values['third-party'] === true) next.firstParty = false;
      if (requireAcr !== undefined) next.defaultAcrValues = [requireAcr];
      if (values['no-require-acr'] === true) delete next.defaultAcrValues;
      if (jwksUri !== undefined) {
        next.jwksUri = jwksUri;
        delete next.jwks;
      }
      if (jwks !== undefined) {
        next.jwks = jwks;
        delete next.jwksUri;
      }
      return next;
    };
    if (!UPDATE_OPTIONS.some((option) => values[option] !== undefined)) {
      throw new UsageError('client update: nothing to change: give at least one option', UPDATE_USAGE);
    }

    return {
      async run(ctx: CommandContext) {
        const client = await storedClient(ctx, clientId);
        if ((jwksUri !== undefined || jwks !== undefined) && client.tokenEndpointAuthMethod !== 'private_key_jwt') {
          throw new CliFailure(`client update: --jwks-uri and --jwks are for private_key_jwt clients; "${clientId}" authenticates with ${client.tokenEndpointAuthMethod}`, 2);
        }
        const before = clientInputOf(client);
        const after = apply(before);
        const problems = await validateClient(after);
        if (problems.length > 0) throw new CliFailure(`client update: ${problems.join('; ')}`, 2);
        const changed = changedFields(before, after);
        if (changed.length === 0) {
          ctx.print(`Nothing changed: client ${clientId} already has these settings.`);
          return;
        }
        let updated: ShopClient;
        try {
          updated = await updateClient(ctx.conn, after);
        } catch (err) {
          if (err instanceof AppError && err.code === 'client_not_found') throw new CliFailure(err.message);
          throw err;
        }
        ctx.print(`Updated client ${clientId}: ${changed.join(', ')}.`);
        for (const line of describeClient(updated)) ctx.print(line);
        ctx.print(CACHE_NOTE);
      },
    };
  },
};

export const clientRotateSecret: CommandSpec = {
  name: 'client rotate-secret',
  usage: ROTATE_USAGE,
  summary: 'give a client a new secret, printed once (the old one stops working); asks on a terminal unless --yes',
  details: [
    'For clients authenticating with client_secret_basic, client_secret_post or client_secret_jwt.',
    'The shop cannot sign anyone in until it uses the new secret. Running servers refuse the old one from their next',
    'request on (every request reads its client).',
  ].join('\n'),
  parse(args, io) {
    const { values, positionals, help } = parseCommandArgs('client rotate-secret', ROTATE_USAGE, args, { yes: { type: 'boolean', short: 'y' } }, ['id']);
    if (help) return { help: ROTATE_USAGE };
    const clientId = positionals[0] as string;
    const confirmed = values.yes === true;
    requireAnswerable('client rotate-secret', ROTATE_USAGE, confirmed, io);
    return {
      async run(ctx: CommandContext) {
        const client = await storedClient(ctx, clientId);
        if (!isSecretMethod(client.tokenEndpointAuthMethod)) {
          throw new CliFailure(`The client "${clientId}" authenticates with ${client.tokenEndpointAuthMethod}: it has no secret to rotate.`);
        }
        if (!confirmed) {
          const question = `Give ${clientId} a new secret? The current one stops working and the shop cannot sign anyone in until it uses the new one. [y/N] `;
          if (!await confirm(ctx.io, question)) throw new CliFailure('Aborted: nothing was changed.');
        }
        let clientSecret: string;
        try {
          ({ clientSecret } = await rotateClientSecret(ctx.conn, clientId));
        } catch (err) {
          if (err instanceof AppError && (err.code === 'client_not_found' || err.code === 'client_has_no_secret')) throw new CliFailure(err.message);
          throw err;
        }
        ctx.print(`New secret for client ${clientId}:`);
        ctx.print(`  client_secret:  ${clientSecret}`);
        ctx.print('Store it now: it is not shown again. Running servers refuse the old secret from now on.');
      },
    };
  },
};

export const clientRemove: CommandSpec = {
  name: 'client remove',
  usage: REMOVE_USAGE,
  summary: "remove a client and revoke its grants and tokens; asks on a terminal unless --yes",
  details: [
    'The shop can no longer sign anyone in; its codes, access and refresh tokens are revoked. Running servers stop',
    'serving it from their next request on (every request reads its client).',
  ].join('\n'),
  parse(args, io) {
    const { values, positionals, help } = parseCommandArgs('client remove', REMOVE_USAGE, args, { yes: { type: 'boolean', short: 'y' } }, ['id']);
    if (help) return { help: REMOVE_USAGE };
    const clientId = positionals[0] as string;
    const confirmed = values.yes === true;
    requireAnswerable('client remove', REMOVE_USAGE, confirmed, io);
    return {
      async run(ctx: CommandContext) {
        const client = await storedClient(ctx, clientId);
        if (!confirmed) {
          const named = client.name === undefined ? clientId : `${clientId} ("${client.name}")`;
          const question = `Remove the client ${named}? Its shop can no longer sign anyone in and its tokens are revoked. [y/N] `;
          if (!await confirm(ctx.io, question)) throw new CliFailure('Aborted: nothing was changed.');
        }
        const { removed, grantsRevoked } = await removeClient(ctx.conn, clientId);
        if (!removed) throw new CliFailure(`No client with the id "${clientId}" (removed meanwhile).`);
        ctx.print(`Removed client ${clientId}; revoked ${grantsRevoked} grant${grantsRevoked === 1 ? '' : 's'} with their codes and tokens.`);
        ctx.print('Running servers stop serving it from now on.');
      },
    };
  },
};
