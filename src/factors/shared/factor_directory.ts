/**
 * Which second factors exist on a store connection, for the one factor that must know its siblings: recovery codes
 * may be (re)generated without a fresh second factor only while the account has no other enrolled factor
 * (`recovery/factor.ts`). A factor lists itself when it is created; nothing here is account data (that stays in
 * MongoDB), it is wiring, keyed by the connection so two registries on two databases never mix.
 */
import type { Connection } from 'mongoose';
import type { Factor } from '../contract.ts';

const listed = new WeakMap<Connection, Map<string, Factor>>();

/** Lists `factor` as a second factor on `conn` (a factor created again with the same id replaces the entry). */
export function listFactor(conn: Connection, factor: Factor): void {
  let byId = listed.get(conn);
  if (!byId) {
    byId = new Map();
    listed.set(conn, byId);
  }
  byId.set(factor.id, factor);
}

/** The factors listed on `conn`, in listing order. */
export function listedFactors(conn: Connection): Factor[] {
  return [...(listed.get(conn)?.values() ?? [])];
}
