/**
 * "Forgot your password?": self-service reset by emailed link (docs/SECURITY.md "Password reset"; OWASP Forgot
 * Password Cheat Sheet).
 *
 * 1. `GET /password-reset` asks for the email address (from the sign-in page it remembers the interaction to return
 *    to). `POST` answers the same "check your email" page for a registered, an unknown and a disabled address, and
 *    answers it before any lookup: the account is looked up, the link stored and the mail sent after the response, so
 *    neither the page nor its timing says whether an account exists. Limits: {@link PER_ADDRESS} links per address
 *    (silently: the same page) and {@link PER_IP} requests per IP address (a 429 page with the wait) per hour.
 * 2. The mail carries one link (`src/accounts/password_reset_links.ts`: single use, stored hashed, 30 minutes, dead
 *    after a password change, a reset of the second factors or a disable). `GET /password-reset/new?token=…` shows the new-password form without using
 *    the link (mail scanners follow links); `POST` uses it — one atomic write, so two submissions in flight cannot
 *    both succeed — then sets the password (the usual rules) in one write with a raised credentials epoch.
 * 3. After the reset every session and grant of the account has ended (`endSignIns`: provider sessions, console
 *    sessions, refresh and access tokens), the other links are dead, the login throttle of the address is lifted, and
 *    the customer gets a `password_reset` mail that says whether the link was used in another browser than the one
 *    that asked for it. The reset signs nobody in, and it never lowers the bar: an account holding a second factor
 *    proves it at the next sign-in whatever the shop asks (`secondFactorDue`).
 *
 * The asking browser is known by a random nonce in an HttpOnly cookie scoped to these pages; the forms' CSRF tokens
 * are bound to it (`src/http/form_tokens.ts`). Tokens travel in the query string of a GET and the body of a POST,
 * never in a path (the request log writes paths).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Connection } from 'mongoose';
import type Provider from 'oidc-provider';
import { findAccountByEmail, findAccountById, normaliseEmail, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, setPassword, type Account } from '../accounts/accounts.ts';
import { resetLoginThrottle } from '../accounts/login_throttle.ts';
import {
  RESET_LINK_LIFETIME_MS, createResetLink, digest, dropResetLinks, findResetLink, useResetLink, type ResetLink, type ResetLinkRefusal,
} from '../accounts/password_reset_links.ts';
import { newPasswordProblem, type PasswordMessageId } from '../accounts/password_rules.ts';
import { reachesMailbox } from '../factors/contract.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { createFormTokens, type FormTokens } from '../http/form_tokens.ts';
import { formBody, formParser, requireForm } from '../http/forms.ts';
import { renderPage } from '../http/pages.ts';
import type { Views } from '../http/views.ts';
import { msg, type Message } from '../i18n/languages.ts';
import { mailWords, renderPasswordResetLink, type MailLook } from '../mail/templates.ts';
import type { Mailer } from '../mail/transport.ts';
import { LEVEL } from '../shared/assurance.ts';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { maskEmail } from '../shared/mask_email.ts';
import { endSignIns } from '../security/end_sign_ins.ts';
import type { Origin, SecurityEvents } from '../security/events.ts';
import { createRateWindow, type RateWindow } from '../security/rate_windows.ts';
import { requestLanguage } from '../http/language.ts';

/** Where the reset pages live. */
export const PASSWORD_RESET_PATH = '/password-reset';
const NEW_PASSWORD_PATH = `${PASSWORD_RESET_PATH}/new`;

/** Reset links mailed per address and hour (the same for unknown addresses). */
export const PER_ADDRESS = 5;
/** Reset requests per IP address and hour. */
export const PER_IP = 30;
const HOUR_MS = 3_600_000;

/** The asking browser's nonce: HttpOnly, scoped to these pages. */
const BROWSER_COOKIE = 'stepup.reset';
const NONCE = /^[A-Za-z0-9_-]{43}$/;
const UID = /^[A-Za-z0-9_-]{1,64}$/;
const EMAIL_MAX = 320;

/**
 * A form of these pages that the browser's nonce does not vouch for (no cookie, or a token of another browser): its
 * own code, so the error page says to open the reset page again (`errors.reset_form_expired.message`), not the
 * sign-in's words.
 */
const FORM_EXPIRED = 'reset_form_expired';
const FORM_EXPIRED_TEXT = 'This page has expired. Open the password reset page again.';

export interface PasswordResetDeps {
  readonly provider: Provider;
  readonly conn: Connection;
  readonly views: Views;
  readonly logger: Logger;
  readonly events: SecurityEvents;
  readonly factors: FactorRegistry;
  readonly mailer: Mailer;
  /** The provider's name as customers know it (in the mail). */
  readonly issuerName: string;
  /** The provider's public URL, without a trailing slash (the link in the mail). */
  readonly issuer: string;
  /** Where a customer who reset the password without a sign-in to return to signs in (the security console). */
  readonly signInPath: string;
  /** The shop's logo, colour and support in the mail. */
  readonly look?: MailLook | undefined;
  /** Clock (tests move it). */
  readonly now?: () => Date;
}

interface Kit extends PasswordResetDeps {
  readonly tokens: FormTokens;
  readonly perAddress: RateWindow;
  readonly perIp: RateWindow;
  readonly hashKey: Buffer;
  readonly clock: () => Date;
}

/** How long a mailed link works, in whole minutes (the pages and the mail say it). */
const LINK_MINUTES = RESET_LINK_LIFETIME_MS / 60_000;

/** The refusal of a link: its heading and what to do (`password_reset.refused.<refusal>.*`). */
const REFUSALS: Readonly<Record<ResetLinkRefusal, { title: Message; message: Message }>> = {
  invalid: { title: msg('password_reset.refused.invalid.title'), message: msg('password_reset.refused.invalid.message') },
  expired: { title: msg('password_reset.refused.expired.title'), message: msg('password_reset.refused.expired.message', { minutes: LINK_MINUTES }) },
  used: { title: msg('password_reset.refused.used.title'), message: msg('password_reset.refused.used.message') },
};

/** A new password's refusal (`src/accounts/password_rules.ts`) as the reset page words it. */
function passwordProblem(problem: PasswordMessageId): Message {
  return msg(`password_reset.problem.${problem}`, { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH });
}

/** The reset pages' routes, below {@link PASSWORD_RESET_PATH}. */
export function passwordResetPages(deps: PasswordResetDeps): Middleware {
  const keys = deps.provider.keys as readonly (string | Buffer)[];
  const firstKey = keys[0];
  if (!firstKey) throw new Error('the provider has no cookie keys (cookies.keys)');
  const kit: Kit = {
    ...deps,
    tokens: createFormTokens(keys, { purpose: 'oidc-stepup password reset csrf v1', code: FORM_EXPIRED, refusal: FORM_EXPIRED_TEXT }),
    perAddress: createRateWindow(deps.conn, { name: 'password_reset_address', limit: PER_ADDRESS, windowMs: HOUR_MS }),
    perIp: createRateWindow(deps.conn, { name: 'password_reset_ip', limit: PER_IP, windowMs: HOUR_MS }),
    hashKey: createHmac('sha256', firstKey).update('oidc-stepup/password-reset/v1').digest(),
    clock: deps.now ?? (() => new Date()),
  };
  const router = new Router({ prefix: PASSWORD_RESET_PATH });
  const parseForm = formParser();
  router.get('/', (ctx) => showRequestForm(ctx, kit));
  router.post('/', requireForm(), parseForm, (ctx) => requestLink(ctx, kit));
  router.get('/new', (ctx) => showNewPasswordForm(ctx, kit));
  router.post('/new', requireForm(), parseForm, (ctx) => resetPassword(ctx, kit));
  return router.routes() as Middleware;
}

/** The asking browser's nonce, set when missing. */
function browserNonce(ctx: Context): string {
  const current = ctx.cookies.get(BROWSER_COOKIE);
  if (current && NONCE.test(current)) return current;
  const nonce = randomBytes(32).toString('base64url');
  ctx.cookies.set(BROWSER_COOKIE, nonce, { httpOnly: true, sameSite: 'lax', path: PASSWORD_RESET_PATH, secure: ctx.secure, signed: false, overwrite: true });
  return nonce;
}

/** The form's CSRF token, checked against the nonce the POST's own cookie carries. */
function verifyForm(ctx: Context, kit: Kit): string {
  const nonce = ctx.cookies.get(BROWSER_COOKIE);
  if (!nonce || !NONCE.test(nonce)) throw new AppError(FORM_EXPIRED, FORM_EXPIRED_TEXT, { status: 403 });
  kit.tokens.verify(nonce, formBody(ctx).csrf);
  return nonce;
}

function field(ctx: Context, name: string, max: number): string {
  const value = formBody(ctx)[name];
  return typeof value === 'string' ? value.slice(0, max) : '';
}

function interactionOf(value: unknown): string | undefined {
  return typeof value === 'string' && UID.test(value) ? value : undefined;
}

/**
 * The network a request comes from, for the per-IP limit: an IPv4 address, or an IPv6 address's /64 (one customer's
 * line gets a whole /64, so counting single IPv6 addresses would let one client take fresh addresses at will).
 */
export function networkOf(ip: string): string {
  const address = ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [...left, ...Array.from({ length: Math.max(0, 8 - left.length - right.length) }, () => '0'), ...right];
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

function originOf(ctx: Context): Origin {
  return { ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, language: requestLanguage(ctx) };
}

/** A wait in whole minutes, at least one. */
function waitMinutes(ms: number): number {
  return Math.max(1, Math.ceil(ms / 60_000));
}

function renderRequestForm(ctx: Context, kit: Kit, form: { email?: string; interaction?: string | undefined; error?: Message }, status = 200): void {
  renderPage(ctx, kit.views, 'password_reset/request', {
    title: 'password_reset.request.title',
    csrf: kit.tokens.tokenFor(browserNonce(ctx)),
    action: PASSWORD_RESET_PATH,
    email: form.email ?? '',
    interaction: form.interaction,
    error: form.error,
  }, status);
}

function showRequestForm(ctx: Context, kit: Kit): void {
  renderRequestForm(ctx, kit, { interaction: interactionOf(ctx.query.interaction) });
}

/** POST /password-reset: the same page for every address, answered before the account is looked up. */
async function requestLink(ctx: Context, kit: Kit): Promise<void> {
  const nonce = verifyForm(ctx, kit);
  const interaction = interactionOf(formBody(ctx).interaction);
  const typed = field(ctx, 'email', EMAIL_MAX).trim();
  let email: string;
  try {
    email = normaliseEmail(typed);
  } catch {
    return renderRequestForm(ctx, kit, { email: typed, interaction, error: msg('password_reset.error.email_invalid') }, 400);
  }
  const now = kit.clock();
  const byIp = await kit.perIp.take(createHmac('sha256', kit.hashKey).update(`ip:${networkOf(ctx.ip)}`).digest('base64url'), now);
  if (!byIp.ok) {
    ctx.set('Retry-After', String(Math.ceil(byIp.retryAfterMs / 1000)));
    const error = msg('password_reset.error.too_many_requests', { minutes: waitMinutes(byIp.retryAfterMs) });
    return renderRequestForm(ctx, kit, { email: typed, interaction, error }, 429);
  }
  const byAddress = await kit.perAddress.take(createHmac('sha256', kit.hashKey).update(`email:${email}`).digest('base64url'), now);
  if (byAddress.ok) {
    void mailLink(kit, { email, nonce, interaction, origin: originOf(ctx), now })
      .catch((err: unknown) => kit.logger.error({ err }, 'a password reset link could not be sent'));
  } else {
    kit.logger.info({ event: 'password_reset.limited' }, 'password reset link not sent: the address asked too often');
  }
  renderPage(ctx, kit.views, 'password_reset/sent', {
    title: 'password_reset.sent.title',
    email,
    minutes: LINK_MINUTES,
    backUrl: interaction ? `/interaction/${interaction}` : undefined,
  });
}

/** After the response: the link for an active account, stored and mailed; nothing for any other address. */
async function mailLink(
  kit: Kit, request: { email: string; nonce: string; interaction: string | undefined; origin: Origin; now: Date },
): Promise<void> {
  const account = await findAccountByEmail(kit.conn, request.email);
  if (!account || account.status !== 'active') {
    kit.logger.info({ event: 'password_reset.unknown' }, 'password reset asked for an address without an active account');
    return;
  }
  const token = await createResetLink(kit.conn, {
    accountId: account.id, epoch: account.credentialsEpoch, browserNonce: request.nonce, interaction: request.interaction, now: request.now,
  });
  const url = `${kit.issuer}${NEW_PASSWORD_PATH}?token=${token}`;
  // In the account's language, else the language of the page that asked for the link.
  const words = mailWords(kit.views.languages, account, request.origin.language);
  const mail = renderPasswordResetLink({
    issuerName: kit.issuerName, name: account.name, url, validMinutes: LINK_MINUTES, look: kit.look,
    at: request.now, ip: request.origin.ip, userAgent: request.origin.userAgent,
  }, words);
  const sent = await kit.mailer.send({ to: account.email, ...mail });
  await kit.events.record(request.origin, { kind: 'password_reset_requested', account, details: { mailed: sent.ok } });
  kit.logger.info({ event: 'password_reset.requested', accountId: account.id, mailed: sent.ok }, 'password reset link sent');
}

/** The link's account, if the link still opens it: active, and no change of credentials since the link was sent. */
async function linkAccount(kit: Kit, link: ResetLink): Promise<Account | undefined> {
  const account = await findAccountById(kit.conn, link.accountId);
  return account && account.status === 'active' && account.credentialsEpoch === link.epoch ? account : undefined;
}

function renderRefused(ctx: Context, kit: Kit, refusal: ResetLinkRefusal): void {
  const { title, message } = REFUSALS[refusal];
  renderPage(ctx, kit.views, 'password_reset/refused', { title, message, refusal, restart: PASSWORD_RESET_PATH }, 410);
}

function renderNewPasswordForm(ctx: Context, kit: Kit, token: string, account: Account, error?: PasswordMessageId): void {
  renderPage(ctx, kit.views, 'password_reset/new', {
    title: 'password_reset.new.title',
    csrf: kit.tokens.tokenFor(browserNonce(ctx)),
    action: NEW_PASSWORD_PATH,
    token,
    email: maskEmail(account.email),
    minLength: PASSWORD_MIN_LENGTH,
    maxLength: PASSWORD_MAX_LENGTH,
    error: error ? passwordProblem(error) : undefined,
    errorId: error,
  }, error ? 400 : 200);
}

async function showNewPasswordForm(ctx: Context, kit: Kit): Promise<void> {
  const token = ctx.query.token;
  const link = await findResetLink(kit.conn, token, kit.clock());
  if (typeof link === 'string') return renderRefused(ctx, kit, link);
  const account = await linkAccount(kit, link);
  if (!account) return renderRefused(ctx, kit, 'invalid');
  renderNewPasswordForm(ctx, kit, token as string, account);
}

/** POST /password-reset/new: the new password, then the link used, then every sign-in of the account ended. */
async function resetPassword(ctx: Context, kit: Kit): Promise<void> {
  const nonce = verifyForm(ctx, kit);
  const token = field(ctx, 'token', 64);
  const now = kit.clock();
  const found = await findResetLink(kit.conn, token, now);
  if (typeof found === 'string') return renderRefused(ctx, kit, found);
  const account = await linkAccount(kit, found);
  if (!account) return renderRefused(ctx, kit, 'invalid');
  const password = field(ctx, 'password', PASSWORD_MAX_LENGTH * 4 + 1);
  const problem = newPasswordProblem(password, field(ctx, 'confirm', PASSWORD_MAX_LENGTH * 4 + 1), account.email);
  if (problem) return renderNewPasswordForm(ctx, kit, token, account, problem);
  // Used first: of two submissions in flight only one gets here; the other answers "already used".
  const link = await useResetLink(kit.conn, token, now);
  if (typeof link === 'string') return renderRefused(ctx, kit, link);
  // Due only for a factor beyond the mailbox (the app, recovery codes): a mailed code proves what the link proved.
  const secondFactorDue = (await kit.factors.usableFactors(account.id, LEVEL.mfa)).some((factor) => !reachesMailbox(factor));
  let epoch: number;
  try {
    epoch = await setPassword(kit.conn, account.id, password, { expectedEpoch: link.epoch, secondFactorDue });
  } catch (err) {
    if (err instanceof AppError && err.code === 'credentials_changed') return renderRefused(ctx, kit, 'invalid');
    throw err;
  }
  const otherBrowser = digest(nonce) !== link.browser;
  const ended = await endEverything(kit, account, epoch, now);
  kit.logger.info({ event: 'password_reset.done', accountId: account.id, otherBrowser, ...ended }, 'password reset by emailed link');
  await kit.events.record(originOf(ctx), { kind: 'password_reset', account, details: { otherBrowser }, auditDetails: ended });
  renderPage(ctx, kit.views, 'password_reset/done', {
    title: 'password_reset.done.title',
    secondFactorDue,
    // The sign-in the reset started from, in the browser that started it (elsewhere it has no interaction cookie).
    continueUrl: link.interaction && !otherBrowser ? `/interaction/${link.interaction}` : kit.signInPath,
    returnsToShop: link.interaction !== null && !otherBrowser,
  });
}

/** What must not outlive the old password; best effort after the (already written) change, each step logged. */
async function endEverything(kit: Kit, account: Account, epoch: number, now: Date): Promise<Record<string, unknown>> {
  const ended: Record<string, unknown> = {};
  try {
    Object.assign(ended, await endSignIns(kit.conn, account.id, { epoch }));
  } catch (err) {
    ended.providerSessionsEnded = 'failed';
    kit.logger.error({ err, accountId: account.id }, 'sign-ins could not be ended after a password reset');
  }
  try {
    await dropResetLinks(kit.conn, account.id, now);
    await resetLoginThrottle(kit.conn, kit.provider, account.email);
  } catch (err) {
    kit.logger.error({ err, accountId: account.id }, 'other reset links or the login throttle could not be cleared after a password reset');
  }
  return ended;
}
