/**
 * The customer's security settings console at `/account` (docs/ARCHITECTURE.md "The security console and the company
 * admin pages").
 *
 * Sign-in goes through the provider itself: the console is the first-party client `account-console` (code + PKCE,
 * state, nonce); its session lives in MongoDB behind a signed cookie (`session.ts`). Every change — add or remove a
 * method, choose the primary one, new recovery codes, "ask for a code at every sign-in", the password — needs a recent
 * re-authentication (`freshness.ts`): otherwise the change is parked in the session and the browser goes through a
 * pushed authorization request (RFC 9126) with `max_age=0` at the level of the account's strongest factor, then lands
 * back on the page to submit it. Pages are plain server-rendered forms with CSRF tokens and `Cache-Control: no-store`.
 *
 * Routes (all below `/account`): `GET /` overview · `GET /callback` · `POST /logout` ·
 * `GET|POST /methods/:factorId/add` · `POST /methods/:factorId/confirm` · `POST /methods/:factorId/renew` ·
 * `GET|POST /methods/:factorId/remove` · `POST /primary` · `POST /sign-in-mfa` · `GET|POST /recovery-codes` ·
 * `GET|POST /password` (`password.ts`);
 * the company admin pages below `/company` (`company.ts`).
 */
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import compose from 'koa-compose';
import type { Connection } from 'mongoose';
import type Provider from 'oidc-provider';
import { findAccountById, setSignInMfa, signInMfaEnabled, type Account } from '../accounts/accounts.ts';
import { findCompanyById } from '../accounts/companies.ts';
import { listEvents, recordEvent, type AuditEventName } from '../audit/audit_log.ts';
import type { Factor, FactorAccount, FactorEnrolment, FactorFailure } from '../factors/contract.ts';
import { createMethodChoice, type MethodChoice } from '../factors/method_choice.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { createFactorSetGuard } from '../factors/shared/factor_set_guard.ts';
import { sessionProofs } from '../authentication/request_state.ts';
import { deriveProven, isCurrent, type AuthenticationState } from '../authentication/state.ts';
import { toPublicError } from '../http/error_boundary.ts';
import { failureMessage } from '../interactions/factor_messages.ts';
import { notifySecurityEvent, type NotifyDeps } from '../mail/notify.ts';
import type { NotificationFacts, NotificationKind } from '../mail/templates.ts';
import { LEVEL, levelOf } from '../policy/acr.ts';
import type { AppError } from '../shared/errors.ts';
import type { Views } from '../http/views.ts';
import type { Logger } from '../shared/logger.ts';
import { renderFactorPart } from '../http/pages.ts';
import { ACCOUNT_CONSOLE_CLIENT_ID, ACCOUNT_PATH, accountConsoleUris } from './client.ts';
import { companyAdminRoutes } from './company.ts';
import { createConsoleCsrf, type ConsoleCsrf } from './csrf.ts';
import { describeEvents } from './events.ts';
import { REAUTH_WINDOW_MS, isFresh } from './freshness.ts';
import { newLogin, pushAuthorizationRequest, redeemCode } from './oidc.ts';
import { passwordRoutes } from './password.ts';
import {
  createSession, deleteSession, findSession, setLogin, setPendingAction, takeLogin, touchSession,
  type ConsoleSession, type PendingLogin, type SignedIn,
} from './session.ts';
import { consoleError, field, formBody, requireForm, type ConsoleKit, type Signed } from './kit.ts';

export interface AccountConsoleDeps {
  readonly provider: Provider;
  readonly conn: Connection;
  /** The provider's issuer (the console's redirect URIs hang below it). */
  readonly issuer: string;
  readonly factors: FactorRegistry;
  /** Audit + mail of security events; without it the console still writes the audit records. */
  readonly notify?: NotifyDeps | undefined;
  readonly logger: Logger;
  /** The token endpoint the console redeems codes at; default `<issuer>/token`. */
  readonly tokenEndpoint?: string | undefined;
  /** The app's pug views (the console renders `console/*`). */
  readonly views: Views;
}

/** Largest accepted console form body; a bigger one is answered 413. */
export const ACCOUNT_FORM_LIMIT_BYTES = 16 * 1024;

const COOKIE = 'account_session';
const FACTOR_ID = /^[a-z][a-z0-9_]{0,31}$/;
const RECENT_EVENTS = 10;

/** Stable ids of the confirmations shown on the overview after a change (`?done=`). */
export const ACCOUNT_NOTICES = {
  factor_added: 'The sign-in method was added.',
  factor_removed: 'The sign-in method was removed.',
  factor_removed_invoice: 'The sign-in method was removed. Paying by invoice will ask you to set up two-factor authentication again.',
  primary_changed: 'Your primary method was saved.',
  sign_in_mfa_enabled: 'From now on every sign-in asks for a code.',
  sign_in_mfa_disabled: 'Sign-in no longer asks for a code (shops may still ask for one, e.g. to pay by invoice).',
  already_enrolled: 'This method is already set up.',
  reauth_cancelled: 'The confirmation was cancelled; nothing was changed.',
  password_changed: 'Your password was changed. Your other devices were signed out and need the new password.',
} as const;
type NoticeId = keyof typeof ACCOUNT_NOTICES;

function unknownFactor(): AppError {
  return consoleError('unknown_factor', 'This sign-in method does not exist. Go back to your security settings and choose one from the list.', 400);
}

function sessionExpired(): AppError {
  return consoleError('session_expired', 'Your security settings session has ended. Open the page again and sign in.', 401);
}

function factorAccount(account: Account): FactorAccount {
  return { id: account.id, email: account.email, name: account.name };
}

/** The console: a Koa middleware answering below `/account` (its own error pages, no caching), passing on the rest. */
export function accountConsole(deps: AccountConsoleDeps): Middleware {
  const { views } = deps;
  const router = accountConsoleRouter(deps);
  const pages = compose<Context>([
    consoleErrors(views, deps.logger),
    router.routes() as unknown as Middleware,
    router.allowedMethods() as unknown as Middleware,
  ]);
  return async function accountConsolePages(ctx, next) {
    if (ctx.path === ACCOUNT_PATH || ctx.path.startsWith(`${ACCOUNT_PATH}/`)) return pages(ctx, next);
    return next();
  };
}

/** Expected failures (4xx) as a console page with a way back; anything else goes on to the app's error boundary. */
function consoleErrors(views: Views, logger: Logger): Middleware {
  return async function accountConsoleErrors(ctx, next) {
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (err) {
      const failure = toPublicError(err);
      if (failure.status >= 500) throw err;
      logger.info({ code: failure.code, status: failure.status, method: ctx.method, path: ctx.path }, 'console request refused');
      ctx.status = failure.status;
      ctx.remove('Location');
      ctx.set('Cache-Control', 'no-store');
      ctx.type = 'html';
      ctx.body = views.render('console/error', {
        title: failure.heading,
        cspNonce: String(ctx.state.cspNonce ?? ''),
        heading: failure.heading,
        message: failure.message,
        code: failure.code,
      });
    }
  };
}

export function accountConsoleRouter(deps: AccountConsoleDeps): Router {
  const { conn, provider, factors, logger } = deps;
  const issuer = deps.issuer.replace(/\/+$/, '');
  const { views } = deps;
  const cookieKeys = provider.keys as readonly (string | Buffer)[];
  const csrf: ConsoleCsrf = createConsoleCsrf(cookieKeys);
  const methodChoice: MethodChoice = createMethodChoice({ conn, registry: factors });
  const parseForm = bodyParser({ enableTypes: ['form'], formLimit: `${ACCOUNT_FORM_LIMIT_BYTES}b` }) as unknown as Middleware;
  const router = new Router({ prefix: ACCOUNT_PATH });

  // ── session plumbing ─────────────────────────────────────────────────────────────────────────────────────────────

  function writeCookie(ctx: Context, token: string | null): void {
    ctx.cookies.set(COOKIE, token, { signed: true, httpOnly: true, sameSite: 'lax', path: ACCOUNT_PATH, secure: ctx.secure, overwrite: true });
  }

  async function currentSession(ctx: Context): Promise<ConsoleSession | null> {
    return findSession(conn, ctx.cookies.get(COOKIE, { signed: true }));
  }

  async function loadSigned(ctx: Context): Promise<Signed | undefined> {
    const session = await currentSession(ctx);
    if (!session?.signedIn) return undefined;
    const account = await findAccountById(conn, session.signedIn.accountId);
    // Signed in before a password change, a factor reset or a disable: signed out.
    if (!account || account.status !== 'active' || session.signedIn.epoch !== account.credentialsEpoch) return undefined;
    await touchSession(conn, session);
    return { session, signedIn: session.signedIn, account };
  }

  function render(ctx: Context, view: string, locals: Record<string, unknown> & { title: string }, status = 200): void {
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = views.render(`console/${view}`, { cspNonce: String(ctx.state.cspNonce ?? ''), ...locals });
  }

  function seeOther(ctx: Context, location: string): void {
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(location);
    ctx.status = 303;
  }

  /**
   * Pushes the authorization request of a sign-in or a re-authentication (at `level`) to the provider, remembers it in
   * the console session and sends the browser to `/auth` with the request's reference.
   */
  async function startLogin(
    ctx: Context, session: ConsoleSession | null, purpose: PendingLogin['purpose'], returnTo: string,
    options: { loginHint?: string; level?: number } = {},
  ): Promise<void> {
    const login = newLogin(purpose, returnTo, options.level);
    const location = await pushAuthorizationRequest({ issuer, provider, tokenEndpoint: deps.tokenEndpoint }, login, { loginHint: options.loginHint });
    if (session) {
      await setLogin(conn, session.id, login);
    } else {
      const created = await createSession(conn, { login });
      writeCookie(ctx, created.token);
    }
    seeOther(ctx, location);
  }

  /** The signed-in console session of a GET page, or a redirect to the sign-in (then `undefined`). */
  async function requireSignIn(ctx: Context, returnTo: string): Promise<Signed | undefined> {
    const signed = await loadSigned(ctx);
    if (signed) return signed;
    const session = await currentSession(ctx);
    await startLogin(ctx, session && !session.signedIn ? session : null, 'sign_in', returnTo);
    return undefined;
  }

  /** The signed-in session of a POST with a valid CSRF token; an ended session is a 401 page. */
  async function postContext(ctx: Context): Promise<Signed> {
    const signed = await loadSigned(ctx);
    if (!signed) throw sessionExpired();
    csrf.verify(signed.session.id, formBody(ctx).csrf);
    return signed;
  }

  /**
   * The level a change needs: the account's strongest usable second factor (an account with an authenticator app
   * proves the app, not an email code), or the password alone without one.
   */
  async function changeLevel(accountId: string): Promise<number> {
    const usable = await factors.usableFactors(accountId, LEVEL.mfa);
    return Math.max(LEVEL.pwd, ...usable.filter((factor) => factors.primary.includes(factor)).map((factor) => factor.level));
  }

  /** Whether `signed` re-authenticated recently enough, at the level its changes need. */
  async function isFreshNow(signed: Signed): Promise<boolean> {
    return isFresh(signed.signedIn, await changeLevel(signed.account.id), Date.now());
  }

  /**
   * Whether the change may happen now. If not, the change is parked (`returnTo` shows it again with `fields`) and the
   * browser goes to re-authenticate: the password again, and the strongest second factor when the account holds one.
   */
  async function ensureFresh(ctx: Context, signed: Signed, returnTo: string, fields: Record<string, string> = {}): Promise<boolean> {
    const level = await changeLevel(signed.account.id);
    if (isFresh(signed.signedIn, level, Date.now())) return true;
    await setPendingAction(conn, signed.session.id, { returnTo, fields, savedAt: new Date(Date.now()) });
    logger.info({ event: 'account.reauth_required', accountId: signed.account.id, level }, 're-authentication required');
    await startLogin(ctx, signed.session, 'reauth', returnTo, { loginHint: signed.account.email, level });
    return false;
  }

  /** The parked change for `path`, when it is recent (shown as "confirmed — submit again"). */
  function pendingFor(signed: Signed, path: string): Record<string, string> | undefined {
    const action = signed.session.pendingAction;
    if (!action || action.returnTo !== path || Date.now() - action.savedAt.getTime() > REAUTH_WINDOW_MS * 2) return undefined;
    return { ...action.fields };
  }

  async function clearPending(signed: Signed): Promise<void> {
    if (signed.session.pendingAction) await setPendingAction(conn, signed.session.id, null);
  }

  function auditContext(ctx: Context): { ip: string; userAgent: string | undefined; clientId: string } {
    return { ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, clientId: ACCOUNT_CONSOLE_CLIENT_ID };
  }

  /** A notification (audit + mail) of a change; the audit record alone when there is no mailer. */
  async function notify<K extends NotificationKind & ('factor_added' | 'factor_removed' | 'recovery_codes_regenerated')>(
    ctx: Context, account: Account, kind: K, details: NotificationFacts[K], auditDetails: Record<string, unknown>,
  ): Promise<void> {
    if (deps.notify) {
      await notifySecurityEvent(deps.notify, {
        account: { id: account.id, email: account.email, name: account.name },
        kind,
        details,
        auditDetails,
        ...auditContext(ctx),
      } as Parameters<typeof notifySecurityEvent<K>>[1]);
      return;
    }
    await audit(ctx, account, kind, { ...auditDetails, ...details });
  }

  async function audit(ctx: Context, account: Account, event: AuditEventName, details: Record<string, unknown>): Promise<void> {
    try {
      await recordEvent(conn, { accountId: account.id, actor: { type: 'user', id: account.id }, event, details, ...auditContext(ctx) });
    } catch (err) {
      logger.error({ err, accountId: account.id, event }, 'audit record of a console change could not be written');
    }
  }

  // ── factor look-ups ──────────────────────────────────────────────────────────────────────────────────────────────

  function factorParam(ctx: Context): Factor {
    const id = (ctx.params as { factorId?: string }).factorId ?? '';
    const factor = FACTOR_ID.test(id) ? factors.get(id) : undefined;
    if (!factor) throw unknownFactor();
    return factor;
  }

  /** A primary method the customer can set up here (enrolment with a confirmation step). */
  function addableFactor(ctx: Context): Factor {
    const factor = factorParam(ctx);
    if (!factors.primary.includes(factor) || !factor.enrol?.confirm) throw unknownFactor();
    return factor;
  }

  function backupFactor(): Factor | undefined {
    return factors.backup.find((factor) => factor.enrol);
  }

  /** What a backup's enrolment issued (the recovery codes), in its own template. */
  function issuedPart(signed: Signed, backup: Factor, issued: Readonly<Record<string, unknown>>): string | undefined {
    return renderFactorPart(views, backup, 'enrol', { stage: 'pending', csrf: csrf.tokenFor(signed.session.id), actions: {}, enrolment: issued });
  }

  async function enrolledPrimaries(accountId: string): Promise<Factor[]> {
    const primaries = factors.primary;
    const flags = await Promise.all(primaries.map((factor) => factor.isEnrolled(accountId)));
    return primaries.filter((_, index) => flags[index]);
  }

  async function companyForces(account: Account): Promise<boolean> {
    if (!account.companyId) return false;
    return (await findCompanyById(conn, account.companyId))?.mfaPolicy === 'forced';
  }

  // ── overview ─────────────────────────────────────────────────────────────────────────────────────────────────────

  router.get('/', async function showOverview(ctx) {
    const signed = await requireSignIn(ctx, ACCOUNT_PATH);
    if (!signed) return;
    const { account, session } = signed;
    const [primaries, current, askEverySignIn, forced, events] = await Promise.all([
      enrolledPrimaries(account.id),
      methodChoice.primaryFactor(account.id, LEVEL.mfa),
      signInMfaEnabled(conn, account.id),
      companyForces(account),
      listEvents(conn, account.id, { limit: RECENT_EVENTS }),
    ]);
    const methods = await Promise.all(factors.primary.map(async (factor) => {
      const enrolled = primaries.includes(factor);
      const since = enrolled && factor.enrolledAt ? await factor.enrolledAt(account.id) : undefined;
      return {
        id: factor.id,
        label: factor.label,
        enrolled,
        since: since ? since.toISOString().slice(0, 10) : undefined,
        sinceIso: since?.toISOString(),
        canAdd: !enrolled && factor.enrol?.confirm !== undefined,
      };
    }));
    const backup = backupFactor();
    const remaining = await backup?.remaining?.(account.id);
    const pending = pendingFor(signed, ACCOUNT_PATH);
    const done = typeof ctx.query.done === 'string' && ctx.query.done in ACCOUNT_NOTICES ? ctx.query.done as NoticeId : undefined;
    render(ctx, 'overview', {
      title: 'Security settings',
      csrf: csrf.tokenFor(session.id),
      account: { name: account.name, email: account.email },
      companyAdmin: account.companyRole === 'admin' && account.companyId !== null,
      notice: done ? ACCOUNT_NOTICES[done] : undefined,
      noticeId: done,
      pending: pending !== undefined,
      methods,
      primaryChoice: primaries.length > 1
        ? primaries.map((factor) => ({ id: factor.id, label: factor.label, checked: (pending?.factor ?? current?.id) === factor.id }))
        : undefined,
      hasPrimary: primaries.length > 0,
      signInMfa: { enabled: askEverySignIn || forced, forced, offered: primaries.length > 0 || forced },
      recovery: backup && primaries.length > 0 ? { label: backup.label, remaining: remaining ?? 0 } : undefined,
      events: describeEvents(events),
    });
  });

  // ── sign-in callback and sign-out ────────────────────────────────────────────────────────────────────────────────

  /** The authentication state of this browser's provider session, when it is a current proof of `account`. */
  async function browserProofs(ctx: Context, account: Account): Promise<AuthenticationState | undefined> {
    const sessionId = ctx.cookies.get(provider.cookieName('session'), { signed: true });
    const session = sessionId ? await provider.Session.find(sessionId) : undefined;
    if (!session?.uid || session.accountId !== account.id) return undefined;
    const proofs = await sessionProofs({ conn, factors }, ctx.req, session.uid);
    return isCurrent(proofs, account) ? proofs : undefined;
  }

  router.get('/callback', async function finishSignIn(ctx) {
    const session = await currentSession(ctx);
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    const login = session ? await takeLogin(conn, session.id, state) : null;
    if (!session || !login) {
      // A replayed or forged callback, or one whose console session ended: nothing to finish.
      throw consoleError('sign_in_expired', 'This sign-in has expired or was already completed. Open your security settings again.', 400);
    }
    if (typeof ctx.query.iss === 'string' && ctx.query.iss !== issuer) {
      throw consoleError('sign_in_failed', 'The sign-in answer did not come from this provider. Open your security settings again.', 400);
    }
    if (typeof ctx.query.error === 'string') {
      if (session.signedIn && login.purpose === 'reauth') {
        await setPendingAction(conn, session.id, null);
        seeOther(ctx, `${ACCOUNT_PATH}?done=reauth_cancelled`);
        return;
      }
      const cancelled = ctx.query.error === 'access_denied';
      render(ctx, 'signed_out', {
        title: cancelled ? 'Sign-in cancelled' : 'Sign-in failed',
        heading: cancelled ? 'Sign-in cancelled' : 'The sign-in could not be completed',
        message: cancelled ? 'You cancelled the sign-in to your security settings.' : 'The sign-in to your security settings could not be completed.',
        code: ctx.query.error.slice(0, 64),
      }, cancelled ? 200 : 400);
      return;
    }
    const code = typeof ctx.query.code === 'string' && ctx.query.code.length <= 512 ? ctx.query.code : '';
    if (!code) throw consoleError('sign_in_failed', 'The sign-in answer was incomplete. Open your security settings again.', 400);
    const token = await redeemCode({ issuer, provider, tokenEndpoint: deps.tokenEndpoint }, code, login);
    const account = await findAccountById(conn, token.sub);
    if (!account || account.status !== 'active') throw consoleError('account_unavailable', 'This account cannot use the security settings.', 403);
    // The console session takes the epoch this browser's proofs were made under, checked against the account read
    // after the token: a reset or password change that landed during this callback leaves nothing signed in.
    const proofs = await browserProofs(ctx, account);
    if (!proofs) throw consoleError('sign_in_failed', 'The sign-in could not be completed. Open your security settings again.', 400);
    const previous = session.signedIn?.accountId === token.sub && session.signedIn.epoch === proofs.epoch ? session.signedIn : null;
    // A re-authentication counts when it completed after it was requested (auth_time is in whole seconds) at the level
    // asked for — the provider asked for every method of that level again (max_age=0, pushed: not editable) — and
    // when this browser's session proves it: its password and factor proofs made after the request reach that level.
    const reauthenticated = login.purpose === 'reauth'
      && token.authTime.getTime() >= Math.floor(login.createdAt.getTime() / 1000) * 1000
      && (levelOf(token.acr) ?? LEVEL.none) >= (login.level ?? LEVEL.pwd)
      && deriveProven(proofs, account, (id) => factors.get(id), { since: new Date(login.createdAt.getTime() - 1) }).level >= (login.level ?? LEVEL.pwd);
    const signedIn: SignedIn = {
      accountId: token.sub,
      acr: token.acr,
      amr: token.amr,
      authTime: token.authTime,
      reauthAt: reauthenticated ? token.authTime : previous?.reauthAt ?? null,
      reauthLevel: reauthenticated ? levelOf(token.acr) ?? LEVEL.none : previous?.reauthLevel ?? LEVEL.none,
      epoch: proofs.epoch,
      idToken: token.raw,
    };
    // A new session id at every sign-in (no fixation); a parked change survives only for the same account.
    await deleteSession(conn, session.id);
    const created = await createSession(conn, { signedIn, pendingAction: previous ? session.pendingAction : null });
    writeCookie(ctx, created.token);
    logger.info({ event: 'account.signed_in', accountId: account.id, purpose: login.purpose, acr: token.acr }, 'console sign-in');
    const back = login.returnTo.startsWith(`${ACCOUNT_PATH}`) && (previous || login.purpose === 'sign_in') ? login.returnTo : ACCOUNT_PATH;
    seeOther(ctx, back);
  });

  router.post('/logout', requireForm(), parseForm, async function signOut(ctx) {
    const signed = await postContext(ctx);
    await deleteSession(conn, signed.session.id);
    writeCookie(ctx, null);
    const params = new URLSearchParams({
      client_id: ACCOUNT_CONSOLE_CLIENT_ID,
      post_logout_redirect_uri: accountConsoleUris(issuer).postLogoutRedirectUri,
      id_token_hint: signed.signedIn.idToken,
    });
    seeOther(ctx, `/session/end?${params.toString()}`);
  });

  // ── add a method ─────────────────────────────────────────────────────────────────────────────────────────────────

  const addPath = (factor: Factor): string => `${ACCOUNT_PATH}/methods/${factor.id}/add`;

  async function renderAddStart(
    ctx: Context, signed: Signed, factor: Factor, message?: { id: string; text: string }, status = 200,
  ): Promise<void> {
    const token = csrf.tokenFor(signed.session.id);
    const destination = factor.destination?.(factorAccount(signed.account));
    render(ctx, 'add', {
      title: `Add ${factor.label.toLowerCase()}`,
      csrf: token,
      action: addPath(factor),
      // What will happen (scan a QR code, a code sent to the address); the page's own form continues.
      factorHtml: renderFactorPart(views, factor, 'enrol', { stage: 'before', csrf: token, actions: {}, ...(destination ? { destination } : {}) }),
      fresh: await isFreshNow(signed),
      pending: pendingFor(signed, addPath(factor)) !== undefined,
      error: message?.text,
      errorId: message?.id,
    }, status);
  }

  async function beginEnrol(
    ctx: Context, signed: Signed, factor: Factor,
    options: { renew?: boolean; message?: { id: string; text: string }; status?: number },
  ): Promise<void> {
    if (!factor.enrol) throw unknownFactor();
    const begun = await factor.enrol.begin(factorAccount(signed.account), { ...(options.renew ? { renew: true } : {}), binding: signed.session.id });
    if (!begun.ok) {
      if (begun.code === 'already_enrolled') return seeOther(ctx, `${ACCOUNT_PATH}?done=already_enrolled`);
      const message = failureMessage(begun);
      return renderAddStart(ctx, signed, factor, message, failureStatus(begun));
    }
    const token = csrf.tokenFor(signed.session.id);
    const destination = factor.destination?.(factorAccount(signed.account));
    const sentTo = typeof begun.view.sentTo === 'string' ? begun.view.sentTo : undefined;
    const base = `${ACCOUNT_PATH}/methods/${factor.id}`;
    render(ctx, 'enrol', {
      title: `Add ${factor.label.toLowerCase()}`,
      csrf: token,
      factorHtml: renderFactorPart(views, factor, 'enrol', {
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

  router.get('/methods/:factorId/add', async function showAdd(ctx) {
    const factor = addableFactor(ctx);
    const signed = await requireSignIn(ctx, addPath(factor));
    if (!signed) return;
    if (await factor.isEnrolled(signed.account.id)) return seeOther(ctx, `${ACCOUNT_PATH}?done=already_enrolled`);
    await renderAddStart(ctx, signed, factor);
  });

  router.post('/methods/:factorId/add', requireForm(), parseForm, async function startAdd(ctx) {
    const signed = await postContext(ctx);
    const factor = addableFactor(ctx);
    if (await factor.isEnrolled(signed.account.id)) return seeOther(ctx, `${ACCOUNT_PATH}?done=already_enrolled`);
    if (!await ensureFresh(ctx, signed, addPath(factor))) return;
    await clearPending(signed);
    await beginEnrol(ctx, signed, factor, {});
  });

  router.post('/methods/:factorId/renew', requireForm(), parseForm, async function renewAdd(ctx) {
    const signed = await postContext(ctx);
    const factor = addableFactor(ctx);
    if (!await ensureFresh(ctx, signed, addPath(factor))) return;
    await beginEnrol(ctx, signed, factor, { renew: true });
  });

  router.post('/methods/:factorId/confirm', requireForm(), parseForm, async function confirmAdd(ctx) {
    const signed = await postContext(ctx);
    const factor = addableFactor(ctx);
    const { account } = signed;
    if (!await ensureFresh(ctx, signed, addPath(factor))) return;
    if (!factor.enrol?.confirm) throw unknownFactor();
    const hadPrimary = await factors.hasPrimaryFactor(account.id);
    const confirmed = await factor.enrol.confirm(account.id, field(ctx, 'code') ?? '', signed.session.id);
    if (!confirmed.ok) {
      const message = failureMessage(confirmed);
      logger.info({ event: 'account.enrol_failed', accountId: account.id, factor: factor.id, code: confirmed.code }, 'console enrolment code refused');
      if (confirmed.code === 'not_enrolled' || confirmed.code === 'expired') {
        return renderAddStart(ctx, signed, factor, message, 400);
      }
      return beginEnrol(ctx, signed, factor, { message, status: failureStatus(confirmed) });
    }
    logger.info({ event: 'account.factor_added', accountId: account.id, factor: factor.id }, 'factor added in the console');
    await notify(ctx, account, 'factor_added', { method: factor.label }, { factorId: factor.id, replaced: confirmed.replaced });
    if (hadPrimary) return seeOther(ctx, `${ACCOUNT_PATH}?done=factor_added`);

    // The first method: this is "enable two-factor authentication": sign-in asks for a code from now
    // on, and the recovery codes are shown once.
    if (!await signInMfaEnabled(conn, account.id)) {
      await setSignInMfa(conn, account.id, true);
      await audit(ctx, account, 'sign_in_mfa_enabled', { reason: 'first_factor' });
    }
    const backup = backupFactor();
    const issued = backup?.enrol ? await backup.enrol.begin(factorAccount(account), { initial: true, binding: signed.session.id }) : undefined;
    render(ctx, 'recovery_codes', {
      title: 'Two-factor authentication is on',
      heading: 'Two-factor authentication is on',
      intro: `Your ${factor.label.toLowerCase()} is set up. From now on every sign-in asks for a code; you can change this in your security settings.`,
      backupHtml: backup && issued?.ok ? issuedPart(signed, backup, issued.view) : undefined,
    });
  });

  // ── remove a method ──────────────────────────────────────────────────────────────────────────────────────────────

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
    const factor = factorParam(ctx);
    if (!factors.primary.includes(factor)) throw unknownFactor();
    const primaries = await enrolledPrimaries(account.id);
    if (!primaries.includes(factor)) {
      throw consoleError('not_enrolled', 'This sign-in method is not set up for your account.', 400);
    }
    const last = primaries.length === 1;
    return { factor, removal: { last, forced: last && await companyForces(account), invoice: last && account.privileges.includes('invoice') } };
  }

  function refusedRemoval(): AppError {
    return consoleError(
      'company_requires_mfa',
      'Your company requires two-factor authentication, so your last sign-in method cannot be removed. Add another method first, or ask your company admin.',
      409,
    );
  }

  function removalInProgress(): AppError {
    return consoleError('factor_change_in_progress', 'Another change to your sign-in methods is in progress. Try again.', 409);
  }

  router.get('/methods/:factorId/remove', async function showRemove(ctx) {
    factorParam(ctx);
    const signed = await requireSignIn(ctx, ctx.path);
    if (!signed) return;
    const { factor, removal } = await removableFactor(ctx, signed.account);
    if (removal.forced) throw refusedRemoval();
    const backup = backupFactor();
    render(ctx, 'remove', {
      title: `Remove ${factor.label.toLowerCase()}`,
      csrf: csrf.tokenFor(signed.session.id),
      factor: { id: factor.id, label: factor.label },
      action: removePath(factor),
      removal,
      backupLabel: backup?.label,
      pending: pendingFor(signed, removePath(factor)) !== undefined,
    });
  });

  router.post('/methods/:factorId/remove', requireForm(), parseForm, async function removeMethod(ctx) {
    const signed = await postContext(ctx);
    const { account } = signed;
    // A removal the page would refuse anyway is refused before asking for a re-authentication.
    const { factor, removal: seen } = await removableFactor(ctx, account);
    if (seen.forced) throw refusedRemoval();
    if (!await ensureFresh(ctx, signed, removePath(factor))) return;
    const held = await factorSetGuard.withLease(account.id, async () => {
      // Decided again under the lease: a removal that was in flight beside this one has finished, and its method is
      // gone (the last method of a forced member is refused here; the same method twice is "not set up").
      const { removal } = await removableFactor(ctx, account);
      if (removal.forced) throw refusedRemoval();
      await factor.remove(account.id);
      // The clean-up follows what is left now, not what was read before (a method confirmed meanwhile keeps the codes).
      const last = (await enrolledPrimaries(account.id)).length === 0;
      const alsoRemoved: string[] = [];
      if (last) {
        // Without a primary method there is no two-factor authentication: the backup codes and the sign-in switch go too.
        for (const backup of factors.backup) {
          await backup.remove(account.id);
          alsoRemoved.push(backup.id);
        }
        await methodChoice.clear(account.id);
        if (await signInMfaEnabled(conn, account.id)) {
          await setSignInMfa(conn, account.id, false);
          await audit(ctx, account, 'sign_in_mfa_disabled', { reason: 'last_factor_removed' });
        }
      }
      return { last, alsoRemoved };
    });
    if (!held.ok) throw removalInProgress();
    const { last, alsoRemoved } = held.value;
    await clearPending(signed);
    logger.info({ event: 'account.factor_removed', accountId: account.id, factor: factor.id, last }, 'factor removed in the console');
    await notify(ctx, account, 'factor_removed', { method: factor.label }, { factorId: factor.id, alsoRemoved });
    const invoice = last && account.privileges.includes('invoice');
    seeOther(ctx, `${ACCOUNT_PATH}?done=${invoice ? 'factor_removed_invoice' : 'factor_removed'}`);
  });

  // ── primary method, sign-in switch ───────────────────────────────────────────────────────────────────────────────

  router.post('/primary', requireForm(), parseForm, async function choosePrimary(ctx) {
    const signed = await postContext(ctx);
    const id = field(ctx, 'factor') ?? '';
    const factor = FACTOR_ID.test(id) ? factors.get(id) : undefined;
    if (!factor || !factors.primary.includes(factor)) throw unknownFactor();
    if (!await factor.isEnrolled(signed.account.id)) {
      throw consoleError('not_enrolled', 'This sign-in method is not set up for your account.', 400);
    }
    if (!await ensureFresh(ctx, signed, ACCOUNT_PATH, { factor: factor.id })) return;
    const chosen = await methodChoice.choosePrimary(signed.account.id, factor.id);
    if (!chosen.ok) throw consoleError(chosen.code, 'This sign-in method cannot be your primary method.', 400);
    await clearPending(signed);
    await audit(ctx, signed.account, 'primary_factor_changed', { factorId: factor.id, method: factor.label });
    seeOther(ctx, `${ACCOUNT_PATH}?done=primary_changed`);
  });

  router.post('/sign-in-mfa', requireForm(), parseForm, async function switchSignInMfa(ctx) {
    const signed = await postContext(ctx);
    const { account } = signed;
    const value = field(ctx, 'enabled');
    if (value !== 'on' && value !== 'off') throw consoleError('invalid_form', 'Choose whether sign-in asks for a code.', 400);
    const enable = value === 'on';
    if (enable && !await factors.hasPrimaryFactor(account.id)) {
      throw consoleError('no_factor', 'Add a sign-in method (authenticator app or email code) first.', 409);
    }
    if (!enable && await companyForces(account)) {
      throw consoleError('company_requires_mfa', 'Your company requires a code at every sign-in; it cannot be turned off.', 409);
    }
    if (!await ensureFresh(ctx, signed, ACCOUNT_PATH, { enabled: value })) return;
    await clearPending(signed);
    if (await signInMfaEnabled(conn, account.id) !== enable) {
      await setSignInMfa(conn, account.id, enable);
      await audit(ctx, account, enable ? 'sign_in_mfa_enabled' : 'sign_in_mfa_disabled', {});
    }
    seeOther(ctx, `${ACCOUNT_PATH}?done=${enable ? 'sign_in_mfa_enabled' : 'sign_in_mfa_disabled'}`);
  });

  // ── recovery codes ───────────────────────────────────────────────────────────────────────────────────────────────

  const recoveryPath = `${ACCOUNT_PATH}/recovery-codes`;

  async function regenerable(account: Account): Promise<{ backup: Factor; enrol: FactorEnrolment }> {
    const backup = backupFactor();
    if (!backup?.enrol) throw consoleError('not_found', 'Recovery codes are not available.', 404);
    if (!await factors.hasPrimaryFactor(account.id)) {
      throw consoleError('no_factor', 'Recovery codes back up a sign-in method: add an authenticator app or email code first.', 409);
    }
    return { backup, enrol: backup.enrol };
  }

  router.get('/recovery-codes', async function showRegenerate(ctx) {
    const signed = await requireSignIn(ctx, recoveryPath);
    if (!signed) return;
    const { backup } = await regenerable(signed.account);
    render(ctx, 'regenerate', {
      title: 'New recovery codes',
      csrf: csrf.tokenFor(signed.session.id),
      action: recoveryPath,
      remaining: await backup.remaining?.(signed.account.id),
      pending: pendingFor(signed, recoveryPath) !== undefined,
    });
  });

  router.post('/recovery-codes', requireForm(), parseForm, async function regenerateCodes(ctx) {
    const signed = await postContext(ctx);
    const { account } = signed;
    const { backup, enrol } = await regenerable(account);
    if (!await ensureFresh(ctx, signed, recoveryPath)) return;
    // `replace`: allowed because the re-authentication just proved the second factor (ensureFresh).
    const made = await enrol.begin(factorAccount(account), { replace: true, binding: signed.session.id });
    if (!made.ok) throw consoleError('try_again', 'New recovery codes could not be made right now. Try again.', 409);
    await clearPending(signed);
    await notify(ctx, account, 'recovery_codes_regenerated', {}, { count: await backup.remaining?.(account.id) });
    render(ctx, 'recovery_codes', {
      title: 'Your new recovery codes',
      heading: 'Your new recovery codes',
      intro: 'Your earlier recovery codes no longer work.',
      backupHtml: issuedPart(signed, backup, made.view),
    });
  });

  // ── company admin, password ──────────────────────────────────────────────────────────────────────────────────────

  const kit: ConsoleKit = {
    csrf, parseForm, requireSignIn, postContext, ensureFresh, isFreshNow, changeLevel, pendingFor, clearPending, render, seeOther, auditContext,
  };
  companyAdminRoutes(router, kit, { conn, factors, notify: deps.notify, logger });
  passwordRoutes(router, kit, { conn, provider, factors, notify: deps.notify, logger });

  return router;
}

function failureStatus(failure: FactorFailure): number {
  return failure.code === 'locked' || failure.code === 'too_many_codes' || failure.code === 'resend_too_soon' || failure.lock ? 429 : 400;
}
