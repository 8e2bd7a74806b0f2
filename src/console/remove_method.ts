/**
 * Removing a sign-in method in the console (`/account/methods/:factorId/remove`): "Are you sure?", a fresh
 * re-authentication, then the removal under a per-account lease; the last method takes the recovery codes and the
 * sign-in switch with it, and a forced company's member cannot remove it.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { setSignInMfa, signInMfaEnabled, type Account } from '../accounts/accounts.ts';
import type { Factor } from '../factors/contract.ts';
import { createFactorSetGuard } from '../factors/shared/factor_set_guard.ts';
import { requireForm } from '../http/forms.ts';
import { msg } from '../i18n/languages.ts';
import type { AppError } from '../shared/errors.ts';
import { forgetAllReads } from '../store/request_reads.ts';
import { ACCOUNT_PATH } from './client.ts';
import { consoleError, notEnrolled, unknownFactor, type ConsoleKit } from './kit.ts';

export function removeMethodRoutes(router: Router, kit: ConsoleKit): void {
  const { conn, factors, logger } = kit.deps;
  const removePath = (factor: Factor): string => `${ACCOUNT_PATH}/methods/${factor.id}/remove`;
  // "Is this the last method?" and the removal with its clean-up run as one step per account, across server
  // instances (a lease in MongoDB; what it covers and what it leaves out: `factor_set_guard.ts`).
  const factorSetGuard = createFactorSetGuard(conn);

  interface Removal {
    readonly last: boolean;
    readonly forced: boolean;
    readonly invoice: boolean;
  }

  async function removableFactor(ctx: Context, account: Account): Promise<{ factor: Factor; removal: Removal }> {
    const factor = kit.factorParam(ctx);
    if (!factors.primary.includes(factor)) throw unknownFactor();
    const primaries = await kit.enrolledPrimaries(account.id);
    if (!primaries.includes(factor)) {
      throw notEnrolled();
    }
    const last = primaries.length === 1;
    return { factor, removal: { last, forced: last && await kit.companyForces(account), invoice: last && account.privileges.includes('invoice') } };
  }

  function refusedRemoval(): AppError {
    return consoleError('company_requires_mfa', 'console.error.last_method_required', 409);
  }

  function removalInProgress(): AppError {
    return consoleError('factor_change_in_progress', 'console.error.factor_change_in_progress', 409);
  }

  router.get('/methods/:factorId/remove', async function showRemove(ctx) {
    kit.factorParam(ctx);
    const signed = await kit.requireSignIn(ctx, ctx.path);
    if (!signed) return;
    const { factor, removal } = await removableFactor(ctx, signed.account);
    if (removal.forced) throw refusedRemoval();
    kit.render(ctx, 'remove', {
      title: msg('console.remove.title', { method: kit.methodInSentence(ctx, factor) }),
      csrf: kit.csrf.tokenFor(signed.session.id),
      factor: { id: factor.id, label: factor.label, inSentence: factor.inSentence ?? factor.label },
      action: removePath(factor),
      removal,
      hasBackup: kit.backupFactor() !== undefined,
      pending: kit.pendingFor(signed, removePath(factor)) !== undefined,
    });
  });

  router.post('/methods/:factorId/remove', requireForm(), kit.parseForm, async function removeMethod(ctx) {
    const signed = await kit.postContext(ctx);
    const { account } = signed;
    // A removal the page would refuse anyway is refused before asking for a re-authentication.
    const { factor, removal: seen } = await removableFactor(ctx, account);
    if (seen.forced) throw refusedRemoval();
    if (!await kit.ensureFresh(ctx, signed, removePath(factor))) return;
    const held = await factorSetGuard.withLease(account.id, async () => {
      // Decided again under the lease: a removal that was in flight beside this one has finished, and its method is
      // gone (the last method of a forced member is refused here; the same method twice is "not set up").
      const { removal } = await removableFactor(ctx, account);
      if (removal.forced) throw refusedRemoval();
      await factor.remove(account.id);
      // The clean-up follows what is left now, not what was read before (a method confirmed meanwhile keeps the codes).
      forgetAllReads();
      const last = (await kit.enrolledPrimaries(account.id)).length === 0;
      const alsoRemoved: string[] = [];
      if (last) {
        // Without a primary method there is no two-factor authentication: the backup codes and the sign-in switch go too.
        for (const backup of factors.backup) {
          await backup.remove(account.id);
          alsoRemoved.push(backup.id);
        }
        await kit.methodChoice.clear(account.id);
        if (await signInMfaEnabled(conn, account.id)) {
          await setSignInMfa(conn, account.id, false);
          await kit.record(ctx, { kind: 'sign_in_mfa_disabled', account, details: { reason: 'last_factor_removed' } });
        }
      }
      return { last, alsoRemoved };
    });
    if (!held.ok) throw removalInProgress();
    const { last, alsoRemoved } = held.value;
    await kit.clearPending(signed);
    logger.info({ event: 'account.factor_removed', accountId: account.id, factor: factor.id, last }, 'factor removed in the console');
    await kit.record(ctx, { kind: 'factor_removed', account, details: { method: factor.label }, auditDetails: { factorId: factor.id, alsoRemoved } });
    const invoice = last && account.privileges.includes('invoice');
    kit.seeOther(ctx, `${ACCOUNT_PATH}?done=${invoice ? 'factor_removed_invoice' : 'factor_removed'}`);
  });
}
