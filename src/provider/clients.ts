/**
 * The shop-client registry: relying shops stored as oidc-provider client metadata in the collection the
 * adapter reads for model `Client`, so a saved client is served without a restart.
 */
import { randomBytes } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import type { Connection } from 'mongoose';

import { AppError, isDuplicateKeyError } from '../shared/errors.ts';
import { MongoAdapter } from './adapter.ts';

/** Client metadata property names this project adds; the provider config declares them in extraClientMetadata.properties. */
export const FIRST_PARTY_PROPERTY = 'first_party';

/** Scopes a shop client may request unless told otherwise. */
export const DEFAULT_CLIENT_SCOPE = 'openid email profile offline_access invoice';

/** Shortest accepted client secret, in characters; generated secrets are 32 random bytes (43 characters). */
export const MIN_CLIENT_SECRET_LENGTH = 32;

export interface ShopClientInput {
  clientId: string;
  /** Omitted → kept from the stored client, or generated for a new confidential client; public clients have none. */
  clientSecret?: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  name?: string;
  /** First-party clients skip the consent page. Default false. */
  firstParty?: boolean;
  /** A public client (no secret, `token_endpoint_auth_method: none`, PKCE only). Default false. */
  public?: boolean;
  defaultAcrValues?: string[];
  /** Allowed scopes, space-separated; default {@link DEFAULT_CLIENT_SCOPE}. */
  scope?: string;
  /**
   * May use the `client_credentials` grant (a token for the shop itself, no customer behind it). Default false:
   * opt-in per confidential client. Step-up scopes (`invoice`) are never issued through it (see configuration.ts).
   */
  clientCredentials?: boolean;
}

export interface ShopClient {
  clientId: string;
  clientSecret?: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  name?: string;
  firstParty: boolean;
  public: boolean;
  /** Whether the client may use the `client_credentials` grant. */
  clientCredentials: boolean;
  /** oidc-provider client metadata as stored. */
  metadata: Record<string, unknown>;
}

const LOCAL_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1']);
// RFC 6749 §3.3 scope-token characters.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
// Client ids become keys of session documents: no '.', no '$' (MongoDB field names), no spaces.
const CLIENT_ID = /^[A-Za-z0-9_~:-]{1,128}$/;

function clientAdapter(conn: Connection): MongoAdapter {
  return new MongoAdapter(conn, 'Client');
}

function checkUris(uris: unknown, label: string, required: boolean, problems: string[]): void {
  if (uris === undefined && !required) return;
  if (!Array.isArray(uris) || !uris.every((uri) => typeof uri === 'string')) {
    problems.push(`${label} must be a list of URIs`);
    return;
  }
  if (required && uris.length === 0) problems.push(`${label} must contain at least one URI`);
  for (const uri of uris as string[]) {
    const parsed = URL.parse(uri);
    if (!parsed) {
      problems.push(`${label}: "${uri}" is not an absolute URI`);
      continue;
    }
    if (uri.includes('#')) problems.push(`${label}: "${uri}" must not contain a fragment (RFC 6749 §3.1.2)`);
    if (parsed.username || parsed.password) problems.push(`${label}: "${uri}" must not contain credentials`);
    if (parsed.protocol === 'http:') {
      if (!LOCAL_HOSTS.has(parsed.hostname)) {
        problems.push(`${label}: "${uri}" uses http; only https is allowed, except on localhost or 127.0.0.1`);
      }
    } else if (parsed.protocol !== 'https:') {
      problems.push(`${label}: "${uri}" must use https (or http on localhost)`);
    }
  }
}

/** Every problem of the input, in field order; empty when it is valid. */
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

  if (input.public === true && input.clientSecret !== undefined) {
    problems.push('a public client has no client_secret');
  } else if (input.clientSecret !== undefined) {
    if (typeof input.clientSecret !== 'string' || input.clientSecret.length < MIN_CLIENT_SECRET_LENGTH) {
      problems.push(`client_secret must be at least ${MIN_CLIENT_SECRET_LENGTH} characters (omit it to generate one)`);
    }
  }

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
    }
  }

  for (const flag of ['firstParty', 'public', 'clientCredentials'] as const) {
    if (input[flag] !== undefined && typeof input[flag] !== 'boolean') problems.push(`${flag} must be true or false`);
  }
  if (input.public === true && input.clientCredentials === true) {
    problems.push('a public client cannot use client credentials (it has no secret)');
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
  const client: ShopClient = {
    clientId: String(metadata.client_id),
    redirectUris: strings(metadata.redirect_uris),
    postLogoutRedirectUris: strings(metadata.post_logout_redirect_uris),
    firstParty: metadata[FIRST_PARTY_PROPERTY] === true,
    public: metadata.token_endpoint_auth_method === 'none',
    clientCredentials: strings(metadata.grant_types).includes('client_credentials'),
    metadata: { ...metadata },
  };
  if (typeof metadata.client_secret === 'string') client.clientSecret = metadata.client_secret;
  if (typeof metadata.client_name === 'string') client.name = metadata.client_name;
  return client;
}

function checkInput(input: ShopClientInput): void {
  const problems = validateClientInput(input);
  if (problems.length > 0) {
    throw new AppError('invalid_client_metadata', `invalid client: ${problems.join('; ')}`, { status: 400 });
  }
}

/** The oidc-provider metadata of a validated input with its (stored, given or generated) secret. */
function buildMetadata(input: ShopClientInput, clientSecret: string | undefined): AdapterPayload {
  const isPublic = input.public === true;
  const grantTypes = ['authorization_code', 'refresh_token'];
  if (!isPublic && input.clientCredentials === true) grantTypes.push('client_credentials');
  return {
    client_id: input.clientId,
    ...(clientSecret !== undefined ? { client_secret: clientSecret } : {}),
    redirect_uris: [...input.redirectUris],
    post_logout_redirect_uris: [...(input.postLogoutRedirectUris ?? [])],
    grant_types: grantTypes,
    response_types: ['code'],
    token_endpoint_auth_method: isPublic ? 'none' : 'client_secret_basic',
    ...(input.name !== undefined ? { client_name: input.name.trim() } : {}),
    scope: (input.scope ?? DEFAULT_CLIENT_SCOPE).split(' ').filter((token) => token !== '').join(' '),
    ...(input.defaultAcrValues !== undefined ? { default_acr_values: [...input.defaultAcrValues] } : {}),
    [FIRST_PARTY_PROPERTY]: input.firstParty === true,
  };
}

/**
 * Validates (client_id without '.', redirect URIs absolute https, or http on localhost/127.0.0.1 only, no
 * fragments) and upserts the client into the collection the adapter reads for model 'Client' (so oidc-provider
 * finds it without restart). Throws AppError('invalid_client_metadata', …, {status:400}) listing every problem.
 *
 * Updating a confidential client without `clientSecret` keeps its secret; a new one gets 32 random bytes.
 * For the seed and for updates; to register a new client use {@link createClient}, which never overwrites.
 */
export async function saveClient(conn: Connection, input: ShopClientInput): Promise<ShopClient> {
  checkInput(input);
  const adapter = clientAdapter(conn);

  let clientSecret: string | undefined;
  if (input.public !== true) {
    const stored = input.clientSecret === undefined ? await adapter.find(input.clientId) : undefined;
    const storedSecret = stored?.client_secret;
    clientSecret = input.clientSecret ?? (typeof storedSecret === 'string' ? storedSecret : generateSecret());
  }
  const metadata = buildMetadata(input, clientSecret);
  await adapter.upsert(input.clientId, metadata);
  return toShopClient(metadata);
}

/**
 * Registers a new client, insert-only: when the id is taken (even by a concurrent call) it throws
 * AppError('client_exists', …, {status:409}) and the stored client, its secret included, is left as it was.
 * Same validation as {@link saveClient}; a confidential client without `clientSecret` gets 32 random bytes.
 */
export async function createClient(conn: Connection, input: ShopClientInput): Promise<ShopClient> {
  checkInput(input);
  const clientSecret = input.public === true ? undefined : (input.clientSecret ?? generateSecret());
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
  return toShopClient(metadata);
}

/** Every registered client, ordered by client id. */
export async function listClients(conn: Connection): Promise<ShopClient[]> {
  const docs = await clientAdapter(conn).collection.find({}).sort({ _id: 1 }).toArray();
  return docs.map((doc) => toShopClient(doc.payload));
}

export async function findClient(conn: Connection, clientId: string): Promise<ShopClient | null> {
  const metadata = await clientAdapter(conn).find(clientId);
  return metadata ? toShopClient(metadata) : null;
}
