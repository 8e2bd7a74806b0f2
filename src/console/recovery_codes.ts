/**
 * New recovery codes in the console (`/account/recovery-codes`): after a fresh second factor the earlier set is
 * replaced and the new codes are shown once, in the backup factor's own template.
 */
import type Router from '@koa/router';
import type { Account } from '../accounts/accounts.ts';
import type { Factor, FactorEnrolment } from '../factors/contract.ts';
import { requireForm } from '../http/forms.ts';
import { ACCOUNT_PATH } from './client.ts';
import { consoleError, factorAccount, type ConsoleKit } from './kit.ts';

export function recoveryCodesRoutes(router: Router, kit: ConsoleKit): void {
  const { factors } = kit.deps;

  const recoveryPath = `${ACCOUNT_PATH}/recovery-codes`;

  async function regenerable(account: Account): Promise<{ backup: Factor; enrol: FactorEnrolment }> {
    const backup = kit.backupFactor();
    if (!backup?.enrol) throw consoleError('not_found', 'console.error.recovery_unavailable', 404);
    if (!await factors.hasPrimaryFactor(account.id)) {
      throw consoleError('no_factor', 'console.error.recovery_needs_factor', 409);
    }
    return { backup, enrol: backup.enrol };
  }

  router.get('/recovery-codes', async function showRegenerate(ctx) {
    const signed = await kit.requireSignIn(ctx, recoveryPath);
    if (!signed) return;
    const { backup } = await regenerable(signed.account);
    kit.render(ctx, 'regenerate', {
      title: 'console.regenerate.title',
      csrf: kit.csrf.tokenFor(signed.session.id),
      action: recoveryPath,
      remaining: await backup.remaining?.(signed.account.id),
      pending: kit.pendingFor(signed, recoveryPath) !== undefined,
    });
  });

  router.post('/recovery-codes', requireForm(), kit.parseForm, async function regenerateCodes(ctx) {
    const signed = await kit.postContext(ctx);
    const { account } = signed;
    const { backup, enrol } = await regenerable(account);
    if (!await kit.ensureFresh(ctx, signed, recoveryPath)) return;
    // `replace`: allowed because the re-authentication just proved the second factor (ensureFresh).
    const made = await enrol.begin(factorAccount(account), { replace: true, binding: signed.session.id });
    if (!made.ok) throw consoleError('try_again', 'console.error.recovery_try_again', 409);
    await kit.clearPending(signed);
    await kit.record(ctx, { kind: 'recovery_codes_regenerated', account, auditDetails: { count: await backup.remaining?.(account.id) } });
    kit.render(ctx, 'recovery_codes', {
      title: 'console.codes.new_title',
      heading: 'console.codes.new_title',
      intro: 'console.codes.new_intro',
      backupHtml: kit.issuedPart(ctx, signed, backup, made.view),
    });
  });
}
