/**
 * Adding a sign-in method in the console (`/account/methods/:factorId/add`, `…/renew`, `…/confirm`): after a fresh
 * re-authentication the factor's enrolment begins, its own template shows the pending step, and its confirmation
 * activates it. The first method turns on "ask at every sign-in" and hands out the recovery codes once.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { setSignInMfa, signInMfaEnabled } from '../accounts/accounts.ts';
import { isWellFormed, type Factor, type FactorFailure } from '../factors/contract.ts';
import { entryMessage, failureMessage } from '../factors/failure_messages.ts';
import { field, requireForm } from '../http/forms.ts';
import { renderFactorPart } from '../http/pages.ts';
import { ACCOUNT_PATH } from './client.ts';
import { factorAccount, unknownFactor, type ConsoleKit, type Signed } from './kit.ts';

function failureStatus(failure: FactorFailure): number {
  return failure.code === 'locked' || failure.code === 'too_many_codes' || failure.code === 'resend_too_soon' || failure.lock ? 429 : 400;
}

export function addMethodRoutes(router: Router, kit: ConsoleKit): void {
  router.get('/methods/:factorId/add', (ctx) => showAdd(ctx, kit));
  router.post('/methods/:factorId/add', requireForm(), kit.parseForm, (ctx) => startAdd(ctx, kit));
  router.post('/methods/:factorId/renew', requireForm(), kit.parseForm, (ctx) => renewAdd(ctx, kit));
  router.post('/methods/:factorId/confirm', requireForm(), kit.parseForm, (ctx) => confirmAdd(ctx, kit));
}

const addPath = (factor: Factor): string => `${ACCOUNT_PATH}/methods/${factor.id}/add`;

/** A primary method the customer can set up here (enrolment with a confirmation step). */
function addableFactor(ctx: Context, kit: ConsoleKit): Factor {
  const factor = kit.factorParam(ctx);
  if (!kit.deps.factors.primary.includes(factor) || !factor.enrol?.confirm) throw unknownFactor();
  return factor;
}

/** The page before anything began: what will happen, in the factor's own words, and "Continue". */
async function renderAddStart(
  ctx: Context, kit: ConsoleKit, signed: Signed, factor: Factor, message?: { id: string; text: string }, status = 200,
): Promise<void> {
  const token = kit.csrf.tokenFor(signed.session.id);
  const destination = factor.destination?.(factorAccount(signed.account));
  kit.render(ctx, 'add', {
    title: `Add ${factor.label.toLowerCase()}`,
    csrf: token,
    action: addPath(factor),
    factorHtml: renderFactorPart(kit.deps.views, factor, 'enrol', { stage: 'before', csrf: token, actions: {}, ...(destination ? { destination } : {}) }),
    fresh: await kit.isFreshNow(signed),
    pending: kit.pendingFor(signed, addPath(factor)) !== undefined,
    error: message?.text,
    errorId: message?.id,
  }, status);
}

/** Begins (or resumes, or with `renew` restarts) the enrolment, bound to this console session, and shows it. */
async function beginEnrol(
  ctx: Context, kit: ConsoleKit, signed: Signed, factor: Factor,
  options: { renew?: boolean; message?: { id: string; text: string }; status?: number },
): Promise<void> {
  if (!factor.enrol) throw unknownFactor();
  const begun = await factor.enrol.begin(factorAccount(signed.account), { ...(options.renew ? { renew: true } : {}), binding: signed.session.id });
  if (!begun.ok) {
    if (begun.code === 'already_enrolled') return kit.seeOther(ctx, `${ACCOUNT_PATH}?done=already_enrolled`);
    return renderAddStart(ctx, kit, signed, factor, failureMessage(begun), failureStatus(begun));
  }
  const token = kit.csrf.tokenFor(signed.session.id);
  const destination = factor.destination?.(factorAccount(signed.account));
  const sentTo = begun.sent?.to;
  const base = `${ACCOUNT_PATH}/methods/${factor.id}`;
  kit.render(ctx, 'enrol', {
    title: `Add ${factor.label.toLowerCase()}`,
    csrf: token,
    factorHtml: renderFactorPart(kit.deps.views, factor, 'enrol', {
      stage: 'pending',
      csrf: token,
      actions: { confirm: `${base}/confirm`, renew: `${base}/renew` },
      enrolment: begun.view,
      ...(destination ? { destination } : {}),
      ...(sentTo ? { sent: { to: sentTo, resendInSeconds: 0 } } : {}),
      ...(options.message ? { error: options.message.text } : {}),
    }),
    error: options.message?.text,
    errorId: options.message?.id,
  }, options.status ?? 200);
}

async function showAdd(ctx: Context, kit: ConsoleKit): Promise<void> {
  const factor = addableFactor(ctx, kit);
  const signed = await kit.requireSignIn(ctx, addPath(factor));
  if (!signed) return;
  if (await factor.isEnrolled(signed.account.id)) return kit.seeOther(ctx, `${ACCOUNT_PATH}?done=already_enrolled`);
  await renderAddStart(ctx, kit, signed, factor);
}

async function startAdd(ctx: Context, kit: ConsoleKit): Promise<void> {
  const signed = await kit.postContext(ctx);
  const factor = addableFactor(ctx, kit);
  if (await factor.isEnrolled(signed.account.id)) return kit.seeOther(ctx, `${ACCOUNT_PATH}?done=already_enrolled`);
  if (!await kit.ensureFresh(ctx, signed, addPath(factor))) return;
  await kit.clearPending(signed);
  await beginEnrol(ctx, kit, signed, factor, {});
}

async function renewAdd(ctx: Context, kit: ConsoleKit): Promise<void> {
  const signed = await kit.postContext(ctx);
  const factor = addableFactor(ctx, kit);
  if (!await kit.ensureFresh(ctx, signed, addPath(factor))) return;
  await beginEnrol(ctx, kit, signed, factor, { renew: true });
}

async function confirmAdd(ctx: Context, kit: ConsoleKit): Promise<void> {
  const { factors, logger } = kit.deps;
  const signed = await kit.postContext(ctx);
  const factor = addableFactor(ctx, kit);
  const { account } = signed;
  if (!await kit.ensureFresh(ctx, signed, addPath(factor))) return;
  if (!factor.enrol?.confirm) throw unknownFactor();
  const hadPrimary = await factors.hasPrimaryFactor(account.id);
  const code = field(ctx, 'code') ?? '';
  // Empty or not a code of this factor: refused unchecked, so it never counts as an attempt.
  if (!isWellFormed(factor, code)) return beginEnrol(ctx, kit, signed, factor, { message: entryMessage(code), status: 400 });
  const confirmed = await factor.enrol.confirm(account.id, code, signed.session.id);
  if (!confirmed.ok) {
    const message = failureMessage(confirmed);
    logger.info({ event: 'account.enrol_failed', accountId: account.id, factor: factor.id, code: confirmed.code }, 'console enrolment code refused');
    if (confirmed.code === 'not_enrolled' || confirmed.code === 'expired') return renderAddStart(ctx, kit, signed, factor, message, 400);
    return beginEnrol(ctx, kit, signed, factor, { message, status: failureStatus(confirmed) });
  }
  logger.info({ event: 'account.factor_added', accountId: account.id, factor: factor.id }, 'factor added in the console');
  await kit.record(ctx, { kind: 'factor_added', account, details: { method: factor.label }, auditDetails: { factorId: factor.id, replaced: confirmed.replaced } });
  if (hadPrimary) return kit.seeOther(ctx, `${ACCOUNT_PATH}?done=factor_added`);
  await turnOnTwoFactor(ctx, kit, signed, factor);
}

/**
 * The first method: this is "enable two-factor authentication": sign-in asks for a code from now on, and the
 * recovery codes are shown once.
 */
async function turnOnTwoFactor(ctx: Context, kit: ConsoleKit, signed: Signed, factor: Factor): Promise<void> {
  const { account } = signed;
  if (!await signInMfaEnabled(kit.deps.conn, account.id)) {
    await setSignInMfa(kit.deps.conn, account.id, true);
    await kit.record(ctx, { kind: 'sign_in_mfa_enabled', account, details: { reason: 'first_factor' } });
  }
  const backup = kit.backupFactor();
  const issued = backup?.enrol ? await backup.enrol.begin(factorAccount(account), { initial: true, binding: signed.session.id }) : undefined;
  kit.render(ctx, 'recovery_codes', {
    title: 'Two-factor authentication is on',
    heading: 'Two-factor authentication is on',
    intro: `Your ${factor.label.toLowerCase()} is set up. From now on every sign-in asks for a code; you can change this in your security settings.`,
    backupHtml: backup && issued?.ok ? kit.issuedPart(signed, backup, issued.view) : undefined,
  });
}
