/**
 * The sign-in settings of the console: the primary method (`POST /account/primary`, where the challenge opens) and
 * "ask for a code at every sign-in" (`POST /account/sign-in-mfa`), each after a fresh re-authentication.
 */
import type Router from '@koa/router';
import { setSignInMfa, signInMfaEnabled } from '../accounts/accounts.ts';
import { field, requireForm } from '../http/forms.ts';
import { ACCOUNT_PATH } from './client.ts';
import { consoleError, notEnrolled, unknownFactor, type ConsoleKit } from './kit.ts';

const FACTOR_ID = /^[a-z][a-z0-9_]{0,31}$/;

export function signInSettingsRoutes(router: Router, kit: ConsoleKit): void {
  const { conn, factors } = kit.deps;

  router.post('/primary', requireForm(), kit.parseForm, async function choosePrimary(ctx) {
    const signed = await kit.postContext(ctx);
    const id = field(ctx, 'factor') ?? '';
    const factor = FACTOR_ID.test(id) ? factors.get(id) : undefined;
    if (!factor || !factors.primary.includes(factor)) throw unknownFactor();
    if (!await factor.isEnrolled(signed.account.id)) {
      throw notEnrolled();
    }
    if (!await kit.ensureFresh(ctx, signed, ACCOUNT_PATH, { factor: factor.id })) return;
    const chosen = await kit.methodChoice.choosePrimary(signed.account.id, factor.id);
    if (!chosen.ok) throw consoleError(chosen.code, 'console.error.not_primary', 400);
    await kit.clearPending(signed);
    await kit.record(ctx, { kind: 'primary_factor_changed', account: signed.account, details: { factorId: factor.id, method: factor.label } });
    kit.seeOther(ctx, `${ACCOUNT_PATH}?done=primary_changed`);
  });

  router.post('/sign-in-mfa', requireForm(), kit.parseForm, async function switchSignInMfa(ctx) {
    const signed = await kit.postContext(ctx);
    const { account } = signed;
    const value = field(ctx, 'enabled');
    if (value !== 'on' && value !== 'off') throw consoleError('invalid_form', 'console.error.sign_in_mfa_choice', 400);
    const enable = value === 'on';
    if (enable && !await factors.hasPrimaryFactor(account.id)) {
      throw consoleError('no_factor', 'console.error.no_factor', 409);
    }
    if (!enable && await kit.companyForces(account)) {
      throw consoleError('company_requires_mfa', 'console.error.sign_in_mfa_required', 409);
    }
    if (!await kit.ensureFresh(ctx, signed, ACCOUNT_PATH, { enabled: value })) return;
    await kit.clearPending(signed);
    if (await signInMfaEnabled(conn, account.id) !== enable) {
      await setSignInMfa(conn, account.id, enable);
      await kit.record(ctx, { kind: enable ? 'sign_in_mfa_enabled' : 'sign_in_mfa_disabled', account });
    }
    kit.seeOther(ctx, `${ACCOUNT_PATH}?done=${enable ? 'sign_in_mfa_enabled' : 'sign_in_mfa_disabled'}`);
  });
}
