/**
 * Password hashing. New passwords are hashed with Argon2id (RFC 9106) at OWASP's first recommended setting — m=19 MiB,
 * t=2, p=1 (OWASP Password Storage Cheat Sheet) — through `@node-rs/argon2`, off the main thread. A stored hash carries
 * its algorithm and parameters, so the work factor can change and old hashes are upgraded at the next successful
 * sign-in (`needsRehash`):
 * - `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` (the PHC string format, unpadded base64);
 * - `scrypt$N=32768,r=8,p=1$<salt b64>$<hash b64>` (RFC 7914; earlier hashes, still verified).
 *
 * NIST SP 800-63B §5.1.1.2: memorised secrets are salted and hashed with a memory-hard function, and Unicode
 * input is normalised (NFKC here) before hashing so the same password typed on two keyboards matches.
 */
import { randomBytes, scrypt, type ScryptOptions } from 'node:crypto';
import { constantTimeEqual } from '../shared/crypto.ts';
import { hashRaw } from '@node-rs/argon2';

/** Argon2id cost parameters (RFC 9106 §3.1): memory in KiB, passes, lanes. */
export interface Argon2idParams {
  readonly algorithm: 'argon2id';
  readonly memoryKiB: number;
  readonly iterations: number;
  readonly parallelism: number;
  /** Length of the derived key in bytes. */
  readonly keyLength: number;
}

/** OWASP Password Storage Cheat Sheet, Argon2id: m=19 MiB, t=2, p=1; a 256-bit key. */
export const DEFAULT_PASSWORD_PARAMS: Argon2idParams = Object.freeze({ algorithm: 'argon2id', memoryKiB: 19 * 1024, iterations: 2, parallelism: 1, keyLength: 32 });

/** scrypt cost parameters (RFC 7914 §2): CPU/memory cost `N` (a power of two), block size `r`, parallelism `p`. */
export interface ScryptParams {
  readonly algorithm?: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
  /** Length of the derived key in bytes. */
  readonly keyLength: number;
}

/** The parameters of a password hash. */
export type PasswordParams = Argon2idParams | ScryptParams;

const SALT_BYTES = 16;
/** Upper bound on the memory a stored hash may ask for, so a corrupt or hostile record cannot exhaust memory. */
const MAX_MEMORY_BYTES = 256 * 1024 * 1024;
/** Upper bound on Argon2 passes a stored hash may ask for (CPU, for the same reason). */
const MAX_ARGON2_ITERATIONS = 16;
const SCRYPT_PREFIX = 'scrypt';
const ARGON2ID_PREFIX = 'argon2id';
/** The Argon2 version this module writes and reads (RFC 9106: 0x13). */
const ARGON2_VERSION = 19;
/** `@node-rs/argon2`'s `Algorithm.Argon2id` (a const enum there). */
const NODE_RS_ARGON2ID = 2;

interface ParsedHash {
  params: PasswordParams;
  salt: Buffer;
  hash: Buffer;
}

function isArgon2id(params: PasswordParams): params is Argon2idParams {
  return params.algorithm === 'argon2id';
}

/** Bytes OpenSSL allocates for these parameters (its own formula), plus slack for its bookkeeping. */
function memoryFor(params: ScryptParams): number {
  return 128 * params.r * (params.N + 2) + 128 * params.r * params.p + 1024 * 1024;
}

function validParams(params: PasswordParams): boolean {
  if (isArgon2id(params)) {
    const { memoryKiB, iterations, parallelism, keyLength } = params;
    return (
      Number.isSafeInteger(parallelism) && parallelism >= 1 && parallelism <= 16 &&
      Number.isSafeInteger(memoryKiB) && memoryKiB >= 8 * parallelism && memoryKiB * 1024 <= MAX_MEMORY_BYTES &&
      Number.isSafeInteger(iterations) && iterations >= 1 && iterations <= MAX_ARGON2_ITERATIONS &&
      Number.isSafeInteger(keyLength) && keyLength >= 16 && keyLength <= 128
    );
  }
  const { N, r, p, keyLength } = params;
  return (
    Number.isSafeInteger(N) && N >= 2 && (N & (N - 1)) === 0 &&
    Number.isSafeInteger(r) && r >= 1 && r <= 64 &&
    Number.isSafeInteger(p) && p >= 1 && p <= 16 &&
    Number.isSafeInteger(keyLength) && keyLength >= 16 && keyLength <= 128 &&
    memoryFor(params) <= MAX_MEMORY_BYTES
  );
}

function deriveScrypt(plain: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: memoryFor(params) };
  return new Promise((resolve, reject) => {
    scrypt(plain.normalize('NFKC'), salt, params.keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function deriveArgon2id(plain: string, salt: Buffer, params: Argon2idParams): Promise<Buffer> {
  return hashRaw(plain.normalize('NFKC'), {
    algorithm: NODE_RS_ARGON2ID, version: 1, memoryCost: params.memoryKiB, timeCost: params.iterations, parallelism: params.parallelism, outputLen: params.keyLength, salt,
  });
}

function derive(plain: string, salt: Buffer, params: PasswordParams): Promise<Buffer> {
  return isArgon2id(params) ? deriveArgon2id(plain, salt, params) : deriveScrypt(plain, salt, params);
}

/**
 * Test seam: the key derivation `verifyPassword` and `hashPassword` call. Tests wrap it to observe that the
 * unknown-account path does the same work; production code never replaces it.
 * @internal
 */
export const passwordInternals = { derive };

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

function parseScrypt(parts: readonly string[]): ParsedHash | null {
  if (parts.length !== 4) return null;
  const [, paramText, saltText, hashText] = parts as [string, string, string, string];
  const values = new Map<string, number>();
  for (const pair of paramText.split(',')) {
    const match = /^(N|r|p)=(\d{1,10})$/.exec(pair);
    if (!match || values.has(match[1] as string)) return null;
    values.set(match[1] as string, Number(match[2]));
  }
  if (!B64.test(saltText) || !B64.test(hashText)) return null;
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  const N = values.get('N');
  const r = values.get('r');
  const p = values.get('p');
  if (N === undefined || r === undefined || p === undefined || salt.length < 8) return null;
  const params = { N, r, p, keyLength: hash.length };
  return validParams(params) ? { params, salt, hash } : null;
}

/** The PHC string `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>` (split on `$`: a leading empty part). */
function parseArgon2id(parts: readonly string[]): ParsedHash | null {
  if (parts.length !== 6 || parts[0] !== '' || parts[2] !== `v=${ARGON2_VERSION}`) return null;
  const [, , , paramText, saltText, hashText] = parts as [string, string, string, string, string, string];
  const match = /^m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,10})$/.exec(paramText);
  if (!match || !B64.test(saltText) || !B64.test(hashText)) return null;
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  if (salt.length < 8) return null;
  const params: Argon2idParams = { algorithm: 'argon2id', memoryKiB: Number(match[1]), iterations: Number(match[2]), parallelism: Number(match[3]), keyLength: hash.length };
  return validParams(params) ? { params, salt, hash } : null;
}

function parseHash(stored: string): ParsedHash | null {
  const parts = stored.split('$');
  if (parts[0] === SCRYPT_PREFIX) return parseScrypt(parts);
  if (parts[1] === ARGON2ID_PREFIX) return parseArgon2id(parts);
  return null;
}

/** Unpadded base64, as the PHC string format writes it. */
function phcBase64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

function encode(params: PasswordParams, salt: Buffer, hash: Buffer): string {
  if (isArgon2id(params)) {
    return `$${ARGON2ID_PREFIX}$v=${ARGON2_VERSION}$m=${params.memoryKiB},t=${params.iterations},p=${params.parallelism}$${phcBase64(salt)}$${phcBase64(hash)}`;
  }
  return `${SCRYPT_PREFIX}$N=${params.N},r=${params.r},p=${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Hashes a password with a fresh random salt; the result encodes its parameters. */
export async function hashPassword(plain: string, params: PasswordParams = DEFAULT_PASSWORD_PARAMS): Promise<string> {
  if (!validParams(params)) throw new TypeError(`invalid password hash parameters: ${JSON.stringify(params)}`);
  const salt = randomBytes(SALT_BYTES);
  const hash = await passwordInternals.derive(plain, salt, params);
  return encode(params, salt, hash);
}

const DUMMY_SALT = Buffer.alloc(SALT_BYTES, 0x5a);

/**
 * Constant-time compare. `stored` undefined (unknown account) or malformed → the same work against a dummy hash
 * with the default parameters, then false, so a response time does not reveal whether an email
 * is registered. Never throws for bad input.
 */
export async function verifyPassword(plain: string, stored: string | undefined): Promise<boolean> {
  const parsed = stored === undefined ? null : parseHash(stored);
  if (!parsed) {
    const dummy = await passwordInternals.derive(plain, DUMMY_SALT, DEFAULT_PASSWORD_PARAMS);
    constantTimeEqual(dummy, Buffer.alloc(dummy.length));
    return false;
  }
  let candidate: Buffer;
  try {
    candidate = await passwordInternals.derive(plain, parsed.salt, parsed.params);
  } catch {
    return false;
  }
  return constantTimeEqual(candidate, parsed.hash);
}

/**
 * True when `stored` was made with another algorithm or other parameters than `params` (raised or lowered), or cannot
 * be read — the caller then re-hashes the password it has just verified.
 */
export function needsRehash(stored: string, params: PasswordParams = DEFAULT_PASSWORD_PARAMS): boolean {
  const parsed = parseHash(stored);
  if (!parsed || parsed.salt.length < SALT_BYTES) return true;
  const current = parsed.params;
  if (isArgon2id(params) || isArgon2id(current)) {
    return !(isArgon2id(params) && isArgon2id(current)) || current.memoryKiB !== params.memoryKiB
      || current.iterations !== params.iterations || current.parallelism !== params.parallelism || current.keyLength !== params.keyLength;
  }
  return current.N !== params.N || current.r !== params.r || current.p !== params.p || current.keyLength !== params.keyLength;
}
