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
import { keepOnlyProofs } from '../authentication/proofs.ts';

/** The browser that made the change and stays signed in: its provider session, and the epoch it was proven under. */
export interface KeptSession {
  readonly sessionId: string;
  readonly sessionUid: string;
  readonly provenEpoch: number;
}

/** What {@link endSignIns} ended. */
export interface EndedSignIns {
  readonly epoch: number;
  readonly providerSessionsEnded: number;
  readonly grantsRevoked: number;
}

/**
 * Ends every sign-in made before a change of credentials: raises the account's credentials epoch (unless the change
 * raised it already: `epoch`, as `setPassword` does in the same write as the new password), then ends the other
 * provider sessions and their proofs, every grant and its tokens. `keep` (the browser that changed its own password)
 * stays signed in under the new epoch — only if its proofs are still of the epoch it was proven under, so a reset that
 * landed meanwhile is never undone; its grants with shops are revoked all the same (the shops sign in again).
 */
export async function endSignIns(conn: Connection, accountId: string, options: { epoch?: number; keep?: KeptSession } = {}): Promise<EndedSignIns> {
  const { keep } = options;
  const epoch = options.epoch ?? await raiseCredentialsEpoch(conn, accountId);
  await keepOnlyProofs(conn, accountId, epoch, keep ? { sessionUid: keep.sessionUid, fromEpoch: keep.provenEpoch } : undefined);
  const [providerSessionsEnded, grantsRevoked] = await Promise.all([
    endAccountSessions(conn, accountId, keep?.sessionId),
    revokeAccountGrants(conn, accountId),
  ]);
  return { epoch, providerSessionsEnded, grantsRevoked };
}
