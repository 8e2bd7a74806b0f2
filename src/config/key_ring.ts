/**
 * The key ring of `FACTOR_KEYS` (docs/OPERATIONS.md): `id:base64key,id:base64key`, the first entry active (new
 * records), the others still opening older records. Parsed and checked here; the secret box
 * (`src/factors/shared/secret_box.ts`) uses it.
 */

/** Length of each key, in bytes (AES-256). */
export const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** A key ring: the active key id (used for new records) and every key that may still open old records. */
export interface KeyRing {
  readonly activeKeyId: string;
  readonly keys: Readonly<Record<string, Buffer>>;
}

/** Every problem of a key ring (ids, lengths, the active id), or none. */
export function keyRingProblems(ring: KeyRing): string[] {
  const problems: string[] = [];
  const ids = Object.keys(ring.keys);
  if (ids.length === 0) problems.push('the key ring holds no key');
  for (const id of ids) {
    if (!KEY_ID.test(id)) problems.push(`key id "${id}" must be 1-32 characters of A-Z a-z 0-9 _ -`);
    const key = ring.keys[id];
    if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
      problems.push(`key "${id}" must be ${KEY_BYTES} bytes, got ${Buffer.isBuffer(key) ? key.length : typeof key}`);
    }
  }
  if (ids.length > 0 && !Object.hasOwn(ring.keys, ring.activeKeyId)) {
    problems.push(`the active key id "${ring.activeKeyId}" is not in the ring`);
  }
  return problems;
}

/**
 * Parses a key ring from a config string `id:base64key,id:base64key` (the first entry is the active key; each key
 * is 32 bytes in standard or URL-safe base64). Never throws: returns the ring or every problem found.
 */
export function parseKeyRing(spec: string): { ring: KeyRing; problems: [] } | { ring?: undefined; problems: string[] } {
  const problems: string[] = [];
  const keys: Record<string, Buffer> = {};
  let activeKeyId: string | undefined;
  const entries = spec.split(',').map((entry) => entry.trim()).filter((entry) => entry.length > 0);
  if (entries.length === 0) return { problems: ['the key ring is empty (expected "id:base64key,…")'] };
  entries.forEach((entry, index) => {
    const colon = entry.indexOf(':');
    if (colon <= 0) {
      problems.push(`entry ${index + 1} is not "id:base64key"`);
      return;
    }
    const id = entry.slice(0, colon);
    const encoded = entry.slice(colon + 1);
    if (!KEY_ID.test(id)) problems.push(`key id "${id}" must be 1-32 characters of A-Z a-z 0-9 _ -`);
    if (Object.hasOwn(keys, id)) problems.push(`key id "${id}" appears twice`);
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) {
      problems.push(`key "${id}" is not base64`);
      return;
    }
    const key = Buffer.from(encoded, encoded.includes('-') || encoded.includes('_') ? 'base64url' : 'base64');
    if (key.length !== KEY_BYTES) problems.push(`key "${id}" must decode to ${KEY_BYTES} bytes, got ${key.length}`);
    keys[id] = key;
    activeKeyId ??= id;
  });
  if (problems.length > 0 || activeKeyId === undefined) return { problems };
  return { ring: { activeKeyId, keys }, problems: [] };
}

/** Formats a key ring back into its config string (active key first). */
export function formatKeyRing(ring: KeyRing): string {
  const ids = [ring.activeKeyId, ...Object.keys(ring.keys).filter((id) => id !== ring.activeKeyId)];
  return ids.map((id) => `${id}:${(ring.keys[id] as Buffer).toString('base64')}`).join(',');
}

