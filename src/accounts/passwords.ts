/**
 * Password hashing with scrypt from `node:crypto` (no native addons). A stored hash carries its own
 * parameters — `scrypt$N=32768,r=8,p=1$<salt b64>$<hash b64>` — so the work factor can be raised later and
 * old hashes upgraded at the next successful login (`needsRehash`).
 *
 * NIST SP 800-63B §5.1.1.2: memorised secrets are salted and hashed with a memory-hard function, and Unicode
 * input is normalised (NFKC here) before hashing so the same password typed on two keyboards matches.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost parameters (RFC 7914 §2): CPU/memory cost `N` (a power of two), block size `r`, parallelism `p`. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  /** Length of the derived key in bytes. */
  keyLength: number;
}

/** OWASP Password Storage Cheat Sheet minimum for scrypt: N=2^15 (32 MiB), r=8, p=1; a 256-bit key. */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = Object.freeze({ N: 2 ** 15, r: 8, p: 1, keyLength: 32 });

const SALT_BYTES = 16;
/** Upper bound on the memory a stored hash may ask for, so a corrupt or hostile record cannot exhaust memory. */
const MAX_MEMORY_BYTES = 256 * 1024 * 1024;
const PREFIX = 'scrypt';

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

/** Bytes OpenSSL allocates for these parameters (its own formula), plus slack for its bookkeeping. */
function memoryFor(params: ScryptParams): number {
  return 128 * params.r * (params.N + 2) + 128 * params.r * params.p + 1024 * 1024;
}

function validParams(params: ScryptParams): boolean {
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

/**
 * Test seam: the key derivation `verifyPassword` and `hashPassword` call. Tests wrap it to observe that the
 * unknown-account path does the same scrypt work; production code never replaces it.
 * @internal
 */
export const passwordInternals = { derive: deriveScrypt };

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

function parseHash(stored: string): ParsedHash | null {
  const parts = stored.split('$');
  if (parts.length !== 4 || parts[0] !== PREFIX) return null;
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

function encode(params: ScryptParams, salt: Buffer, hash: Buffer): string {
  return `${PREFIX}$N=${params.N},r=${params.r},p=${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Hashes a password with a fresh random salt; the result encodes its parameters. */
export async function hashPassword(plain: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  if (!validParams(params)) throw new TypeError(`invalid scrypt parameters: ${JSON.stringify(params)}`);
  const salt = randomBytes(SALT_BYTES);
  const hash = await passwordInternals.derive(plain, salt, params);
  return encode(params, salt, hash);
}

const DUMMY_SALT = Buffer.alloc(SALT_BYTES, 0x5a);

/**
 * Constant-time compare. `stored` undefined (unknown account) or malformed → the same scrypt work against a
 * dummy hash with the default parameters, then false, so a response time does not reveal whether an email
 * is registered. Never throws for bad input.
 */
export async function verifyPassword(plain: string, stored: string | undefined): Promise<boolean> {
  const parsed = stored === undefined ? null : parseHash(stored);
  if (!parsed) {
    const dummy = await passwordInternals.derive(plain, DUMMY_SALT, DEFAULT_SCRYPT_PARAMS);
    timingSafeEqual(dummy, Buffer.alloc(dummy.length));
    return false;
  }
  let candidate: Buffer;
  try {
    candidate = await passwordInternals.derive(plain, parsed.salt, parsed.params);
  } catch {
    return false;
  }
  return candidate.length === parsed.hash.length && timingSafeEqual(candidate, parsed.hash);
}

/**
 * True when `stored` was made with other parameters than `params` (raised or lowered), or cannot be read —
 * the caller then re-hashes the password it has just verified.
 */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): boolean {
  const parsed = parseHash(stored);
  if (!parsed) return true;
  const current = parsed.params;
  return (
    current.N !== params.N || current.r !== params.r || current.p !== params.p ||
    current.keyLength !== params.keyLength || parsed.salt.length < SALT_BYTES
  );
}
