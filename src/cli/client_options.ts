/**
 * What the `client` commands share: parsing the authentication method, a JWKS file and an acr level, checking
 * redirect URIs before any database is touched, the help text that states the rules, and how a client is shown
 * (never its secret).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { SOURCE_LANGUAGE, loadLanguages } from '../i18n/languages.ts';
import { ACR, ACR_VALUES, levelOf } from '../policy/acr.ts';
import {
  TOKEN_ENDPOINT_AUTH_METHODS,
  isTokenEndpointAuthMethod,
  redirectUriProblems,
  type PublicJwks,
  type ShopClient,
  type TokenEndpointAuthMethod,
} from '../provider/clients.ts';
import { UsageError, type CliIo } from './io.ts';

/** Short names of the acr levels, as `--require-acr` takes them beside the acr values themselves. */
const ACR_SHORT_NAMES: Readonly<Record<string, string>> = Object.freeze({
  pwd: ACR.pwd,
  mfa: ACR.mfa,
  'mfa-app': ACR.mfaApp,
});

/** Every acr value `--require-acr` accepts as is (those of `acr_values_supported`). */

const LEVEL_MEANING: Readonly<Record<number, string>> = Object.freeze({
  1: 'password',
  2: 'password + any second factor',
  3: 'password + authenticator-app code or recovery code',
});

/** The rules every redirect URI follows, for `--help` and the README. */
export const REDIRECT_URI_RULES =
  'Redirect URIs (and post-logout redirect URIs): absolute; https, or http only on localhost, 127.0.0.1 or [::1]; '
  + 'no fragment (#); no user:password@.';

/** When a change reaches running servers: every request reads its client from the database (adapter.ts). */
export const CACHE_NOTE =
  'Running servers read the client at every request: the change counts on every instance from the next request on.';

/** The `--auth` methods, for `--help`. */
export const AUTH_METHODS_HELP = [
  '  --auth METHOD           how the shop authenticates at the token endpoint (default client_secret_basic):',
  '                            client_secret_basic  the secret in the Authorization header',
  '                            client_secret_post   the secret in the form body',
  '                            client_secret_jwt    a JWT signed (HS256) with the secret (RFC 7523)',
  '                            private_key_jwt      a JWT signed with the shop\'s private key; needs --jwks-uri or --jwks',
  '                            none                 a public client (same as --public): no secret, PKCE only',
  '  --jwks-uri URL          private_key_jwt: https URL where the shop publishes its public keys (fetched by the',
  '                          provider, never from a loopback or private address: use --jwks for a local shop)',
  '  --jwks FILE             private_key_jwt: a file holding the shop\'s public keys as a JWKS (RSA ≥ 2048 bits,',
  '                          EC P-256 or Ed25519; never a private key)',
].join('\n');

/** The shop's pages the consent page shows, for `--help`. */
export const PAGE_OPTIONS_HELP = [
  '  --logo-uri URL          the shop\'s logo on the consent page (https; http only on localhost)',
  '  --policy-uri URL        the shop\'s privacy policy, linked on the consent page',
  '  --tos-uri URL           the shop\'s terms of service, linked on the consent page',
].join('\n');

/**
 * The languages a shop's name may be given in besides `--name` (the pages' languages other than English): `--name-de`
 * stores `client_name#de` (OpenID Connect Dynamic Client Registration 1.0 §2.1).
 */
const LANGUAGES = loadLanguages();
const NAME_LANGUAGES = LANGUAGES.supported.filter((language) => language !== SOURCE_LANGUAGE);

/** The `--name-<language>` options, for `parseCommandArgs`. */
export const NAME_OPTION_TYPES: Readonly<Record<string, { type: 'string' }>> = Object.freeze(
  Object.fromEntries(NAME_LANGUAGES.map((language) => [`name-${language}`, { type: 'string' as const }])),
);

/** The `--name-<language>` options, for `--help`. */
export const NAME_OPTIONS_HELP = NAME_LANGUAGES
  .map((language) => `  ${`--name-${language} NAME`.padEnd(23)} the shop's name on the pages in ${new Intl.DisplayNames(['en'], { type: 'language' }).of(language) ?? language} (default: --name)`)
  .join('\n');

/** `--name-<language>` as the client's localized names (only those given). */
export function localizedNameOptions(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(NAME_LANGUAGES.flatMap((language) => {
    const value = values[`name-${language}`];
    return typeof value === 'string' && value.trim() !== '' ? [[language, value.trim()]] : [];
  }));
}

/** `--logo-uri`, `--policy-uri`, `--tos-uri` as client input fields (only those given). */
export function pageOptions(values: Record<string, unknown>): { logoUri?: string; policyUri?: string; tosUri?: string } {
  const read = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string).trim() : undefined);
  const [logoUri, policyUri, tosUri] = [read('logo-uri'), read('policy-uri'), read('tos-uri')];
  return { ...(logoUri ? { logoUri } : {}), ...(policyUri ? { policyUri } : {}), ...(tosUri ? { tosUri } : {}) };
}

/** The `--require-acr` option, for `--help`. */
export const REQUIRE_ACR_HELP = [
  '  --require-acr LEVEL     the least level every sign-in of this shop needs; a request may ask for more, never less',
  '                          (stored as default_acr_values): pwd, mfa (a second factor), mfa-app (an',
  '                          authenticator-app or recovery code), or one of the acr values of acr_values_supported',
].join('\n');

/** `--auth METHOD` (or `--public`), checked. */
export function parseAuthMethod(command: string, usage: string, value: string | undefined, isPublic: boolean): TokenEndpointAuthMethod | undefined {
  if (value === undefined) return isPublic ? 'none' : undefined;
  if (!isTokenEndpointAuthMethod(value)) {
    throw new UsageError(`${command}: unknown --auth "${value}"; one of ${TOKEN_ENDPOINT_AUTH_METHODS.join(', ')}`, usage);
  }
  if (isPublic && value !== 'none') throw new UsageError(`${command}: --public means --auth none, not ${value}`, usage);
  return value;
}

/** `--require-acr LEVEL`: a short name (pwd, mfa, mfa-app) or an acr value of `acr_values_supported`; the acr value. */
export function parseAcrLevel(command: string, usage: string, value: string): string {
  const trimmed = value.trim();
  const short = ACR_SHORT_NAMES[trimmed.toLowerCase()];
  if (short !== undefined) return short;
  if (ACR_VALUES.includes(trimmed)) return trimmed;
  throw new UsageError(
    `${command}: unknown --require-acr "${value}"; one of ${Object.keys(ACR_SHORT_NAMES).join(', ')} or ${ACR_VALUES.join(', ')}`,
    usage,
  );
}

/** Every problem of the given redirect URIs, as one usage error. */
export function checkRedirectUris(command: string, usage: string, uris: readonly string[], label: string): void {
  const problems = uris.flatMap((uri) => redirectUriProblems(uri, label));
  if (problems.length > 0) throw new UsageError(`${command}: ${problems.join('; ')}`, usage);
}

/** Reads `--jwks FILE` (relative to the working directory) as JSON; its keys are checked by `validateClient`. */
export async function readJwksFile(command: string, usage: string, file: string, io: CliIo): Promise<PublicJwks> {
  let text: string;
  try {
    text = await readFile(resolve(io.cwd ?? process.cwd(), file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new UsageError(`${command}: cannot read the --jwks file "${file}": ${reason}`, usage);
  }
  try {
    return JSON.parse(text) as PublicJwks;
  } catch (err) {
    throw new UsageError(`${command}: the --jwks file "${file}" is not JSON (${(err as Error).message})`, usage);
  }
}

/** An acr value with its level, e.g. `urn:oidc-stepup:acr:mfa (level 2: password + any second factor)`. */
export function describeAcr(value: string): string {
  const level = levelOf(value);
  return level === undefined ? value : `${value} (level ${level}: ${LEVEL_MEANING[level] ?? ''})`;
}

function describeJwks(jwks: PublicJwks): string {
  const keys = jwks.keys.map((key) => `${key.kid ?? '(no kid)'} ${key.kty}${key.crv ? ` ${key.crv}` : ''}`);
  return `${keys.length} public key${keys.length === 1 ? '' : 's'}: ${keys.join(', ')}`;
}

/**
 * The lines that show a client: everything registered except its secret; `secretLine` replaces the secret's line
 * (the one-time display of a new secret, or a note that one is set).
 */
export function describeClient(client: ShopClient, secretLine?: string): string[] {
  const row = (label: string, value: string): string => `  ${`${label}:`.padEnd(28)}${value}`;
  const kind = [client.public ? 'public' : 'confidential', client.firstParty ? 'first-party (no consent page)' : 'third-party (consent page)'];
  const lines = [row('client_id', client.clientId)];
  if (secretLine !== undefined) lines.push(row('client_secret', secretLine));
  else if (client.clientSecret !== undefined) lines.push(row('client_secret', 'set (not shown)'));
  lines.push(
    row('name', client.name ?? '-'),
    row('type', kind.join(', ')),
    row('token endpoint auth', client.tokenEndpointAuthMethod),
  );
  if (client.jwksUri !== undefined) lines.push(row('jwks_uri', client.jwksUri));
  if (client.jwks !== undefined) lines.push(row('jwks', describeJwks(client.jwks)));
  const grantTypes = Array.isArray(client.metadata.grant_types) ? (client.metadata.grant_types as string[]) : [];
  lines.push(
    row('redirect URIs', client.redirectUris.join(' ')),
    row('post-logout redirect URIs', client.postLogoutRedirectUris.join(' ') || '-'),
    row('grant types', grantTypes.join(' ')),
    row('scope', client.scope ?? '-'),
    row('required acr', client.defaultAcrValues.map(describeAcr).join(', ') || '- (the request decides)'),
  );
  if (client.logoUri !== undefined) lines.push(row('logo_uri', client.logoUri));
  if (client.policyUri !== undefined) lines.push(row('policy_uri', client.policyUri));
  if (client.tosUri !== undefined) lines.push(row('tos_uri', client.tosUri));
  for (const [language, name] of Object.entries(client.localizedNames)) lines.push(row(`client_name#${language}`, name));
  return lines;
}

/** A client as `--json` shows it: no secret, only whether one is set. */
export function clientJson(client: ShopClient): Record<string, unknown> {
  return {
    clientId: client.clientId,
    name: client.name ?? null,
    localizedNames: client.localizedNames,
    public: client.public,
    firstParty: client.firstParty,
    tokenEndpointAuthMethod: client.tokenEndpointAuthMethod,
    hasSecret: client.clientSecret !== undefined,
    jwksUri: client.jwksUri ?? null,
    jwks: client.jwks ?? null,
    redirectUris: client.redirectUris,
    postLogoutRedirectUris: client.postLogoutRedirectUris,
    clientCredentials: client.clientCredentials,
    scope: client.scope ?? null,
    defaultAcrValues: client.defaultAcrValues,
  };
}
