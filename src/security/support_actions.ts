/**
 * Support actions (a customer who lost their authenticator asks support to reset it; docs/ARCHITECTURE.md "Support
 * actions, audit log and mail"): what an operator or a company admin does to an account's second factors. Factor
 * independent — the registry says which factors exist — and free of HTTP, so the operators' CLI and the company-admin
 * pages share them; callers pass the acting person and, from a page, the request's address and browser.
 *
 * Both actions are idempotent: each step removes what exists and a repeat finds nothing left. Every change is
 * recorded in the audit log (who, what, when, from where); a call that changed nothing records nothing, so the
 * customer's "recent security events" never lists an event that did not happen.
 *
 * A reset keeps `signInMfa` (the customer's own "ask for a second factor at sign-in"), so a customer of a forced
 * company, an invoice customer or one who opted in sets up a new factor at the next sign-in that needs one ("changing
 * device"). A reset and a disable end every sign-in made before them (`endSignIns`: sessions, grants, tokens).
 */
import type { Connection } from 'mongoose';
import { findAccountById, setAccountStatus, type Account, type AccountStatus } from '../accounts/accounts.ts';
import { endSignIns } from './end_sign_ins.ts';
import type { AuditActor } from '../audit/audit_log.ts';
import type { Factor } from '../factors/contract.ts';
import { createMethodChoice } from '../factors/method_choice.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { resetAttempts } from '../factors/shared/attempts.ts';
import type { Origin, SecurityEvents } from './events.ts';

/** What the support actions need. */
export interface SupportDeps {
  readonly conn: Connection;
  readonly factors: FactorRegistry;
  /**
   * Security events: the audit record, and the customer's mail when mail can be sent (the CLI without `SMTP_URL`
   * audits only).
   */
  readonly events: SecurityEvents;
}

/** Who acts, and from where (a page passes the request's IP and User-Agent; the CLI has neither). */
export type ActionContext = Origin & { readonly actor: AuditActor };

/** The account acted on (an {@link Account} fits). */
export type SupportAccount = Pick<Account, 'id' | 'email'> & { readonly name?: string | undefined };

/** What {@link resetFactors} did. */
export interface ResetFactorsResult {
  /** Ids of the factors that were active and are gone now, in registry order; empty when there were none. */
  readonly removed: string[];
  /** A second-factor lockout (temporary or permanent, any bucket) was lifted. */
  readonly unlocked: boolean;
  /** An audit record of the reset was written (false when nothing changed, or when the write failed: see the log). */
  readonly recorded: boolean;
  /** The customer was emailed about the reset (false when mail cannot be sent, or when sending failed). */
  readonly mailed: boolean;
}

/** What {@link unlockSecondFactor} did. */
export interface UnlockResult {
  /** A lockout was lifted (false: nothing was locked; any failure counts were cleared all the same). */
  readonly unlocked: boolean;
  /** An audit record was written (only when something was unlocked). */
  readonly recorded: boolean;
}

/** Which lock an `account_unlocked` record is about (`details.scope`). */
export type UnlockScope = 'second_factor' | 'password';

/** The account's active factors, in registry order (primary factors first, then backups). */
export async function activeFactors(factors: FactorRegistry, accountId: string): Promise<Factor[]> {
  const flags = await Promise.all(factors.all.map((factor) => factor.isEnrolled(accountId)));
  return factors.all.filter((_, index) => flags[index]);
}

/**
 * Removes every second factor of the account (authenticator app, email code, recovery codes — whatever the registry
 * lists, pending enrolments included), forgets the stored primary method, and clears the second-factor attempt
 * counters and locks. Then, when something was removed, one `factors_reset` event: the audit record (actor from
 * `context`, `details: { by, removed, unlocked }`) and, with {@link SupportDeps.notify}, the mail to the customer
 * (OWASP ASVS 2.5.5). When only a lock was lifted (no factor left to remove) it records `account_unlocked` instead.
 *
 * Each step is idempotent, so a re-run after an interruption finishes the job. The event is written after the
 * removal succeeded (it reports what happened, and the mail must not announce a reset that then failed): a database
 * error of the removal propagates to the caller before anything is recorded or mailed. Mail and audit failures never
 * throw (see {@link ResetFactorsResult}). A factor enrolled concurrently with the reset is removed too, but not
 * listed in `removed`.
 */
export async function resetFactors(
  deps: SupportDeps,
  account: SupportAccount,
  by: 'support' | 'admin',
  context: ActionContext,
): Promise<ResetFactorsResult> {
  // What was active, read before removing: the answer (and the audit record) names what the customer lost.
  const removed = (await activeFactors(deps.factors, account.id)).map((factor) => factor.id);
  await deps.factors.removeAll(account.id);
  // Whoever held the old factor (a lost phone) is signed out everywhere: the reset is worth nothing otherwise.
  if (removed.length > 0) await endSignIns(deps.conn, account.id);
  await createMethodChoice({ conn: deps.conn, registry: deps.factors }).clear(account.id);
  const unlocked = await resetAttempts(deps.conn, account.id);

  if (removed.length === 0) {
    const recorded = unlocked ? await recordUnlock(deps, account, context, 'second_factor') : false;
    return { removed, unlocked, recorded, mailed: false };
  }

  const notified = await deps.events.record(context, { kind: 'factors_reset', account, details: { by }, auditDetails: { removed, unlocked } });
  return { removed, unlocked, recorded: notified.recorded, mailed: notified.mailed };
}

/**
 * Lifts the account's second-factor lockout (temporary or permanent, every bucket: app and email codes, recovery
 * codes) and clears the failure counts; factors and enrolments stay. Records `account_unlocked`
 * (`details.scope: 'second_factor'`) **only when something was locked**: clearing a few failures of an unlocked
 * account changes nothing the customer could notice. No mail (no notification kind exists for it; the customer asked
 * support for it).
 */
export async function unlockSecondFactor(
  deps: Pick<SupportDeps, 'conn' | 'events'>,
  account: SupportAccount,
  context: ActionContext,
): Promise<UnlockResult> {
  const unlocked = await resetAttempts(deps.conn, account.id);
  const recorded = unlocked ? await recordUnlock(deps, account, context, 'second_factor') : false;
  return { unlocked, recorded };
}

/**
 * The audit record of a lifted lock: `account_unlocked` with `details.scope`. Exported for locks these actions do
 * not own (the password-login throttle is keyed by the email's hash, which only the server's keys can compute: the
 * caller lifts it and records it here). Never throws; `false` when the write failed (logged).
 */
export async function recordUnlock(
  deps: Pick<SupportDeps, 'events'>,
  account: SupportAccount,
  context: ActionContext,
  scope: UnlockScope,
): Promise<boolean> {
  return (await deps.events.record(context, { kind: 'account_unlocked', account, details: { scope } })).recorded;
}

/**
 * Disables (`disabled`) or enables (`active`) an account. Disabling ends every sign-in made before (sessions, grants,
 * refresh and access tokens); enabling does not bring them back. Records `account_disabled` / `account_enabled` when
 * the status changed.
 */
export async function changeAccountStatus(
  deps: Pick<SupportDeps, 'conn' | 'events'>,
  account: SupportAccount,
  status: AccountStatus,
  context: ActionContext,
): Promise<{ changed: boolean }> {
  const before = await findAccountById(deps.conn, account.id);
  await setAccountStatus(deps.conn, account.id, status);
  if (status === 'disabled') await endSignIns(deps.conn, account.id);
  const changed = before?.status !== status;
  if (changed) {
    await deps.events.record(context, { kind: status === 'disabled' ? 'account_disabled' : 'account_enabled', account });
  }
  return { changed };
}
