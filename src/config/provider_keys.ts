/**
 * The provider's keys as settings give them (`JWKS`, `COOKIE_KEYS`, docs/OPERATIONS.md): parsed and checked at
 * start-up, every problem listed. Development keys are generated and stored by `src/provider/keys.ts`.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type JsonWebKey } from 'node:crypto';
import type { JWK } from 'jose';

/** What the provider configuration needs: `jwks` (private signing keys) and `cookies.keys`. */
export interface ProviderKeys {
  jwks: { keys: JWK[] };
  /** The first key signs cookies, the others are still accepted (rotation: prepend the new key). */
  cookieKeys: string[];
}

/** Shortest accepted cookie key, in characters (32 base64url characters ≈ 192 bits). */
export const MIN_COOKIE_KEY_LENGTH = 32;
/** Shortest accepted RSA modulus, in bits (NIST SP 800-57 Part 1, Table 2). */
export const MIN_RSA_MODULUS_BITS = 2048;


/** Private members per key type, as oidc-provider's `initialize_keystore.js` requires them. */
const PRIVATE_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['d', 'p', 'q', 'dp', 'dq', 'qi'],
  EC: ['d'],
  OKP: ['d'],
};

/** Signature algorithms each key can serve (mirrors oidc-provider's `jwkSignatureAlgorithms`). */
function signatureAlgorithms(jwk: JWK): string[] {
  switch (jwk.kty) {
    case 'RSA':
      return ['PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512'];
    case 'EC':
      return { 'P-256': ['ES256'], 'P-384': ['ES384'], 'P-521': ['ES512'] }[jwk.crv ?? ''] ?? [];
    case 'OKP':
      return jwk.crv === 'Ed25519' ? ['EdDSA', 'Ed25519'] : [];
    default:
      return [];
  }
}

/** The public members of a key, in lexicographic order (RFC 7638 §3.2). */
function publicMembers(jwk: JWK): JsonWebKey {
  if (jwk.kty === 'RSA') return { e: jwk.e, kty: jwk.kty, n: jwk.n };
  if (jwk.kty === 'EC') return { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url). */
export function thumbprint(jwk: JWK): string {
  return createHash('sha256').update(JSON.stringify(publicMembers(jwk))).digest('base64url');
}

/**
 * Signs a probe with the private key and verifies it with the key's published members: node imports an RSA
 * JWK without checking that its parts belong together, so a mangled key would otherwise fail at the first login.
 */
function selfTest(jwk: JWK): void {
  const privateKey = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
  const publicKey = createPublicKey({ key: publicMembers(jwk), format: 'jwk' });
  const digest = jwk.kty === 'OKP' ? null : 'sha256';
  const probe = Buffer.from('oidc-stepup key self-test');
  if (!verify(digest, probe, publicKey, sign(digest, probe, privateKey))) {
    throw new Error('its private and public parts do not belong together');
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks one JWK; returns it with a `kid` (its thumbprint when absent) or the problems found. */
function checkJwk(input: unknown, label: string): { jwk?: JWK; problems: string[] } {
  if (!isRecord(input)) return { problems: [`${label} is not a JSON object`] };
  const jwk = { ...input } as JWK;
  const kty = jwk.kty;
  const privateMembers = typeof kty === 'string' ? PRIVATE_MEMBERS[kty] : undefined;
  if (!privateMembers) {
    return { problems: [`${label}: kty must be "RSA", "EC" or "OKP" (got ${JSON.stringify(kty)})`] };
  }
  const problems: string[] = [];
  const missing = privateMembers.filter((member) => typeof input[member] !== 'string' || input[member] === '');
  if (missing.length > 0) {
    problems.push(`${label} is a public key (missing ${missing.join(', ')}): the provider needs the private key to sign`);
  }
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid === '')) {
    problems.push(`${label}: kid must be a non-empty string`);
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') {
    problems.push(`${label}: use must be "sig" (got ${JSON.stringify(jwk.use)})`);
  }
  const algorithms = signatureAlgorithms(jwk);
  if (algorithms.length === 0) {
    problems.push(`${label}: curve ${JSON.stringify(jwk.crv)} cannot sign (use P-256, P-384, P-521 or Ed25519)`);
  } else if (jwk.alg !== undefined && !algorithms.includes(jwk.alg)) {
    problems.push(`${label}: alg ${JSON.stringify(jwk.alg)} does not fit this key (expected one of ${algorithms.join(', ')})`);
  }
  if (missing.length === 0) {
    try {
      const bits = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' }).asymmetricKeyDetails?.modulusLength;
      if (kty === 'RSA' && bits !== undefined && bits < MIN_RSA_MODULUS_BITS) {
        problems.push(`${label}: RSA key of ${bits} bits is too short (at least ${MIN_RSA_MODULUS_BITS})`);
      } else {
        selfTest(jwk);
      }
    } catch (err) {
      problems.push(`${label} is not a valid ${kty} private key (${(err as Error).message})`);
    }
  }
  if (problems.length > 0) return { problems };
  jwk.kid ??= thumbprint(jwk);
  return { jwk, problems };
}

/** Checks a key set object (already parsed from JSON). */
export function checkJwks(input: unknown): { jwks?: { keys: JWK[] }; problems: string[] } {
  if (!isRecord(input) || !Array.isArray(input.keys)) {
    return { problems: ['jwks must be a JSON Web Key Set: an object with a "keys" array (RFC 7517 §5)'] };
  }
  if (input.keys.length === 0) return { problems: ['jwks contains no keys'] };
  const problems: string[] = [];
  const keys: JWK[] = [];
  input.keys.forEach((entry: unknown, i) => {
    const checked = checkJwk(entry, `jwks.keys[${i}]`);
    problems.push(...checked.problems);
    if (checked.jwk) keys.push(checked.jwk);
  });
  const kids = keys.map((key) => key.kid);
  const duplicates = [...new Set(kids.filter((kid, i) => kids.indexOf(kid) !== i))];
  if (duplicates.length > 0) problems.push(`jwks has duplicate kid values: ${duplicates.join(', ')}`);
  // Clients default to id_token_signed_response_alg RS256 (OIDC Registration §2), so one RSA key must allow it.
  const rs256 = keys.some((key) => key.kty === 'RSA' && (key.alg === undefined || key.alg === 'RS256'));
  if (problems.length === 0 && !rs256) {
    problems.push('jwks needs an RSA signing key usable with RS256 (the default ID token algorithm)');
  }
  return problems.length > 0 ? { problems } : { jwks: { keys }, problems };
}

/** Checks cookie keys: at least one, each long enough, no duplicates. */
export function checkCookieKeys(keys: unknown): { cookieKeys?: string[]; problems: string[] } {
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')) {
    return { problems: ['cookieKeys must be a list of strings'] };
  }
  if (keys.length === 0) return { problems: ['cookieKeys contains no keys'] };
  const problems: string[] = [];
  keys.forEach((key: string, i) => {
    if (key.length < MIN_COOKIE_KEY_LENGTH) {
      problems.push(`cookieKeys[${i}] is too short (${key.length} characters, at least ${MIN_COOKIE_KEY_LENGTH})`);
    }
  });
  if (new Set(keys).size !== keys.length) problems.push('cookieKeys contains the same key twice');
  return problems.length > 0 ? { problems } : { cookieKeys: keys as string[], problems };
}

/** Splits the configured cookie keys: a JSON array of strings, or a comma-separated list. */
function splitCookieKeys(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed) as unknown;
    } catch {
      return undefined;
    }
  }
  return trimmed.split(',').map((key) => key.trim()).filter((key) => key !== '');
}

/** " (at position N)" from a JSON.parse error, or nothing: the position is the only detail safe to report. */
function jsonErrorPosition(err: unknown): string {
  const match = /\bposition (\d+)/.exec(err instanceof Error ? err.message : '');
  return match ? ` (at position ${match[1]})` : '';
}

/**
 * Production: parse/validate keys given by configuration (a JWKS JSON string with private keys, cookie keys
 * list); returns the list of problems instead of throwing, so config can report every problem at once.
 *
 * - `jwks`: a JSON Web Key Set of private RSA (≥ 2048 bits), EC (P-256/384/521) or Ed25519 keys for `sig`;
 *   at least one RSA key must allow RS256. A key without `kid` gets its RFC 7638 thumbprint.
 * - `cookieKeys`: comma-separated or a JSON array; each at least {@link MIN_COOKIE_KEY_LENGTH} characters;
 *   the first one signs.
 */
export function parseConfiguredKeys(input: { jwks?: string; cookieKeys?: string }): {
  keys?: ProviderKeys;
  problems: string[];
} {
  const problems: string[] = [];
  let jwks: { keys: JWK[] } | undefined;
  if (input.jwks === undefined || input.jwks.trim() === '') {
    problems.push('jwks is missing: give a JSON Web Key Set with the private signing keys');
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(input.jwks) as unknown;
    } catch (err) {
      // Never the parser's message: V8 quotes the text around the error, i.e. part of a private key.
      problems.push(`jwks is not valid JSON${jsonErrorPosition(err)}`);
    }
    if (parsed !== undefined) {
      const checked = checkJwks(parsed);
      problems.push(...checked.problems);
      jwks = checked.jwks;
    }
  }

  let cookieKeys: string[] | undefined;
  if (input.cookieKeys === undefined || input.cookieKeys.trim() === '') {
    problems.push('cookieKeys is missing: give one or more random strings, comma-separated');
  } else {
    const split = splitCookieKeys(input.cookieKeys);
    if (split === undefined) {
      problems.push('cookieKeys looks like a JSON array but is not valid JSON');
    } else {
      const checked = checkCookieKeys(split);
      problems.push(...checked.problems);
      cookieKeys = checked.cookieKeys;
    }
  }

  return problems.length === 0 && jwks && cookieKeys ? { keys: { jwks, cookieKeys }, problems } : { problems };
}

