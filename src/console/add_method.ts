/**
 * Adding a sign-in method in the console (`/account/methods/:factorId/add`, `…/renew`, `…/confirm`): after a fresh
 * re-authentication the factor's enrolment begins, its own template shows the pending step, and its confirmation
 * activates it. The first method turns on "ask at every sign-in" and hands out the recovery codes once.
 *
 * Replacing one (`…/replace`, `…/replace/renew`, `…/replace/confirm`): "Replace authenticator app" for a new phone, one
 * action instead of remove-then-add. The same steps with `replace: true` — allowed because the re-authentication just
 * proved the account's strongest factor (a recovery code does, for a lost phone); the old app keeps working until the
 * new one is confirmed, so an abandoned replacement leaves the customer with the old phone, never with none.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { setSignInMfa, signInMfaEnabled } from '../accounts/accounts.ts';
import { isWellFormed, type Factor, type FactorFailure } from '../factors/contract.ts';
import { entryMessage, failureMessage, type FailureMessage } from '../factors/failure_messages.ts';
import { field, requireForm } from '../http/forms.ts';
import { translatorOf } from '../http/language.ts';
import { renderFactorPart } from '../http/pages.ts';
import { msg, type Message } from '../i18n/languages.ts';
import { forgetAllReads } from '../store/request_reads.ts';
import { ACCOUNT_PATH } from './client.ts';
import { factorAccount, unknownFactor, type ConsoleKit, type Signed } from './kit.ts';

function failureStatus(failure: FactorFailure): number {
  return failure.code === 'locked' || failure.code === 'too_many_codes' || failure.code === 'resend_too_soon' || failure.lock ? 429 : 400;
}

/** Adding a method, or replacing one held (a new phone). */
type Mode = 'add' | 'replace';

export function addMethodRoutes(router: Router, kit: ConsoleKit): void {
  router.get('/methods/:factorId/add', (ctx) => showAdd(ctx, kit, 'add'));
  router.post('/methods/:factorId/add', requireForm(), kit.parseForm, (ctx) => startAdd(ctx, kit, 'add'));
  router.post('/methods/:factorId/renew', requireForm(), kit.parseForm, (ctx) => renewAdd(ctx, kit, 'add'));
  router.post('/methods/:factorId/confirm', requireForm(), kit.parseForm, (ctx) => confirmAdd(ctx, kit, 'add'));
  router.get('/methods/:factorId/replace', (ctx) => showAdd(ctx, kit, 'replace'));
  router.post('/methods/:factorId/replace', requireForm(), kit.parseForm, (ctx) => startAdd(ctx, kit, 'replace'));
  router.post('/methods/:factorId/replace/renew', requireForm(), kit.parseForm, (ctx) => renewAdd(ctx, kit, 'replace'));
  router.post('/methods/:factorId/replace/confirm', requireForm(), kit.parseForm, (ctx) => confirmAdd(ctx, kit, 'replace'));
}

const modePath = (factor: Factor, mode: Mode): string => `${ACCOUNT_PATH}/methods/${factor.id}/${mode}`;
/** Where the pending step's forms post: `…/renew`, `…/confirm` (add) or `…/replace/renew`, `…/replace/confirm`. */
const stepBase = (factor: Factor, mode: Mode): string => (mode === 'add' ? `${ACCOUNT_PATH}/methods/${factor.id}` : modePath(factor, mode));
/** "Add authenticator app" / "Replace authenticator app", in the page's language. */
function titleOf(ctx: Context, kit: ConsoleKit, factor: Factor, mode: Mode): Message {
  const method = kit.methodInSentence(ctx, factor);
  return mode === 'add' ? msg('console.add.title', { method }) : msg('console.add.replace_title', { method });
}

/** A failure's words in the page's language (the templates show `error` as text). */
function errorText(ctx: Context, kit: ConsoleKit, message: FailureMessage | undefined): string | undefined {
  return message && translatorOf(ctx, kit.deps.views.languages).t(message.message);
}

/** Whether `factor` is one a new phone replaces: set up with a confirmation and not delivering its code by mail. */
export function replaceable(factor: Factor): boolean {
  return factor.enrol?.confirm !== undefined && factor.enrol.delivers === false;
}

/** A primary method the customer can set up (or replace) here (enrolment with a confirmation step). */
function addableFactor(ctx: Context, kit: ConsoleKit, mode: Mode): Factor {
  const factor = kit.factorParam(ctx);
  if (!kit.deps.factors.primary.includes(factor) || !factor.enrol?.confirm) throw unknownFactor();
  if (mode === 'replace' && !replaceable(factor)) throw unknownFactor();
  return factor;
}

/** Adding needs the factor not set up yet; replacing needs it set up. Otherwise the overview says why. */
async function wrongState(ctx: Context, kit: ConsoleKit, signed: Signed, factor: Factor, mode: Mode): Promise<boolean> {
  const enrolled = await factor.isEnrolled(signed.account.id);
  if (mode === 'add' && enrolled) kit.seeOther(ctx, `${ACCOUNT_PATH}?done=already_enrolled`);
  else if (mode === 'replace' && !enrolled) kit.seeOther(ctx, `${ACCOUNT_PATH}?done=not_enrolled`);
  else return false;
  return true;
}

/** The page before anything began: what will happen, in the factor's own words, and "Continue". */
async function renderAddStart(
  ctx: Context, kit: ConsoleKit, signed: Signed, factor: Factor, mode: Mode, message?: FailureMessage, status = 200,
): Promise<void> {
  const token = kit.csrf.tokenFor(signed.session.id);
  const destination = factor.destination?.(factorAccount(signed.account));
  kit.render(ctx, 'add', {
    title: titleOf(ctx, kit, factor, mode),
    method: kit.methodInSentence(ctx, factor),
    replacing: mode === 'replace',
    csrf: token,
    action: modePath(factor, mode),
    factorHtml: renderFactorPart(ctx, kit.deps.views, factor, 'enrol', { stage: 'before', csrf: token, actions: {}, ...(destination ? { destination } : {}) }),
    fresh: await kit.isFreshNow(signed),
    pending: kit.pendingFor(signed, modePath(factor, mode)) !== undefined,
    error: errorText(ctx, kit, message),
    errorId: message?.id,
  }, status);
}

/** Begins (or resumes, or with `renew` restarts) the enrolment, bound to this console session, and shows it. */
async function beginEnrol(
  ctx: Context, kit: ConsoleKit, signed: Signed, factor: Factor, mode: Mode,
  options: { renew?: boolean; message?: FailureMessage; status?: number },
): Promise<void> {
  if (!factor.enrol) throw unknownFactor();
  const begun = await factor.enrol.begin(factorAccount(signed.account, ctx), {
    ...(options.renew ? { renew: true } : {}), ...(mode === 'replace' ? { replace: true } : {}), binding: signed.session.id,
  });
  if (!begun.ok) {
    if (begun.code === 'already_enrolled') return kit.seeOther(ctx, `${ACCOUNT_PATH}?done=already_enrolled`);
    return renderAddStart(ctx, kit, signed, factor, mode, failureMessage(begun), failureStatus(begun));
  }
  const token = kit.csrf.tokenFor(signed.session.id);
  const destination = factor.destination?.(factorAccount(signed.account));
  const sentTo = begun.sent?.to;
  const base = stepBase(factor, mode);
  kit.render(ctx, 'enrol', {
    title: titleOf(ctx, kit, factor, mode),
    replacing: mode === 'replace',
    csrf: token,
    factorHtml: renderFactorPart(ctx, kit.deps.views, factor, 'enrol', {
      stage: 'pending',
      csrf: token,
      actions: { confirm: `${base}/confirm`, renew: `${base}/renew` },
      enrolment: begun.view,
      ...(destination ? { destination } : {}),
      ...(sentTo ? { sent: { to: sentTo, resendInSeconds: 0 } } : {}),
      ...(options.message ? { error: errorText(ctx, kit, options.message) } : {}),
    }),
    error: errorText(ctx, kit, options.message),
    errorId: options.message?.id,
  }, options.status ?? 200);
}

async function showAdd(ctx: Context, kit: ConsoleKit, mode: Mode): Promise<void> {
  const factor = addableFactor(ctx, kit, mode);
  const signed = await kit.requireSignIn(ctx, modePath(factor, mode));
  if (!signed) return;
  if (await wrongState(ctx, kit, signed, factor, mode)) return;
  await renderAddStart(ctx, kit, signed, factor, mode);
}

async function startAdd(ctx: Context, kit: ConsoleKit, mode: Mode): Promise<void> {
  const signed = await kit.postContext(ctx);
  const factor = addableFactor(ctx, kit, mode);
  if (await wrongState(ctx, kit, signed, factor, mode)) return;
  if (!await kit.ensureFresh(ctx, signed, modePath(factor, mode))) return;
  await kit.clearPending(signed);
  await beginEnrol(ctx, kit, signed, factor, mode, {});
}

async function renewAdd(ctx: Context, kit: ConsoleKit, mode: Mode): Promise<void> {
  const signed = await kit.postContext(ctx);
  const factor = addableFactor(ctx, kit, mode);
  if (!await kit.ensureFresh(ctx, signed, modePath(factor, mode))) return;
  await beginEnrol(ctx, kit, signed, factor, mode, { renew: true });
}

async function confirmAdd(ctx: Context, kit: ConsoleKit, mode: Mode): Promise<void> {
  const { factors, logger } = kit.deps;
  const signed = await kit.postContext(ctx);
  const factor = addableFactor(ctx, kit, mode);
  const { account } = signed;
  if (!await kit.ensureFresh(ctx, signed, modePath(factor, mode))) return;
  if (!factor.enrol?.confirm) throw unknownFactor();
  const hadPrimary = await factors.hasPrimaryFactor(account.id);
  const code = field(ctx, 'code') ?? '';
  // Empty or not a code of this factor: refused unchecked, so it never counts as an attempt.
  if (!isWellFormed(factor, code)) return beginEnrol(ctx, kit, signed, factor, mode, { message: entryMessage(code), status: 400 });
  const confirmed = await factor.enrol.confirm(account.id, code, signed.session.id);
  if (!confirmed.ok) {
    const message = failureMessage(confirmed, factor);
    logger.info({ event: 'account.enrol_failed', accountId: account.id, factor: factor.id, code: confirmed.code }, 'console enrolment code refused');
    if (confirmed.code === 'not_enrolled' || confirmed.code === 'expired') return renderAddStart(ctx, kit, signed, factor, mode, message, 400);
    return beginEnrol(ctx, kit, signed, factor, mode, { message, status: failureStatus(confirmed) });
  }
  logger.info({ event: 'account.factor_added', accountId: account.id, factor: factor.id, replaced: confirmed.replaced }, 'factor added in the console');
  await kit.record(ctx, { kind: 'factor_added', account, details: { method: factor.label }, auditDetails: { factorId: factor.id, replaced: confirmed.replaced } });
  if (confirmed.replaced) return kit.seeOther(ctx, `${ACCOUNT_PATH}?done=factor_replaced`);
  if (hadPrimary) return kit.seeOther(ctx, `${ACCOUNT_PATH}?done=factor_added`);
  await turnOnTwoFactor(ctx, kit, signed, factor);
}

/**
 * The first method: this is "enable two-factor authentication": sign-in asks for a code from now on, and the
 * recovery codes are shown once.
 */
async function turnOnTwoFactor(ctx: Context, kit: ConsoleKit, signed: Signed, factor: Factor): Promise<void> {
  const { account } = signed;
  // The switch as it is now, after the code check and the mail (another tab may have changed it meanwhile).
  forgetAllReads();
  if (!await signInMfaEnabled(kit.deps.conn, account.id)) {
    await setSignInMfa(kit.deps.conn, account.id, true);
    await kit.record(ctx, { kind: 'sign_in_mfa_enabled', account, details: { reason: 'first_factor' } });
  }
  const backup = kit.backupFactor();
  const issued = backup?.enrol ? await backup.enrol.begin(factorAccount(account), { initial: true, binding: signed.session.id }) : undefined;
  kit.render(ctx, 'recovery_codes', {
    title: 'console.codes.first_title',
    heading: 'console.codes.first_title',
    intro: msg('console.codes.first_intro', { method: kit.methodInSentence(ctx, factor) }),
    backupHtml: backup && issued?.ok ? kit.issuedPart(ctx, signed, backup, issued.view) : undefined,
  });
}
