/**
 * The shop-client registry: relying shops stored as oidc-provider client metadata in the collection the
 * adapter reads for model `Client`, so a saved client is served without a restart.
 *
 * Running servers read a request's client from the database in every request (merged into the request's first read,
 * `src/provider/read_plan.ts`): a client registered, changed or removed here counts on every instance from its next
 * request on.
 */
import { randomBytes } from 'node:crypto';
import { importJWK, type CryptoKey, type JWK } from 'jose';
import type { AdapterPayload } from 'oidc-provider';
import type { Connection, mongo } from 'mongoose';

import { AppError, isDuplicateKeyError } from '../shared/errors.ts';
import { ACR_VALUES } from '../policy/acr.ts';
import { MongoAdapter, revokeGrantEverywhere, type AdapterDocument } from './adapter.ts';

/** Client metadata property names this project adds; the provider config declares them in extraClientMetadata.properties. */
export const FIRST_PARTY_PROPERTY = 'first_party';

/** Scopes a shop client may request unless told otherwise. */
export const DEFAULT_CLIENT_SCOPE = 'openid email profile offline_access invoice invoice_eligibility';

/** Shortest accepted client secret, in characters; generated secrets are 32 random bytes (43 characters). */
export const MIN_CLIENT_SECRET_LENGTH = 32;

/**
 * How a client authenticates at the token endpoint (OIDC Core §9), the methods oidc-provider's discovery
 * advertises: a shared secret in the Basic header (`client_secret_basic`, the default), in the form body
 * (`client_secret_post`), as the HMAC key of a signed assertion (`client_secret_jwt`, RFC 7523), an assertion
 * signed with the shop's private key whose public keys are registered (`private_key_jwt`), or nothing (`none`:
 * a public client, PKCE only).
 */
export const TOKEN_ENDPOINT_AUTH_METHODS = [
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
  'private_key_jwt',
  'none',
] as const;

export type TokenEndpointAuthMethod = (typeof TOKEN_ENDPOINT_AUTH_METHODS)[number];

/** The methods that use the client secret. */
const SECRET_METHODS: ReadonlySet<TokenEndpointAuthMethod> = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);

/**
 * Algorithms a `private_key_jwt` assertion may be signed with: oidc-provider's default
 * `clientAuthSigningAlgValues` (`token_endpoint_auth_signing_alg_values_supported`) without the HMAC ones.
 */
export const PRIVATE_KEY_JWT_ALGS = ['RS256', 'PS256', 'ES256', 'Ed25519', 'EdDSA'] as const;

/** Shortest accepted RSA modulus of a shop's key, in bits (what jose demands of RS256/PS256 keys). */
const MIN_RSA_BITS = 2048;

/** A JSON Web Key Set of a shop's public signing keys (RFC 7517 §5). */
export interface PublicJwks {
  keys: JWK[];
}

export function isSecretMethod(method: TokenEndpointAuthMethod): boolean {
  return SECRET_METHODS.has(method);
}

export function isTokenEndpointAuthMethod(value: unknown): value is TokenEndpointAuthMethod {
  return typeof value === 'string' && (TOKEN_ENDPOINT_AUTH_METHODS as readonly string[]).includes(value);
}

export interface ShopClientInput {
  clientId: string;
  /** Omitted → kept from the stored client, or generated for a new client that uses a secret; others have none. */
  clientSecret?: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  name?: string;
  /** First-party clients skip the consent page. Default false. */
  firstParty?: boolean;
  /** A public client (no secret, `token_endpoint_auth_method: none`, PKCE only). Default false. */
  public?: boolean;
  /** Default `none` for a public client, else `client_secret_basic`. */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /** `private_key_jwt` only: where the shop publishes its public keys (https). Either this or `jwks`. */
  jwksUri?: string;
  /** `private_key_jwt` only: the shop's public signing keys, inline. Either this or `jwksUri`. */
  jwks?: PublicJwks;
  /**
   * `default_acr_values`: the acr values a sign-in of this client asks for when its request names none (OIDC
   * Dynamic Client Registration §2); each one of `acr_values_supported`.
   */
  defaultAcrValues?: string[];
  /** Allowed scopes, space-separated; default {@link DEFAULT_CLIENT_SCOPE}. */
  scope?: string;
  /**
   * May use the `client_credentials` grant (a token for the shop itself, no customer behind it). Default false:
   * opt-in per confidential client. Step-up scopes (`invoice`) are never issued through it (see configuration.ts).
   */
  clientCredentials?: boolean;
  /** The shop's logo, shown on the consent page (`logo_uri`): https, or http on a loopback host for development. */
  logoUri?: string;
  /** The shop's privacy policy (`policy_uri`), linked on the consent page. */
  policyUri?: string;
  /** The shop's terms of service (`tos_uri`), linked on the consent page. */
  tosUri?: string;
  /**
   * The shop's name per language (`client_name#de`, OpenID Connect Dynamic Client Registration 1.0 §2.1): the sign-in
   * pages use it in that language, `name` in every other. Keys are lower-case language tags.
   */
  localizedNames?: Readonly<Record<string, string>>;
}

/** A language tag of a localized name (`de`, `pt-br`). */
const NAME_LANGUAGE = /^[a-z]{2,3}(-[a-z0-9]{2,8})*$/;
/** Stored localized names: `client_name#<language>`. */
const LOCALIZED_NAME = /^client_name#([a-z]{2,3}(?:-[a-z0-9]{2,8})*)$/;

/** The problems of the localized names: a language tag each, and a name as `--name` takes it. */
function localizedNameProblems(names: unknown): string[] {
  if (typeof names !== 'object' || names === null || Array.isArray(names)) return ['localized names must be language → name'];
  return Object.entries(names).flatMap(([language, name]) => {
    if (!NAME_LANGUAGE.test(language)) return [`${JSON.stringify(language)} is not a language tag (de, pt-br)`];
    // eslint-disable-next-line no-control-regex
    if (typeof name !== 'string' || name.trim() === '' || name.length > 200 || /[\u0000-\u001f\u007f]/.test(name)) {
      return [`the name in ${language} must be 1 to 200 characters without control characters`];
    }
    return [];
  });
}

/** The client's pages the consent page shows: `logo_uri`, `policy_uri`, `tos_uri` (OIDC Dynamic Client Registration §2). */
const PAGE_FIELDS = [['logoUri', 'logo_uri'], ['policyUri', 'policy_uri'], ['tosUri', 'tos_uri']] as const;

/** The problems of one of the shop's page URIs: absolute, https (http only on a loopback host), no credentials. */
function pageUriProblems(value: unknown, field: string): string[] {
  const url = typeof value === 'string' && value.length <= 2000 ? URL.parse(value) : null;
  if (!url) return [`${field} must be an absolute URL`];
  const loopback = LOCAL_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) return [`${field} must be https (http only on localhost)`];
  if (url.username || url.password) return [`${field} must not contain user:password@`];
  return [];
}

export interface ShopClient {
  clientId: string;
  clientSecret?: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  name?: string;
  firstParty: boolean;
  public: boolean;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  jwksUri?: string;
  jwks?: PublicJwks;
  /** Empty when none are registered. */
  defaultAcrValues: string[];
  scope?: string;
  /** Whether the client may use the `client_credentials` grant. */
  clientCredentials: boolean;
  logoUri?: string;
  policyUri?: string;
  tosUri?: string;
  /** The shop's name per language (`client_name#de`); empty when none are registered. */
  localizedNames: Record<string, string>;
  /** oidc-provider client metadata as stored. */
  metadata: Record<string, unknown>;
}

const LOCAL_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);
// RFC 6749 §3.3 scope-token characters.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
// Client ids become keys of session documents: no '.', no '$' (MongoDB field names), no spaces.
const CLIENT_ID = /^[A-Za-z0-9_~:-]{1,128}$/;

function clientAdapter(conn: Connection): MongoAdapter {
  return new MongoAdapter(conn, 'Client');
}

/**
 * The problems of one redirect or post-logout redirect URI (RFC 6749 §3.1.2, RFC 8252 §7.3): absolute, no
 * fragment, no credentials, https — or http on a loopback host (localhost, 127.0.0.1, [::1]) for development.
 */
export function redirectUriProblems(uri: string, label: string): string[] {
  const parsed = URL.parse(uri);
  if (!parsed) return [`${label}: "${uri}" is not an absolute URI`];
  const problems: string[] = [];
  if (uri.includes('#')) problems.push(`${label}: "${uri}" must not contain a fragment (RFC 6749 §3.1.2)`);
  if (parsed.username || parsed.password) problems.push(`${label}: "${uri}" must not contain credentials`);
  if (parsed.protocol === 'http:') {
    if (!LOCAL_HOSTS.has(parsed.hostname)) {
      problems.push(`${label}: "${uri}" uses http; only https is allowed, except on localhost, 127.0.0.1 or [::1]`);
    }
  } else if (parsed.protocol !== 'https:') {
    problems.push(`${label}: "${uri}" must use https (or http on localhost)`);
  }
  return problems;
}

function checkUris(uris: unknown, label: string, required: boolean, problems: string[]): void {
  if (uris === undefined && !required) return;
  if (!Array.isArray(uris) || !uris.every((uri) => typeof uri === 'string')) {
    problems.push(`${label} must be a list of URIs`);
    return;
  }
  if (required && uris.length === 0) problems.push(`${label} must contain at least one URI`);
  for (const uri of uris as string[]) problems.push(...redirectUriProblems(uri, label));
}

/**
 * The problems of a `jwks_uri`: an absolute https URI without fragment or credentials. No http, not even on
 * localhost: oidc-provider fetches it and refuses loopback and private addresses (`helpers/fetch_request.js`).
 */
export function jwksUriProblems(uri: string): string[] {
  const parsed = URL.parse(uri);
  if (!parsed) return [`jwks_uri: "${uri}" is not an absolute URI`];
  const problems: string[] = [];
  if (parsed.protocol !== 'https:') {
    problems.push(`jwks_uri: "${uri}" must use https (the provider fetches it, and never from a loopback or private address)`);
  }
  if (uri.includes('#')) problems.push(`jwks_uri: "${uri}" must not contain a fragment`);
  if (parsed.username || parsed.password) problems.push(`jwks_uri: "${uri}" must not contain credentials`);
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Private or symmetric key members per key type (RFC 7518 §6): a shop registers public keys only. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;

/** The `private_key_jwt` algorithms a key can sign with at this provider; empty when it fits none. */
function signingAlgorithmsOf(jwk: Record<string, unknown>): string[] {
  if (jwk.kty === 'RSA') return ['RS256', 'PS256'];
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return ['ES256'];
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return ['Ed25519', 'EdDSA'];
  return [];
}

/** The structural problems of a shop's JWKS (no key material is parsed here; see {@link jwksKeyProblems}). */
function jwksShapeProblems(jwks: unknown): string[] {
  if (!isRecord(jwks) || !Array.isArray(jwks.keys)) {
    return ['jwks must be a JSON Web Key Set: an object with a "keys" array (RFC 7517 §5)'];
  }
  if (jwks.keys.length === 0) return ['jwks contains no keys'];
  const problems: string[] = [];
  const kids = new Set<string>();
  jwks.keys.forEach((key: unknown, i) => {
    const label = `jwks.keys[${i}]`;
    if (!isRecord(key)) {
      problems.push(`${label} is not a JSON object`);
      return;
    }
    const privateMembers = PRIVATE_MEMBERS.filter((member) => key[member] !== undefined);
    if (key.kty === 'oct') {
      problems.push(`${label} is a symmetric key: register the shop's public keys only`);
      return;
    }
    if (privateMembers.length > 0) {
      problems.push(`${label} contains private key members (${privateMembers.join(', ')}): register the public key only, never the private one`);
    }
    const algorithms = signingAlgorithmsOf(key);
    if (algorithms.length === 0) {
      problems.push(`${label}: ${JSON.stringify(key.kty)}${key.crv === undefined ? '' : ` ${JSON.stringify(key.crv)}`} cannot sign an assertion here; use an RSA, EC P-256 or Ed25519 key`);
    } else if (key.alg !== undefined && !algorithms.includes(key.alg as string)) {
      problems.push(`${label}: alg ${JSON.stringify(key.alg)} does not fit this key or is not accepted (expected one of ${algorithms.join(', ')})`);
    }
    if (key.use !== undefined && key.use !== 'sig') problems.push(`${label}: use must be "sig" (got ${JSON.stringify(key.use)})`);
    if (key.key_ops !== undefined && !(Array.isArray(key.key_ops) && key.key_ops.includes('verify'))) {
      problems.push(`${label}: key_ops must include "verify"`);
    }
    if (key.kid !== undefined) {
      if (typeof key.kid !== 'string' || key.kid === '') problems.push(`${label}: kid must be a non-empty string`);
      else if (kids.has(key.kid)) problems.push(`${label}: kid "${key.kid}" is used twice`);
      else kids.add(key.kid);
    }
  });
  return problems;
}

/**
 * The problems jose finds importing each key as a public verification key (a malformed modulus, a point off its
 * curve), and RSA keys shorter than 2048 bits. Run after {@link jwksShapeProblems} found none.
 */
async function jwksKeyProblems(jwks: PublicJwks): Promise<string[]> {
  const problems: string[] = [];
  for (const [i, jwk] of jwks.keys.entries()) {
    const alg = (jwk.alg as string | undefined) ?? signingAlgorithmsOf(jwk as Record<string, unknown>)[0] ?? '';
    try {
      const key = await importJWK(jwk, alg);
      const bits = (key as CryptoKey).algorithm as { modulusLength?: number };
      if (jwk.kty === 'RSA' && (bits.modulusLength ?? 0) < MIN_RSA_BITS) {
        problems.push(`jwks.keys[${i}]: RSA key of ${bits.modulusLength ?? 0} bits is too short (at least ${MIN_RSA_BITS})`);
      }
    } catch (err) {
      problems.push(`jwks.keys[${i}] is not a valid ${String(jwk.kty)} public key (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return problems;
}

/** The token endpoint auth method an input asks for. */
function authMethodOf(input: ShopClientInput): TokenEndpointAuthMethod {
  return input.tokenEndpointAuthMethod ?? (input.public === true ? 'none' : 'client_secret_basic');
}

function checkAuthentication(input: ShopClientInput, problems: string[]): void {
  const asked = input.tokenEndpointAuthMethod;
  if (asked !== undefined && !isTokenEndpointAuthMethod(asked)) {
    problems.push(`token_endpoint_auth_method must be one of ${TOKEN_ENDPOINT_AUTH_METHODS.join(', ')} (got ${JSON.stringify(asked)})`);
    return;
  }
  const method = authMethodOf(input);
  if (input.public === true && method !== 'none') {
    problems.push(`a public client authenticates with none, not ${method}`);
    return;
  }
  if (input.clientSecret !== undefined) {
    if (method === 'none') {
      problems.push('a public client has no client_secret');
    } else if (!isSecretMethod(method)) {
      problems.push(`a client authenticating with ${method} has no client_secret`);
    } else if (typeof input.clientSecret !== 'string' || input.clientSecret.length < MIN_CLIENT_SECRET_LENGTH) {
      problems.push(`client_secret must be at least ${MIN_CLIENT_SECRET_LENGTH} characters (omit it to generate one)`);
    }
  }
  const hasJwks = input.jwks !== undefined;
  const hasJwksUri = input.jwksUri !== undefined;
  if (method !== 'private_key_jwt') {
    if (hasJwks || hasJwksUri) problems.push(`jwks and jwks_uri are for private_key_jwt only (this client authenticates with ${method})`);
    return;
  }
  if (hasJwks && hasJwksUri) problems.push('give either jwks or jwks_uri, not both');
  else if (!hasJwks && !hasJwksUri) problems.push("private_key_jwt needs the shop's public keys: jwks_uri or jwks");
  if (hasJwksUri) {
    if (typeof input.jwksUri === 'string') problems.push(...jwksUriProblems(input.jwksUri));
    else problems.push('jwks_uri must be a URI');
  }
  if (hasJwks) problems.push(...jwksShapeProblems(input.jwks));
}

/**
 * Every problem of the input found without parsing key material, in field order; empty when it is valid.
 * {@link validateClient} adds the checks of the keys themselves.
 */
export function validateClientInput(input: ShopClientInput): string[] {
  const problems: string[] = [];
  const { clientId } = input;
  if (typeof clientId !== 'string' || clientId === '') {
    problems.push('client_id is required');
  } else if (clientId.includes('.')) {
    problems.push(`client_id "${clientId}" must not contain "." (oidc-provider uses client ids as keys in sessions)`);
  } else if (!CLIENT_ID.test(clientId)) {
    problems.push(`client_id "${clientId}" may only contain letters, digits, "_", "-", "~" and ":" (at most 128)`);
  }

  checkUris(input.redirectUris, 'redirect_uris', true, problems);
  checkUris(input.postLogoutRedirectUris, 'post_logout_redirect_uris', false, problems);

  checkAuthentication(input, problems);

  if (input.name !== undefined && (typeof input.name !== 'string' || input.name.trim() === '' || input.name.length > 200)) {
    problems.push('client_name must be a non-empty text of at most 200 characters');
  }

  if (input.scope !== undefined) {
    const tokens = typeof input.scope === 'string' ? input.scope.split(' ').filter((token) => token !== '') : [];
    if (tokens.length === 0 || !tokens.every((token) => SCOPE_TOKEN.test(token))) {
      problems.push('scope must be a space-separated list of scope names');
    } else if (!tokens.includes('openid')) {
      problems.push('scope must include "openid"');
    }
  }

  if (input.defaultAcrValues !== undefined) {
    const values = input.defaultAcrValues;
    if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string' && v.trim() !== '' && !/\s/.test(v))) {
      problems.push('default_acr_values must be a non-empty list of acr values without spaces');
    } else {
      // oidc-provider refuses a client whose default_acr_values are not all in acr_values_supported.
      const unknown = values.filter((value) => !ACR_VALUES.includes(value));
      if (unknown.length > 0) {
        problems.push(`default_acr_values: ${unknown.map((value) => `"${value}"`).join(', ')} not supported (one of ${ACR_VALUES.join(', ')})`);
      }
    }
  }

  for (const flag of ['firstParty', 'public', 'clientCredentials'] as const) {
    if (input[flag] !== undefined && typeof input[flag] !== 'boolean') problems.push(`${flag} must be true or false`);
  }
  if (input.clientCredentials === true && authMethodOf(input) === 'none') {
    problems.push('a public client cannot use client credentials (it has no secret)');
  }
  for (const [key, field] of PAGE_FIELDS) if (input[key] !== undefined) problems.push(...pageUriProblems(input[key], field));
  if (input.localizedNames !== undefined) problems.push(...localizedNameProblems(input.localizedNames));
  return problems;
}

/**
 * Every problem of the input (see {@link validateClientInput}), with a registered JWKS checked by importing each
 * key with jose; empty when it is valid.
 */
export async function validateClient(input: ShopClientInput): Promise<string[]> {
  const problems = validateClientInput(input);
  if (problems.length === 0 && input.jwks !== undefined && authMethodOf(input) === 'private_key_jwt') {
    problems.push(...await jwksKeyProblems(input.jwks));
  }
  return problems;
}

function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function toShopClient(metadata: AdapterPayload): ShopClient {
  const method = isTokenEndpointAuthMethod(metadata.token_endpoint_auth_method) ? metadata.token_endpoint_auth_method : 'client_secret_basic';
  const client: ShopClient = {
    clientId: String(metadata.client_id),
    redirectUris: strings(metadata.redirect_uris),
    postLogoutRedirectUris: strings(metadata.post_logout_redirect_uris),
    firstParty: metadata[FIRST_PARTY_PROPERTY] === true,
    public: method === 'none',
    tokenEndpointAuthMethod: method,
    defaultAcrValues: strings(metadata.default_acr_values),
    clientCredentials: strings(metadata.grant_types).includes('client_credentials'),
    localizedNames: Object.fromEntries(Object.entries(metadata).flatMap(([key, value]) => {
      const language = LOCALIZED_NAME.exec(key)?.[1];
      return language && typeof value === 'string' ? [[language, value]] : [];
    })),
    metadata: { ...metadata },
  };
  if (typeof metadata.client_secret === 'string') client.clientSecret = metadata.client_secret;
  if (typeof metadata.client_name === 'string') client.name = metadata.client_name;
  if (typeof metadata.scope === 'string') client.scope = metadata.scope;
  if (typeof metadata.jwks_uri === 'string') client.jwksUri = metadata.jwks_uri;
  for (const [key, field] of PAGE_FIELDS) if (typeof metadata[field] === 'string') client[key] = metadata[field] as string;
  if (isRecord(metadata.jwks) && Array.isArray(metadata.jwks.keys)) client.jwks = { keys: metadata.jwks.keys as JWK[] };
  return client;
}

/**
 * The input that saves `client` as it is (its secret left out: saving keeps the stored one), to change a field
 * and save it again.
 */
export function clientInputOf(client: ShopClient): ShopClientInput {
  return {
    clientId: client.clientId,
    redirectUris: [...client.redirectUris],
    postLogoutRedirectUris: [...client.postLogoutRedirectUris],
    firstParty: client.firstParty,
    tokenEndpointAuthMethod: client.tokenEndpointAuthMethod,
    clientCredentials: client.clientCredentials,
    ...(client.name !== undefined ? { name: client.name } : {}),
    ...(client.scope !== undefined ? { scope: client.scope } : {}),
    ...(client.jwksUri !== undefined ? { jwksUri: client.jwksUri } : {}),
    ...(client.jwks !== undefined ? { jwks: structuredClone(client.jwks) } : {}),
    ...(client.defaultAcrValues.length > 0 ? { defaultAcrValues: [...client.defaultAcrValues] } : {}),
    ...Object.fromEntries(PAGE_FIELDS.flatMap(([key]) => (client[key] !== undefined ? [[key, client[key]]] : []))),
    ...(Object.keys(client.localizedNames).length > 0 ? { localizedNames: { ...client.localizedNames } } : {}),
  };
}

async function checkInput(input: ShopClientInput): Promise<void> {
  const problems = await validateClient(input);
  if (problems.length > 0) {
    throw new AppError('invalid_client_metadata', `invalid client: ${problems.join('; ')}`, { status: 400 });
  }
}

/** The oidc-provider metadata of a validated input with its (stored, given or generated) secret. */
function buildMetadata(input: ShopClientInput, clientSecret: string | undefined): AdapterPayload {
  const method = authMethodOf(input);
  const grantTypes = ['authorization_code', 'refresh_token'];
  if (method !== 'none' && input.clientCredentials === true) grantTypes.push('client_credentials');
  return {
    client_id: input.clientId,
    ...(clientSecret !== undefined && isSecretMethod(method) ? { client_secret: clientSecret } : {}),
    redirect_uris: [...input.redirectUris],
    post_logout_redirect_uris: [...(input.postLogoutRedirectUris ?? [])],
    grant_types: grantTypes,
    response_types: ['code'],
    token_endpoint_auth_method: method,
    ...(method === 'private_key_jwt' && input.jwksUri !== undefined ? { jwks_uri: input.jwksUri } : {}),
    ...(method === 'private_key_jwt' && input.jwks !== undefined ? { jwks: { keys: input.jwks.keys.map((key) => ({ ...key })) } } : {}),
    ...(input.name !== undefined ? { client_name: input.name.trim() } : {}),
    ...Object.fromEntries(Object.entries(input.localizedNames ?? {}).map(([language, name]) => [`client_name#${language}`, name.trim()])),
    scope: (input.scope ?? DEFAULT_CLIENT_SCOPE).split(' ').filter((token) => token !== '').join(' '),
    ...(input.defaultAcrValues !== undefined ? { default_acr_values: [...input.defaultAcrValues] } : {}),
    // Stored as the URL parser writes them: quotes, spaces and angle brackets percent-encoded (WHATWG URL), so a
    // link is one attribute value wherever it is shown.
    ...Object.fromEntries(PAGE_FIELDS.flatMap(([key, field]) => (input[key] !== undefined ? [[field, URL.parse(input[key])?.href ?? input[key]]] : []))),
    [FIRST_PARTY_PROPERTY]: input.firstParty === true,
  };
}

/** The secret a saved client keeps: the given one, else the stored one, else a new one; none for other methods. */
async function secretToSave(adapter: MongoAdapter, input: ShopClientInput): Promise<string | undefined> {
  if (!isSecretMethod(authMethodOf(input))) return undefined;
  if (input.clientSecret !== undefined) return input.clientSecret;
  const stored = (await adapter.collection.findOne({ _id: input.clientId }))?.payload.client_secret;
  return typeof stored === 'string' ? stored : generateSecret();
}

/**
 * Validates (client_id without '.', redirect URIs absolute https, or http on a loopback host only, no
 * fragments; the authentication method and its secret or keys) and upserts the client into the collection the
 * adapter reads for model 'Client' (so oidc-provider finds it without restart). Throws
 * AppError('invalid_client_metadata', …, {status:400}) listing every problem.
 *
 * Updating a client that uses a secret without `clientSecret` keeps its secret; a new one gets 32 random bytes.
 * For the seed; to register a new client use {@link createClient}, which never overwrites, and to change one
 * {@link updateClient}, which never creates.
 */
export async function saveClient(conn: Connection, input: ShopClientInput): Promise<ShopClient> {
  await checkInput(input);
  const adapter = clientAdapter(conn);
  const metadata = buildMetadata(input, await secretToSave(adapter, input));
  await adapter.upsert(input.clientId, metadata);
  return toShopClient(metadata);
}

/**
 * Replaces a registered client's metadata with `input` (validated as {@link saveClient} does), keeping its secret
 * unless `clientSecret` is given. Never creates: an unknown id (or one removed meanwhile) throws
 * AppError('client_not_found', …, {status:404}) and nothing is written.
 */
export async function updateClient(conn: Connection, input: ShopClientInput): Promise<ShopClient> {
  await checkInput(input);
  const adapter = clientAdapter(conn);
  const metadata = buildMetadata(input, await secretToSave(adapter, input));
  // What MongoAdapter.upsert writes for a client (no lifetime), without its upsert.
  const result = await adapter.collection.replaceOne({ _id: input.clientId }, { payload: metadata });
  if (result.matchedCount === 0) throw clientNotFound(input.clientId);
  return toShopClient(metadata);
}

function clientNotFound(clientId: string): AppError {
  return new AppError('client_not_found', `No client with the id "${clientId}".`, { status: 404, expose: true });
}

/**
 * Gives a client that uses a secret a new one (32 random bytes) and returns it; the old one stops working. Only the
 * secret changes (one conditional update: a concurrent change of other fields is kept). Throws
 * AppError('client_not_found', 404) for an unknown id and AppError('client_has_no_secret', 409) for a client
 * authenticating without one.
 */
export async function rotateClientSecret(conn: Connection, clientId: string): Promise<{ client: ShopClient; clientSecret: string }> {
  const collection = clientAdapter(conn).collection;
  const clientSecret = generateSecret();
  const updated = await collection.findOneAndUpdate(
    { _id: clientId, 'payload.token_endpoint_auth_method': { $in: [...SECRET_METHODS] } },
    { $set: { 'payload.client_secret': clientSecret } },
    { returnDocument: 'after' },
  );
  if (updated) return { client: toShopClient(updated.payload), clientSecret };
  const existing = await collection.findOne({ _id: clientId });
  if (!existing) throw clientNotFound(clientId);
  const method = String(existing.payload.token_endpoint_auth_method);
  throw new AppError('client_has_no_secret', `The client "${clientId}" authenticates with ${method}: it has no secret to rotate.`, { status: 409, expose: true });
}

/**
 * Removes a client and revokes what it was given: every grant of the client with its codes and tokens, and its
 * client-credentials tokens — so a client registered later under the same id does not inherit them. Answers
 * whether a client was removed and how many grants were revoked.
 */
export async function removeClient(conn: Connection, clientId: string): Promise<{ removed: boolean; grantsRevoked: number }> {
  // The client first: from here on nothing new is issued to it (every request of every server reads its client).
  const { deletedCount } = await clientAdapter(conn).collection.deleteOne({ _id: clientId });
  const grantsRevoked = await revokeClientGrants(conn, clientId);
  return { removed: deletedCount === 1, grantsRevoked };
}

/** Revokes every grant of `clientId` (codes and tokens included) and its client-credentials tokens; the grant count. */
async function revokeClientGrants(conn: Connection, clientId: string): Promise<number> {
  const byClient: mongo.Filter<AdapterDocument> = { 'payload.clientId': clientId };
  const grants = await new MongoAdapter(conn, 'Grant').collection.find(byClient, { projection: { _id: 1 } }).toArray();
  await Promise.all(grants.map((grant) => revokeGrantEverywhere(conn, grant._id)));
  await new MongoAdapter(conn, 'ClientCredentials').collection.deleteMany(byClient);
  return grants.length;
}

/**
 * Registers a new client, insert-only: when the id is taken (even by a concurrent call) it throws
 * AppError('client_exists', …, {status:409}) and the stored client, its secret included, is left as it was.
 * Same validation as {@link saveClient}; a client that uses a secret and has none given gets 32 random bytes.
 * Grants left behind by an earlier client of the same id (removed while a server still served it) are revoked.
 */
export async function createClient(conn: Connection, input: ShopClientInput): Promise<ShopClient> {
  await checkInput(input);
  const clientSecret = isSecretMethod(authMethodOf(input)) ? (input.clientSecret ?? generateSecret()) : undefined;
  const metadata = buildMetadata(input, clientSecret);
  try {
    // Clients have no lifetime, so the document is what MongoAdapter.upsert would write, without replacing.
    await clientAdapter(conn).collection.insertOne({ _id: input.clientId, payload: metadata });
  } catch (err) {
    if (isDuplicateKeyError(err)) {
      throw new AppError('client_exists', `A client with the id "${input.clientId}" already exists.`, { status: 409, expose: true, cause: err });
    }
    throw err;
  }
  await revokeClientGrants(conn, input.clientId);
  return toShopClient(metadata);
}

/** Every registered client, ordered by client id. */
export async function listClients(conn: Connection): Promise<ShopClient[]> {
  const docs = await clientAdapter(conn).collection.find({}).sort({ _id: 1 }).toArray();
  return docs.map((doc) => toShopClient(doc.payload));
}

/** The stored client (read from the database), or null. */
export async function findClient(conn: Connection, clientId: string): Promise<ShopClient | null> {
  const doc = await clientAdapter(conn).collection.findOne({ _id: clientId });
  return doc ? toShopClient(doc.payload) : null;
}
