/**
 * Step-up for a shop's own API, the resource server side of RFC 9470 (docs/ARCHITECTURE.md "The shop side").
 *
 * The provider issues JWT access tokens (RFC 9068) for an API named by its resource indicator (RFC 8707), carrying
 * `scope`, `acr`, `amr` and `auth_time`. The API checks them itself, on every call:
 * - the token: signature against the issuer's JWKS, `iss`, `aud`, `exp`, `typ` `at+jwt`; otherwise `401` with
 *   `error="invalid_token"` (RFC 6750 §3.1); no token at all: `401` with a bare `Bearer` challenge;
 * - the scope: every required scope in `scope`; otherwise `403` with `error="insufficient_scope"` and the scope;
 * - the authentication: `acr` at least the required level (levels compared by number, a stronger `acr` satisfies a
 *   weaker requirement: `src/policy/acr.ts`) and `auth_time` no older than `maxAgeSeconds`; otherwise `401` with
 *   `error="insufficient_user_authentication"`, `acr_values` and `max_age` (RFC 9470 §3), which the client sends to
 *   the provider in a new authorization request before it retries.
 *
 * `verifyStepUp` is framework-free; `requireAuthentication` is the same as Koa middleware.
 */
import type { Middleware } from 'koa';
import {
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { defaultAcrPolicy, type AcrPolicy } from '../policy/acr.ts';

/** What an API requires of the access tokens it accepts. */
export interface StepUpRequirement {
  /** The provider's issuer identifier, as in its discovery document (`iss` of the tokens). */
  readonly issuer: string;
  /** This API's resource indicator (RFC 8707), the `aud` of the tokens the provider issues for it. */
  readonly audience: string;
  /** Scopes the token must carry, all of them (a list or one space-separated string). Default: none. */
  readonly scope?: string | readonly string[];
  /** The weakest `acr` accepted (e.g. `urn:oidc-stepup:acr:mfa`); stronger levels satisfy it. Default: any. */
  readonly acr?: string;
  /** The longest time since the customer's latest authentication (`auth_time`), in seconds. Default: no limit. */
  readonly maxAgeSeconds?: number;
  /**
   * The keys that verify the tokens. Default: the issuer's JWKS, found through its discovery document
   * (`${issuer}/.well-known/openid-configuration`) and cached (see {@link issuerKeys}).
   */
  readonly keys?: JWTVerifyGetKey;
  /**
   * The fetch used for discovery and the JWKS when `keys` is not given (e.g. to reach the provider on an internal
   * address). `verifyStepUp` shares the keys of one issuer across calls, made with the first call's fetch;
   * `requireAuthentication` makes its own.
   */
  readonly fetch?: typeof fetch;
  /** The acr values and their levels; default: this provider's ({@link defaultAcrPolicy}). */
  readonly acrPolicy?: AcrPolicy;
  /** Leeway for `exp` and `nbf`, in seconds. Default 0. */
  readonly clockToleranceSeconds?: number;
  /** `realm` of the challenges (RFC 6750 §3). Default: none. */
  readonly realm?: string;
}

/** Why a token was refused: stable, wire-invisible codes for logs and tests. */
export type StepUpRefusalCode =
  | 'token_missing'
  | 'request_malformed'
  | 'token_malformed'
  | 'signature_invalid'
  | 'issuer_mismatch'
  | 'audience_mismatch'
  | 'token_expired'
  | 'token_not_access_token'
  | 'token_sender_constrained'
  | 'scope_missing'
  | 'acr_too_low'
  | 'auth_time_too_old'
  | 'keys_unavailable';

/** The RFC 6750 / RFC 9470 error codes a refusal answers with. */
export type BearerError = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'insufficient_user_authentication';

/** A token the API accepts, with what the handler needs to know about the customer. */
export interface StepUpGranted {
  readonly ok: true;
  /** The customer (`sub`). */
  readonly subject: string;
  /** The client the token was issued to (`client_id`, RFC 9068). */
  readonly clientId: string | undefined;
  readonly acr: string | undefined;
  readonly amr: readonly string[];
  /** The customer's latest authentication (`auth_time`). */
  readonly authTime: Date | undefined;
  readonly scopes: readonly string[];
  /** Every claim of the token. */
  readonly claims: JWTPayload;
}

/** A refused token: the status and the `WWW-Authenticate` value to answer with. */
export interface StepUpRefusal {
  readonly ok: false;
  readonly code: StepUpRefusalCode;
  /** 400, 401, 403, or 503 when the issuer's keys cannot be fetched (the token may be fine). */
  readonly status: 400 | 401 | 403 | 503;
  /** The RFC 6750 / RFC 9470 error code; none for a request without a token (RFC 6750 §3.1) or 503. */
  readonly error: BearerError | undefined;
  readonly description: string;
  /** The `WWW-Authenticate` header value; none for 503. */
  readonly challenge: string | undefined;
}

/** What {@link verifyStepUp} answers: the token's grant, or why it is refused and the challenge to send back. */
export type StepUpResult = StepUpGranted | StepUpRefusal;

/** Signature algorithms accepted: asymmetric only, so a key from the JWKS can never be used as an HMAC secret. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** The scopes of a requirement as a list. */
function requiredScopes(requirement: StepUpRequirement): string[] {
  const { scope } = requirement;
  if (scope === undefined) return [];
  return (typeof scope === 'string' ? scope.split(' ') : [...scope]).filter((item) => item !== '');
}

/** Throws on a requirement that can never be met or checked: a programmer error, found at start-up. */
function checkRequirement(requirement: StepUpRequirement): void {
  const problems: string[] = [];
  if (!URL.canParse(requirement.issuer)) problems.push('issuer must be an absolute URL');
  if (!requirement.audience) problems.push('audience must name this API (its resource indicator)');
  const policy = requirement.acrPolicy ?? defaultAcrPolicy;
  if (requirement.acr !== undefined && policy.levelOf(requirement.acr) === undefined) {
    problems.push(`acr ${requirement.acr} is not one of ${policy.values.join(', ')}`);
  }
  const { maxAgeSeconds } = requirement;
  if (maxAgeSeconds !== undefined && !(Number.isInteger(maxAgeSeconds) && maxAgeSeconds >= 0)) {
    problems.push('maxAgeSeconds must be a whole number of seconds, 0 or more');
  }
  for (const scope of requiredScopes(requirement)) {
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)) problems.push(`scope ${JSON.stringify(scope)} has characters a scope cannot have (RFC 6749 §3.3)`);
  }
  if (problems.length > 0) throw new TypeError(`invalid step-up requirement: ${problems.join('; ')}`);
}

/** One auth-param of a challenge; values are quoted strings (RFC 9110 §11.2), without `"` or `\` in ours. */
function param(name: string, value: string): string {
  return `${name}="${value.replace(/["\\]/g, '')}"`;
}

function challengeOf(requirement: StepUpRequirement, params: readonly string[]): string {
  const all = [...(requirement.realm ? [param('realm', requirement.realm)] : []), ...params];
  return all.length > 0 ? `Bearer ${all.join(', ')}` : 'Bearer';
}

function refuse(
  requirement: StepUpRequirement,
  code: StepUpRefusalCode,
  error: BearerError | undefined,
  description: string,
  extra: readonly string[] = [],
): StepUpRefusal {
  const status = error === 'invalid_request' ? 400 : error === 'insufficient_scope' ? 403 : 401;
  const params = error ? [param('error', error), param('error_description', description), ...extra] : [];
  return { ok: false, code, status, error, description, challenge: challengeOf(requirement, params) };
}

/** The RFC 9470 answer: what the client asks the provider for (both values when both are required). */
function insufficientAuthentication(requirement: StepUpRequirement, code: 'acr_too_low' | 'auth_time_too_old', description: string): StepUpRefusal {
  const extra = [
    ...(requirement.acr !== undefined ? [param('acr_values', requirement.acr)] : []),
    ...(requirement.maxAgeSeconds !== undefined ? [param('max_age', String(requirement.maxAgeSeconds))] : []),
  ];
  return refuse(requirement, code, 'insufficient_user_authentication', description, extra);
}

/**
 * `verifyStepUp`'s keys when the requirement brings none, by issuer: every verification of one issuer shares one
 * fetched, cached key set (made with the `fetch` of the first requirement naming that issuer).
 */
const keysByIssuer = new Map<string, JWTVerifyGetKey>();

/**
 * The verification keys of `issuer`: its discovery document names `jwks_uri` (OIDC Discovery §4; its `issuer` must
 * match, §4.3), whose keys jose fetches and caches (refetched for an unknown `kid`, so key rotation needs no restart).
 * A failed discovery is tried again at the next call. `fetch` reaches the provider where its public address does not
 * (a container network).
 */
export function issuerKeys(issuer: string, options: { fetch?: typeof fetch; jwksUri?: string } = {}): JWTVerifyGetKey {
  const fetchImpl = options.fetch ?? fetch;
  let remote: Promise<JWTVerifyGetKey> | undefined;
  const discover = async (): Promise<JWTVerifyGetKey> => {
    let jwksUri = options.jwksUri;
    if (jwksUri === undefined) {
      const response = await fetchImpl(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error(`discovery answered ${response.status}`);
      const metadata = await response.json() as { issuer?: unknown; jwks_uri?: unknown };
      if (metadata.issuer !== issuer) throw new Error(`discovery names issuer ${String(metadata.issuer)}, expected ${issuer}`);
      if (typeof metadata.jwks_uri !== 'string') throw new Error('discovery names no jwks_uri');
      jwksUri = metadata.jwks_uri;
    }
    return createRemoteJWKSet(new URL(jwksUri), {
      ...(options.fetch ? { [customFetch]: options.fetch as unknown as FetchImplementation } : {}),
    });
  };
  return async function keyOf(header, token) {
    remote ??= discover().catch((err: unknown) => {
      remote = undefined;
      throw err;
    });
    return (await remote)(header, token);
  };
}

function cachedIssuerKeys(requirement: StepUpRequirement): JWTVerifyGetKey {
  const key = requirement.issuer;
  let keys = keysByIssuer.get(key);
  if (!keys) {
    keys = issuerKeys(requirement.issuer, requirement.fetch ? { fetch: requirement.fetch } : {});
    keysByIssuer.set(key, keys);
  }
  return keys;
}

/** Maps what jose refused to the refusal the client sees. */
function refusalOfJoseError(requirement: StepUpRequirement, err: unknown): StepUpRefusal {
  const invalid = (code: StepUpRefusalCode, description: string): StepUpRefusal => refuse(requirement, code, 'invalid_token', description);
  if (err instanceof joseErrors.JWTExpired) return invalid('token_expired', 'The access token expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return invalid('issuer_mismatch', 'The access token was issued by another provider');
    if (err.claim === 'aud') return invalid('audience_mismatch', 'The access token is meant for another API');
    if (err.claim === 'typ') return invalid('token_not_access_token', 'The token is not an access token (RFC 9068 at+jwt)');
    return invalid('token_malformed', 'The access token is not valid yet or is malformed');
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return invalid('signature_invalid', 'The access token signature is invalid');
  }
  if (err instanceof joseErrors.JOSEError) return invalid('token_malformed', 'The access token is not a valid signed JWT');
  throw err;
}

/** The keys could not be fetched: the token may well be fine, so no error is held against it. */
const KEYS_UNAVAILABLE: StepUpRefusal = Object.freeze({
  ok: false, code: 'keys_unavailable', status: 503, error: undefined, description: 'The provider\'s keys cannot be fetched right now', challenge: undefined,
});

/** True for what a key set throws when it has keys but none for this token (a signature problem, not an outage). */
function isKeyMismatch(err: unknown): boolean {
  return err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys;
}

/**
 * Checks a JWT access token against `requirement`, in the order a client can act on: the token itself
 * (`invalid_token`), its scope (`insufficient_scope`), then the customer's authentication
 * (`insufficient_user_authentication`, RFC 9470 §3). `token` is the bare token (see {@link bearerTokenOf});
 * `undefined` or empty answers the bare `Bearer` challenge. Never throws for a bad token, only for a bad requirement.
 */
export async function verifyStepUp(token: string | undefined, requirement: StepUpRequirement): Promise<StepUpResult> {
  checkRequirement(requirement);
  if (!token) return refuse(requirement, 'token_missing', undefined, 'No access token');
  const keys = requirement.keys ?? cachedIssuerKeys(requirement);
  let keysFailed = false;
  const keyOf: JWTVerifyGetKey = async (header, jws) => {
    try {
      return await keys(header, jws);
    } catch (err) {
      keysFailed = !isKeyMismatch(err);
      throw err;
    }
  };
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keyOf, {
      issuer: requirement.issuer,
      audience: requirement.audience,
      typ: 'at+jwt',
      algorithms: ALGORITHMS,
      clockTolerance: requirement.clockToleranceSeconds ?? 0,
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (err) {
    return keysFailed ? KEYS_UNAVAILABLE : refusalOfJoseError(requirement, err);
  }
  // A DPoP-bound token (RFC 9449 §6) presented as a Bearer token is refused (§7.1): it proves nothing without its proof.
  if (payload.cnf !== undefined) return refuse(requirement, 'token_sender_constrained', 'invalid_token', 'The access token is bound to a key and cannot be used as a Bearer token');

  const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter((item) => item !== '') : [];
  const required = requiredScopes(requirement);
  const missing = required.filter((scope) => !scopes.includes(scope));
  if (missing.length > 0) {
    return refuse(requirement, 'scope_missing', 'insufficient_scope', `The access token lacks the scope ${missing.join(' ')}`, [param('scope', required.join(' '))]);
  }

  const acr = typeof payload.acr === 'string' ? payload.acr : undefined;
  if (requirement.acr !== undefined) {
    const policy = requirement.acrPolicy ?? defaultAcrPolicy;
    if ((policy.levelOf(acr) ?? 0) < (policy.levelOf(requirement.acr) ?? Infinity)) {
      return insufficientAuthentication(requirement, 'acr_too_low', 'A stronger authentication is required');
    }
  }
  const authTime = typeof payload.auth_time === 'number' ? payload.auth_time : undefined;
  if (requirement.maxAgeSeconds !== undefined) {
    const nowSeconds = Math.floor(Date.now() / 1000);
    if (authTime === undefined || nowSeconds - authTime > requirement.maxAgeSeconds) {
      return insufficientAuthentication(requirement, 'auth_time_too_old', 'A more recent authentication is required');
    }
  }
  return {
    ok: true,
    subject: payload.sub as string,
    clientId: typeof payload.client_id === 'string' ? payload.client_id : undefined,
    acr,
    amr: Array.isArray(payload.amr) ? payload.amr.filter((item): item is string => typeof item === 'string') : [],
    authTime: authTime === undefined ? undefined : new Date(authTime * 1000),
    scopes,
    claims: payload,
  };
}

/**
 * The token of an `Authorization` header value (RFC 6750 §2.1): `undefined` when there is none or another scheme is
 * used (answered with the bare challenge), `null` when the Bearer credentials are malformed (`invalid_request`).
 */
export function bearerTokenOf(header: string | undefined): string | undefined | null {
  if (!header) return undefined;
  const match = /^Bearer +(\S*) *$/i.exec(header);
  if (!match) return /^Bearer(\s|$)/i.test(header) ? null : undefined;
  const token = match[1] as string;
  return /^[A-Za-z0-9\-._~+/]+=*$/.test(token) ? token : null;
}

/** What `requireAuthentication` leaves for the route handler: `ctx.state.stepUp`. */
export interface StepUpState {
  stepUp: StepUpGranted;
}

/**
 * Koa middleware answering every request whose Bearer token does not meet `requirement` (see {@link verifyStepUp}),
 * with the status, `WWW-Authenticate` and a JSON body `{ error, error_description }`; otherwise the accepted token is
 * `ctx.state.stepUp` and the next middleware runs. The requirement is checked once, here (a bad one throws).
 */
export function requireAuthentication(requirement: StepUpRequirement): Middleware<Partial<StepUpState>> {
  checkRequirement(requirement);
  const withKeys: StepUpRequirement = { ...requirement, keys: requirement.keys ?? issuerKeys(requirement.issuer, requirement.fetch ? { fetch: requirement.fetch } : {}) };
  return async function requireStepUp(ctx, next) {
    const authorization = ctx.get('authorization');
    const token = bearerTokenOf(authorization === '' ? undefined : authorization);
    const result = token === null
      ? refuse(withKeys, 'request_malformed', 'invalid_request', 'The Authorization header is not a valid Bearer token')
      : await verifyStepUp(token, withKeys);
    if (!result.ok) {
      ctx.status = result.status;
      ctx.set('Cache-Control', 'no-store');
      if (result.challenge) ctx.set('WWW-Authenticate', result.challenge);
      ctx.body = result.error ? { error: result.error, error_description: result.description } : { error_description: result.description };
      return;
    }
    ctx.state.stepUp = result;
    await next();
  };
}
