/**
 * Ending the sign-ins made with old credentials: a password change, a reset of the second factors (support, company
 * admin) and a disable call {@link endSignIns}. It raises the account's credentials epoch first — from that moment
 * every session's proofs and every token checked against them are dead, whatever a request in flight re-saves — then
 * cleans up what the epoch already made useless: the other provider sessions, their proofs, and every grant of the
 * account with its refresh and access tokens.
 */
import type { Connection } from 'mongoose';
import { raiseCredentialsEpoch } from '../accounts/accounts.ts';
import { endAccountSessions, revokeAccountGrants } from '../provider/adapter.ts';
import { keepOnlyProofs } from './proofs.ts';

/** The browser that made the change and stays signed in (its provider session id and uid). */
export interface KeptSession {
  readonly sessionId: string;
  readonly sessionUid: string;
}

/** What {@link endSignIns} ended. */
export interface EndedSignIns {
  readonly epoch: number;
  readonly providerSessionsEnded: number;
  readonly grantsRevoked: number;
}

/**
 * Raises the account's credentials epoch and ends every sign-in made before: other provider sessions and their
 * proofs, every grant and its tokens. `keep` (the browser that changed its own password) stays signed in under the
 * new epoch; its grants with shops are revoked all the same (the shops sign in again, silently).
 */
export async function endSignIns(conn: Connection, accountId: string, keep?: KeptSession): Promise<EndedSignIns> {
  const epoch = await raiseCredentialsEpoch(conn, accountId);
  await keepOnlyProofs(conn, accountId, epoch, keep?.sessionUid);
  const [providerSessionsEnded, grantsRevoked] = await Promise.all([
    endAccountSessions(conn, accountId, keep?.sessionId),
    revokeAccountGrants(conn, accountId),
  ]);
  return { epoch, providerSessionsEnded, grantsRevoked };
}
