/**
 * Enrolment inside the login (docs/ARCHITECTURE.md "The step-up decision"): when the policy demands a second factor the
 * account does not have (forced company, invoice privilege + invoice scope, the customer's own "ask at every sign-in",
 * or a level above the account's weaker factor), the customer sets one up in the same interaction, sees the recovery
 * codes once and returns to the shop with the new factor's level.
 *
 * - Several primary factors the customer can set up prove the requested level (level 2: app or email) → a choice
 *   first; a single one (level 3: the app only — an email code proves level 2, NIST SP 800-63B §5.1.3.1) → straight
 *   to it.
 * - The password is re-confirmed first when this interaction did not prove it (a signed-in session; OWASP ASVS
 *   7.5.1), throttled like the login: a stolen session alone cannot bind its own factor.
 * - The factor's own template (`factor.views.enrol`) is the middle of every enrolment page; this file keeps the
 *   frame and the steps. A factor whose `begin` only prepares what the page shows (the app's QR code) begins when the
 *   page is shown; one whose `begin` delivers the code (`enrol.delivers`: a mail) begins only when the customer asks
 *   ("Send code"). `enrol.confirm` activates it; until then nothing about the account changes: a wrong code, a
 *   refused resend or a failed mail leave it without the factor.
 *
 * Every factor ends in one code path ({@link submitEnrol}): the new factor is recorded as proven in the session (its code
 * was just entered), `factor_added` notification, recovery codes, then the login. An account that already holds a
 * factor reaches these pages only after proving its strongest one (the step-up decision asks for that first).
 * The interaction remembers the choice and its progress server-side (`PendingStepUp.enrolment`); every form carries
 * the CSRF token.
 */
import type { Context } from 'koa';
import { requestLanguage } from '../http/language.ts';
import { z } from 'zod';
import { setSignInMfa, verifyLogin } from '../accounts/accounts.ts';
import { accountFacts, proveFactor, provePassword } from '../authentication/request_state.ts';
import { isWellFormed, type EnrolBeginSuccess, type Factor, type FactorAccount } from '../factors/contract.ts';
import { renderFactorPart } from '../http/pages.ts';
import { clientNameOf, loadInteraction, pageWords, renderInteractionPage, type InteractionDeps, type InteractionDetails } from './context.ts';
import { formBody } from '../http/forms.ts';
import { codeForm, postStep, renderChallenge, type Step } from './challenge.ts';
import { STATUS, entryMessage, failureMessage, type MfaMessageId } from '../factors/failure_messages.ts';
import { msg, type Message } from '../i18n/languages.ts';
import { finishLogin, finishUnmet, notifyLockout, originOf, restartSignIn } from './finish.ts';
import { minutesUntil, throttleLogin } from '../accounts/login_throttle.ts';
import { pendingStepUpOf, proofHolderOf, redirectToStep, savePending, type PendingStepUp } from './step_up_state.ts';

/**
 * Stable message ids of the enrolment pages besides the factor failures (`mfa.error.<id>` in `locales/`).
 * `password_invalid` is the same for every wrong password; nothing else is said.
 */
export type EnrolMessageId = 'choose_method' | 'password_missing' | 'password_invalid' | 'password_locked' | 'password_blocked';

interface PageMessage {
  readonly id: MfaMessageId | EnrolMessageId;
  readonly message: Message;
}

const methodForm = z.object({ method: z.string().max(64) });
const passwordForm = z.object({ password: z.string().max(1024).optional() });

/** The primary factors the customer can set up here that prove `level`, in registry order. */
function enrolOptions(deps: InteractionDeps, level: number): Factor[] {
  return deps.factors?.enrollableFactors(level, 'primary').filter((factor) => factor.enrol?.confirm !== undefined) ?? [];
}

/** The factor being set up: the customer's choice, else the only option; `undefined` → the choice page. */
function chosenFactor(options: readonly Factor[], pending: PendingStepUp): Factor | undefined {
  const chosen = options.find((factor) => factor.id === pending.enrolment?.factorId);
  return chosen ?? (options.length === 1 ? options[0] : undefined);
}

/** A factor whose enrolment delivers the code it confirms (see `FactorEnrolment.delivers`). */
function delivers(factor: Factor): boolean {
  return factor.enrol?.delivers === true;
}

/** The account as a factor sees it; with the request, the language of the mails it sends (the account's, else the page's). */
function factorAccount(account: Step['account'], ctx?: Context): FactorAccount {
  return { id: account.id, email: account.email, name: account.name, ...(ctx ? { language: account.language ?? requestLanguage(ctx) } : {}) };
}

/** Whether the password must be confirmed again before a factor is set up: it was not proven in this interaction. */
function needsPassword(step: Pick<Step, 'interaction' | 'evaluation'>): boolean {
  return step.evaluation.state?.password.interaction !== step.interaction.uid;
}

function withEnrolment(pending: PendingStepUp, factor: Factor, progress: { codeSent?: boolean }): PendingStepUp {
  return { ...pending, enrolment: { factorId: factor.id, ...(progress.codeSent ? { codeSent: true } : {}) } };
}

/** Why this sign-in asks for two-factor authentication, in the customer's words (the decision's reason). */
function whyMessage(step: Step, clientName: string): Message {
  switch ('reason' in step.evaluation.decision ? step.evaluation.decision.reason : undefined) {
    case 'company_policy': return msg('mfa.enrol.why.company_policy');
    case 'step_up_scope': return msg('mfa.enrol.why.step_up_scope');
    case 'every_sign_in': return msg('mfa.enrol.why.every_sign_in');
    default: return clientName ? msg('mfa.enrol.why.client', { client: clientName }) : msg('mfa.enrol.why.shop');
  }
}

async function commonLocals(ctx: Context, deps: InteractionDeps, step: Step) {
  const clientName = await clientNameOf(ctx, deps.provider, step.interaction);
  return {
    title: 'mfa.enrol.title',
    clientName,
    why: whyMessage(step, clientName),
    csrf: deps.csrf.tokenFor(step.interaction.uid),
  };
}

/** The choice page: "Authenticator app (recommended)" / "Email code to m•••@example.com". */
async function renderChoice(ctx: Context, deps: InteractionDeps, step: Step, options: readonly Factor[], form: { message?: PageMessage; status?: number }): Promise<void> {
  // The strongest method is recommended (the app: it also meets level-3 requests) when the options differ in level.
  const best = Math.max(...options.map((factor) => factor.level));
  const recommended = options.some((factor) => factor.level < best) ? options.find((factor) => factor.level === best) : undefined;
  const selected = options.find((factor) => factor.id === step.pending.enrolment?.factorId) ?? recommended ?? options[0];
  renderInteractionPage(ctx, deps, step.interaction, 'mfa_enrol_choice', {
    ...await commonLocals(ctx, deps, step),
    methods: options.map((factor) => {
      return {
        id: factor.id,
        label: factor.label,
        destination: factor.destination?.(factorAccount(step.account)),
        recommended: factor === recommended,
        selected: factor === selected,
      };
    }),
    error: form.message?.message,
    errorId: form.message?.id,
  }, form.status ?? 200);
}

interface FactorStepForm {
  readonly message?: PageMessage;
  readonly status?: number;
  /** What `enrol.begin` answered (a factor that delivers shows the pending step from `codeSent` alone). */
  readonly begun?: EnrolBeginSuccess;
  /** Ask the factor for a new pending enrolment ("new QR code"). */
  readonly renew?: boolean;
}

/**
 * The chosen factor's page: the password re-confirmation when needed, else the factor's own template — before
 * `begin` (a delivering factor not yet asked to send), or with the pending enrolment. A factor that delivers nothing
 * begins here, bound to this interaction (a resumed pending enrolment shows the same QR code again).
 */
async function renderFactorStep(ctx: Context, deps: InteractionDeps, step: Step, factor: Factor, form: FactorStepForm): Promise<void> {
  if (needsPassword(step)) return renderPasswordStep(ctx, deps, step, factor, form);
  if (!factor.enrol) return finishUnmet(ctx, step.interaction);
  const { interaction, account } = step;
  let begun = form.begun;
  if (!delivers(factor) && !begun) {
    const answer = await factor.enrol.begin(factorAccount(account), { ...(form.renew ? { renew: true } : {}), binding: interaction.uid });
    if (!answer.ok) {
      // Enrolled meanwhile (another tab): the challenge takes over.
      if (answer.code === 'already_enrolled') return renderChallenge(ctx, deps, step, {});
      return renderChallenge(ctx, deps, step, { message: failureMessage(answer), status: 400 });
    }
    begun = answer;
  }
  const pending = !delivers(factor) || step.pending.enrolment?.codeSent === true;
  const destination = factor.destination?.(factorAccount(account));
  const sentTo = begun?.sent?.to ?? destination;
  const resendAt = begun?.sent?.resendAvailableAt;
  const base = `/interaction/${interaction.uid}/enrol`;
  const common = await commonLocals(ctx, deps, step);
  const enrolmentHtml = renderFactorPart(ctx, deps.views, factor, 'enrol', {
    stage: pending ? 'pending' : 'before',
    csrf: common.csrf,
    actions: { send: `${base}/send`, confirm: base, renew: delivers(factor) ? `${base}/send` : `${base}/renew` },
    ...(begun ? { enrolment: begun.view } : {}),
    ...(destination ? { destination } : {}),
    ...(pending && sentTo ? {
      sent: { to: sentTo, resendInSeconds: resendAt ? Math.max(0, Math.ceil((resendAt.getTime() - Date.now()) / 1000)) : 0 },
    } : {}),
    ...(form.message ? { error: pageWords(ctx, deps).t(form.message.message) } : {}),
  });
  renderInteractionPage(ctx, deps, interaction, 'mfa_enrol', {
    ...common,
    enrolmentHtml,
    canChoose: enrolOptions(deps, step.level).length > 1,
    error: form.message?.message,
    errorId: form.message?.id,
  }, form.status ?? 200);
}

/** The password re-confirmation before a factor is set up from a signed-in session (any factor). */
async function renderPasswordStep(ctx: Context, deps: InteractionDeps, step: Step, factor: Factor, form: { message?: PageMessage; status?: number }): Promise<void> {
  renderInteractionPage(ctx, deps, step.interaction, 'mfa_enrol_password', {
    ...await commonLocals(ctx, deps, step),
    factorLabel: factor.label,
    factorInSentence: factor.inSentence,
    destination: factor.destination?.(factorAccount(step.account)),
    canChoose: enrolOptions(deps, step.level).length > 1,
    error: form.message?.message,
    errorId: form.message?.id,
  }, form.status ?? 200);
}

/** GET part of an enrolment: the choice, the chosen factor's current step, or unmet when nothing can be set up. */
export async function showEnrolment(ctx: Context, deps: InteractionDeps, step: Step, options: { choose?: boolean }): Promise<void> {
  const factors = enrolOptions(deps, step.level);
  if (factors.length === 0) return finishUnmet(ctx, step.interaction);
  const factor = options.choose && factors.length > 1 ? undefined : chosenFactor(factors, step.pending);
  if (!factor) return renderChoice(ctx, deps, step, factors, {});
  return renderFactorStep(ctx, deps, step, factor, {});
}

/**
 * `enrol.begin` of a factor that delivers its code: sends one (or, with `renew`, a new one within the cooldown and the
 * hourly budget). A failure changes nothing; the page says why and offers to retry or to choose another method.
 */
async function sendEnrolmentCode(ctx: Context, deps: InteractionDeps, step: Step, factor: Factor, renew: boolean): Promise<void> {
  if (!factor.enrol) return finishUnmet(ctx, step.interaction);
  const { account, interaction } = step;
  const begun = await factor.enrol.begin(factorAccount(account, ctx), { ...(renew ? { renew: true } : {}), binding: interaction.uid });
  if (!begun.ok) {
    if (begun.code === 'already_enrolled') {
      // Enrolled meanwhile (another tab): the challenge takes over.
      redirectToStep(ctx, interaction.uid);
      return;
    }
    deps.logger.info({ event: 'mfa.enrol_send_refused', accountId: account.id, factor: factor.id, code: begun.code }, 'enrolment code not sent');
    const message = failureMessage(begun);
    await renderFactorStep(ctx, deps, step, factor, { message, status: STATUS[message.id] ?? 400 });
    return;
  }
  const pending = withEnrolment(step.pending, factor, { codeSent: true });
  await savePending(step.interaction, pending);
  await renderFactorStep(ctx, deps, { ...step, pending }, factor, { begun });
}

/** The enrolment of a POST: the step, the options and the chosen factor; undefined after a redirect. */
async function enrolStep(ctx: Context, deps: InteractionDeps): Promise<(Step & { options: Factor[]; factor: Factor | undefined }) | undefined> {
  const step = await postStep(ctx, deps);
  if (!step) return undefined;
  if (!step.enrol) {
    redirectToStep(ctx, step.interaction.uid);
    return undefined;
  }
  const options = enrolOptions(deps, step.level);
  return { ...step, options, factor: chosenFactor(options, step.pending) };
}

/** POST /interaction/:uid/enrol/method — the choice: the app's QR, or (after the password when needed) the email code. */
export async function submitEnrolMethod(ctx: Context, deps: InteractionDeps): Promise<void> {
  const step = await enrolStep(ctx, deps);
  if (!step) return;
  const parsed = methodForm.safeParse(formBody(ctx));
  const factor = parsed.success ? step.options.find((candidate) => candidate.id === parsed.data.method) : undefined;
  if (!factor) {
    if (step.options.length === 0) return finishUnmet(ctx, step.interaction);
    await renderChoice(ctx, deps, step, step.options, { message: { id: 'choose_method', message: msg('mfa.error.choose_method') }, status: 400 });
    return;
  }
  const next = { ...step, pending: withEnrolment(step.pending, factor, {}) };
  await savePending(next.interaction, next.pending);
  if (needsPassword(next) || !delivers(factor)) return renderFactorStep(ctx, deps, next, factor, {});
  // `begin` without renew resumes a code that still works (back and forth between the methods mails nothing new).
  return sendEnrolmentCode(ctx, deps, next, factor, false);
}

/**
 * POST /interaction/:uid/enrol/password — re-confirms the password of a signed-in customer before a factor is bound
 * to the account (a stolen session alone cannot add its own authenticator); the proof is recorded in the session like
 * any password proof; then the QR code or the mailed code.
 */
export async function submitEnrolPassword(ctx: Context, deps: InteractionDeps): Promise<void> {
  const step = await enrolStep(ctx, deps);
  if (!step) return;
  const { interaction, pending, account, factor } = step;
  if (!factor || !needsPassword(step)) {
    redirectToStep(ctx, interaction.uid);
    return;
  }
  const parsed = passwordForm.safeParse(formBody(ctx));
  const password = parsed.success ? parsed.data.password ?? '' : '';
  if (!password) {
    await renderPasswordStep(ctx, deps, step, factor, { message: { id: 'password_missing', message: msg('mfa.error.password_missing') }, status: 400 });
    return;
  }
  // The login's limiter, keyed by the account's email: guessing here counts exactly like guessing at the login.
  const result = await throttleLogin(deps, account.email, async () => {
    const verified = await verifyLogin(deps.conn, account.email, password);
    return verified?.id === account.id ? verified : null;
  });
  if (!result.ok) {
    const lock = result.lock;
    if (lock) {
      deps.logger.warn({ event: 'mfa.enrol_password_locked', accountId: account.id, permanent: lock.permanent }, 'password re-confirmation locked');
      const minutes = minutesUntil(lock);
      const message: PageMessage = minutes === undefined
        ? { id: 'password_blocked', message: msg('mfa.error.password_blocked') }
        : { id: 'password_locked', message: msg('mfa.error.password_locked', { minutes }) };
      if (lock.until) ctx.set('Retry-After', String(Math.max(1, Math.ceil((lock.until.getTime() - Date.now()) / 1000))));
      await renderPasswordStep(ctx, deps, step, factor, { message, status: 429 });
      return;
    }
    deps.logger.info({ event: 'mfa.enrol_password_failed', accountId: account.id }, 'password re-confirmation failed');
    await renderPasswordStep(ctx, deps, step, factor, { message: { id: 'password_invalid', message: msg('mfa.error.password_invalid') }, status: 401 });
    return;
  }
  const state = await provePassword(deps, ctx.req, proofHolderOf(interaction, pending), account, { at: new Date(), interaction: interaction.uid }, 'reconfirm');
  const next = { ...step, evaluation: { ...step.evaluation, state } };
  if (!delivers(factor)) return renderFactorStep(ctx, deps, next, factor, {});
  await sendEnrolmentCode(ctx, deps, next, factor, false);
}

/** POST /interaction/:uid/enrol/send — sends the code (again after a failure), or a new one ("send a new code"). */
export async function submitEnrolSend(ctx: Context, deps: InteractionDeps): Promise<void> {
  const step = await enrolStep(ctx, deps);
  if (!step) return;
  const { interaction, pending, factor } = step;
  if (!factor || !delivers(factor) || needsPassword(step)) {
    redirectToStep(ctx, interaction.uid);
    return;
  }
  await sendEnrolmentCode(ctx, deps, step, factor, pending.enrolment?.codeSent === true);
}

/**
 * POST /interaction/:uid/enrol — confirms the new factor with a code (app or email), records it as proven in the
 * session (its code was just entered); then the recovery codes page.
 */
export async function submitEnrol(ctx: Context, deps: InteractionDeps): Promise<void> {
  const step = await enrolStep(ctx, deps);
  if (!step) return;
  const { interaction, pending, account, factor } = step;
  if (!factor?.enrol?.confirm || needsPassword(step) || (delivers(factor) && pending.enrolment?.codeSent !== true)) {
    redirectToStep(ctx, interaction.uid);
    return;
  }
  const parsed = codeForm.safeParse(formBody(ctx));
  const code = parsed.success ? parsed.data.code ?? '' : '';
  if (!isWellFormed(factor, code)) {
    await renderFactorStep(ctx, deps, step, factor, { message: entryMessage(code), status: 400 });
    return;
  }
  const confirmed = await factor.enrol.confirm(account.id, code, interaction.uid);
  if (!confirmed.ok) {
    const message = failureMessage(confirmed, factor);
    await notifyLockout(ctx, deps, interaction, account, confirmed);
    await renderFactorStep(ctx, deps, step, factor, { message, status: STATUS[message.id] ?? 400 });
    return;
  }
  deps.logger.info({ event: 'mfa.enrolled', accountId: account.id, factor: factor.id }, 'second factor enrolled during login');
  await deps.events.record(originOf(ctx, interaction), { kind: 'factor_added', account, details: { method: factor.label } });
  if (!await proveFactor(deps, ctx.req, proofHolderOf(interaction, pending), account, factor.id, { at: new Date(), interaction: interaction.uid })) {
    return restartSignIn(ctx, deps, interaction);
  }
  await savePending(interaction, { ...pending, enrolled: { factorId: factor.id } });

  // The backup (recovery codes) handed out once, right after the first factor: its own template shows what it issued.
  const backup = deps.factors?.enrollableFactors(step.level, 'backup')[0];
  const issued = backup?.enrol ? await backup.enrol.begin(factorAccount(account), { initial: true, binding: interaction.uid }) : undefined;
  const csrf = deps.csrf.tokenFor(interaction.uid);
  // Asked at every sign-in already (a forced company, the customer's own switch), or offered here: the customer chooses.
  const everySignIn = step.evaluation.facts.companyPolicy === 'forced' || account.signInMfa;
  renderInteractionPage(ctx, deps, interaction, 'mfa_recovery_codes', {
    title: 'mfa.codes.title',
    clientName: await clientNameOf(ctx, deps.provider, interaction),
    csrf,
    everySignIn,
    offerEverySignIn: !everySignIn,
    factorLabel: factor.label,
    factorInSentence: factor.inSentence,
    destination: factor.destination?.(factorAccount(account)),
    backupHtml: backup && issued?.ok ? renderFactorPart(ctx, deps.views, backup, 'enrol', { stage: 'pending', csrf, actions: {}, enrolment: issued.view }) : undefined,
  });
}

/** POST /interaction/:uid/enrol/renew — "new QR code": a fresh pending secret (factors shown on the page only). */
export async function submitEnrolRenew(ctx: Context, deps: InteractionDeps): Promise<void> {
  const step = await enrolStep(ctx, deps);
  if (!step) return;
  const { interaction, factor } = step;
  if (!factor || delivers(factor) || needsPassword(step)) {
    redirectToStep(ctx, interaction.uid);
    return;
  }
  await renderFactorStep(ctx, deps, step, factor, { renew: true });
}

/** POST /interaction/:uid/mfa/continue — after the recovery codes page, or "Not now" after a recovery code: back to the shop. */
export async function submitContinue(ctx: Context, deps: InteractionDeps): Promise<void> {
  const interaction = await loadInteraction(ctx, deps.provider);
  deps.csrf.verify(interaction.uid, formBody(ctx).csrf);
  const pending = pendingStepUpOf(interaction);
  if (!pending?.enrolled && !pending?.recovered) {
    redirectToStep(ctx, interaction.uid);
    return;
  }
  if (pending.enrolled && formBody(ctx).every_sign_in === 'on') await askEverySignIn(ctx, deps, interaction, pending);
  await finishLogin(ctx, deps, interaction, pending);
}

/** "Also ask for a code at every sign-in", chosen after setting up the first method in a shop's sign-in. */
async function askEverySignIn(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, pending: PendingStepUp): Promise<void> {
  const { account } = await accountFacts(deps, ctx.req, pending.accountId);
  if (!account || account.signInMfa) return;
  await setSignInMfa(deps.conn, account.id, true);
  await deps.events.record(originOf(ctx, interaction), { kind: 'sign_in_mfa_enabled', account, details: { reason: 'enrolment' } });
}
