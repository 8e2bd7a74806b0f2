/**
 * What the console's page groups share (docs/ARCHITECTURE.md "The security console and the company admin pages"):
 * the signed-in session, CSRF-checked posts, re-authentication before changes with the parked action, rendering, the
 * audit and notification of changes, and the factor look-ups of the pages. Built once per router by
 * {@link createConsoleKit}; each page group (`overview.ts`, `sign_in.ts`, `add_method.ts`, `remove_method.ts`,
 * `sign_in_settings.ts`, `recovery_codes.ts`, `password.ts`, `company.ts`) adds its routes with it.
 */
import type { Context, Middleware } from 'koa';
import type { Connection } from 'mongoose';
import type Provider from 'oidc-provider';
import { findAccountById, type Account } from '../accounts/accounts.ts';
import { findCompanyById } from '../accounts/companies.ts';
import type { Factor, FactorAccount } from '../factors/contract.ts';
import { createMethodChoice, type MethodChoice } from '../factors/method_choice.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { formBody, formParser } from '../http/forms.ts';
import { renderFactorPart, renderPage, seeOther } from '../http/pages.ts';
import type { Views } from '../http/views.ts';
import type { Message, Translator } from '../i18n/languages.ts';
import type { NotificationKind } from '../mail/templates.ts';
import type { AuditedEvent, EventResult, NotifiedEvent, Origin, SecurityEvents } from '../security/events.ts';
import { LEVEL } from '../policy/acr.ts';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { ACCOUNT_CONSOLE_CLIENT_ID, ACCOUNT_PATH } from './client.ts';
import { createConsoleCsrf, type ConsoleCsrf } from './csrf.ts';
import { REAUTH_WINDOW_MS, isFresh } from './freshness.ts';
import { newLogin, pushAuthorizationRequest } from './oidc.ts';
import { noteLanguageHints, requestLanguage, translatorOf } from '../http/language.ts';
import {
  createSession, findSession, setLogin, setPendingAction, touchSession, type ConsoleSession, type PendingLogin, type SignedIn,
} from './session.ts';

export interface AccountConsoleDeps {
  readonly provider: Provider;
  readonly conn: Connection;
  /** The provider's issuer (the console's redirect URIs hang below it). */
  readonly issuer: string;
  readonly factors: FactorRegistry;
  /** Security events: the audit record, and the customer's mail when a mailer is configured. */
  readonly events: SecurityEvents;
  readonly logger: Logger;
  /** The token endpoint the console redeems codes at; default `<issuer>/token`. */
  readonly tokenEndpoint?: string | undefined;
  /** The app's pug views (the console renders `console/*`). */
  readonly views: Views;
}

/** A signed-in console request: its session and the (re-read, active) account. */
export interface Signed {
  readonly session: ConsoleSession;
  readonly signedIn: SignedIn;
  readonly account: Account;
}

export interface ConsoleKit {
  readonly deps: AccountConsoleDeps;
  /** The issuer without a trailing slash. */
  readonly issuer: string;
  readonly csrf: ConsoleCsrf;
  readonly methodChoice: MethodChoice;
  /** Form-body parser of console posts (size-limited). */
  readonly parseForm: Middleware;
  /** The console session the browser's cookie points at (signed in or not). */
  currentSession(ctx: Context): Promise<ConsoleSession | null>;
  /** Sets (or, with `null`, clears) the console's session cookie. */
  writeCookie(ctx: Context, token: string | null): void;
  /**
   * Pushes the authorization request of a sign-in or a re-authentication (at `level`) to the provider, remembers it
   * in the console session and sends the browser to `/auth` with the request's reference.
   */
  startLogin(
    ctx: Context, session: ConsoleSession | null, purpose: PendingLogin['purpose'], returnTo: string,
    options?: { loginHint?: string; level?: number },
  ): Promise<void>;
  /** The signed-in session of a GET page, or a redirect to the sign-in (then `undefined`). */
  requireSignIn(ctx: Context, returnTo: string): Promise<Signed | undefined>;
  /** The signed-in session of a POST with a valid CSRF token; an ended session is a 401 page, a bad token 403. */
  postContext(ctx: Context): Promise<Signed>;
  /**
   * Whether the change may happen now; if not, it is parked (`returnTo` shows it again with `fields`) and the browser
   * goes to re-authenticate (then `false`: the response is the redirect).
   */
  ensureFresh(ctx: Context, signed: Signed, returnTo: string, fields?: Record<string, string>): Promise<boolean>;
  /** Whether `signed` re-authenticated recently enough, at the level its changes need (no redirect). */
  isFreshNow(signed: Signed): Promise<boolean>;
  /** The level a change of the account needs: its strongest usable second factor, or 1 (the password) without one. */
  changeLevel(accountId: string): Promise<number>;
  /** The parked change for `path`, when recent. */
  pendingFor(signed: Signed, path: string): Record<string, string> | undefined;
  clearPending(signed: Signed): Promise<void>;
  /** Renders `views/console/<view>.pug` (never cached); `title` is a message. */
  render(ctx: Context, view: string, locals: Record<string, unknown> & { title: string | Message }, status?: number): void;
  /**
   * The words of this request's page, for what code places into a message (a factor's name inside a title); after
   * {@link requireSignIn} or {@link postContext} they follow the account's language and time zone.
   */
  words(ctx: Context): Translator;
  /** A factor's name inside a sentence ("Add authenticator app"), in the page's language. */
  methodInSentence(ctx: Context, factor: Factor): string;
  seeOther(ctx: Context, location: string): void;
  /** Where this request's events come from: the browser, the console as the client (the account holder acts). */
  origin(ctx: Context): Origin;
  /** Records a security event of this request (`src/security/events.ts`); never throws. */
  record<K extends NotificationKind>(ctx: Context, event: NotifiedEvent<K>): Promise<EventResult>;
  record(ctx: Context, event: AuditedEvent): Promise<EventResult>;
  /** The factor named by the route's `:factorId`, or a 400 page. */
  factorParam(ctx: Context): Factor;
  /** The backup factor the customer can (re)generate (recovery codes), if any. */
  backupFactor(): Factor | undefined;
  /** What a backup's enrolment issued (the recovery codes), in the factor's own template. */
  issuedPart(ctx: Context, signed: Signed, backup: Factor, issued: Readonly<Record<string, unknown>>): string | undefined;
  /** The primary factors the account holds. */
  enrolledPrimaries(accountId: string): Promise<Factor[]>;
  /** Whether the account's company requires two-factor authentication. */
  companyForces(account: Account): Promise<boolean>;
}

const COOKIE = 'account_session';
const FACTOR_ID = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * An expected failure shown as the console's error page (`expose`: the message is for the user). `message` is a
 * message id of the `console` or `company` catalogue section: the error page shows it in the reader's language.
 */
export function consoleError(code: string, message: string, status: number): AppError {
  return new AppError(code, message, { status, expose: true });
}

export function unknownFactor(): AppError {
  return consoleError('unknown_factor', 'console.error.unknown_factor', 400);
}

export function notEnrolled(): AppError {
  return consoleError('not_enrolled', 'console.error.not_enrolled', 400);
}

/** The account as a factor sees it; with the request, the language of the mails it sends (the account's, else the page's). */
export function factorAccount(account: Account, ctx?: Context): FactorAccount {
  return { id: account.id, email: account.email, name: account.name, ...(ctx ? { language: account.language ?? requestLanguage(ctx) } : {}) };
}

type Sessions = Pick<ConsoleKit, 'currentSession' | 'writeCookie' | 'startLogin' | 'requireSignIn' | 'postContext'>;

/** The console's sign-in session: the signed cookie, the pushed sign-in, the signed-in check of pages and posts. */
function consoleSessions(deps: AccountConsoleDeps, issuer: string, csrf: ConsoleCsrf): Sessions {
  const { conn, provider } = deps;

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
    // The pages speak the account's language (and write times in its zone) unless this browser chose another one.
    noteLanguageHints(ctx, { account });
    await touchSession(conn, session);
    return { session, signedIn: session.signedIn, account };
  }

  async function startLogin(
    ctx: Context, session: ConsoleSession | null, purpose: PendingLogin['purpose'], returnTo: string,
    options: { loginHint?: string; level?: number } = {},
  ): Promise<void> {
    const login = newLogin(purpose, returnTo, options.level);
    const location = await pushAuthorizationRequest({ issuer, provider, tokenEndpoint: deps.tokenEndpoint }, login, { loginHint: options.loginHint });
    if (session) {
      await setLogin(conn, session.id, login);
    } else {
      writeCookie(ctx, (await createSession(conn, { login })).token);
    }
    seeOther(ctx, location);
  }

  return {
    currentSession,
    writeCookie,
    startLogin,
    async requireSignIn(ctx, returnTo) {
      const signed = await loadSigned(ctx);
      if (signed) return signed;
      const session = await currentSession(ctx);
      await startLogin(ctx, session && !session.signedIn ? session : null, 'sign_in', returnTo);
      return undefined;
    },
    async postContext(ctx) {
      const signed = await loadSigned(ctx);
      if (!signed) throw consoleError('session_expired', 'console.error.session_expired', 401);
      csrf.verify(signed.session.id, formBody(ctx).csrf);
      return signed;
    },
  };
}

type Freshness = Pick<ConsoleKit, 'changeLevel' | 'isFreshNow' | 'ensureFresh' | 'pendingFor' | 'clearPending'>;

/** Re-authentication before changes (`freshness.ts`), with the change parked in the session across the detour. */
function consoleFreshness(deps: AccountConsoleDeps, startLogin: ConsoleKit['startLogin']): Freshness {
  const { conn, factors, logger } = deps;

  // The account's strongest usable second factor (an account with an authenticator app proves the app, not an email
  // code), or the password alone without one.
  async function changeLevel(accountId: string): Promise<number> {
    const usable = await factors.usableFactors(accountId, LEVEL.mfa);
    return Math.max(LEVEL.pwd, ...usable.filter((factor) => factors.primary.includes(factor)).map((factor) => factor.level));
  }

  return {
    changeLevel,
    async isFreshNow(signed) {
      return isFresh(signed.signedIn, await changeLevel(signed.account.id), Date.now());
    },
    async ensureFresh(ctx, signed, returnTo, fields = {}) {
      const level = await changeLevel(signed.account.id);
      if (isFresh(signed.signedIn, level, Date.now())) return true;
      await setPendingAction(conn, signed.session.id, { returnTo, fields, savedAt: new Date(Date.now()) });
      logger.info({ event: 'account.reauth_required', accountId: signed.account.id, level }, 're-authentication required');
      await startLogin(ctx, signed.session, 'reauth', returnTo, { loginHint: signed.account.email, level });
      return false;
    },
    pendingFor(signed, path) {
      const action = signed.session.pendingAction;
      if (!action || action.returnTo !== path || Date.now() - action.savedAt.getTime() > REAUTH_WINDOW_MS * 2) return undefined;
      return { ...action.fields };
    },
    async clearPending(signed) {
      if (signed.session.pendingAction) await setPendingAction(conn, signed.session.id, null);
    },
  };
}

type Records = Pick<ConsoleKit, 'origin' | 'record'>;

/** The security events of the customer's own changes. */
function consoleRecords(deps: AccountConsoleDeps): Records {
  function origin(ctx: Context): Origin {
    return { ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, clientId: ACCOUNT_CONSOLE_CLIENT_ID, language: requestLanguage(ctx) };
  }
  return {
    origin,
    record(ctx: Context, event: NotifiedEvent<NotificationKind> | AuditedEvent): Promise<EventResult> {
      return deps.events.record(origin(ctx), event as AuditedEvent);
    },
  } as Records;
}

type FactorLookups = Pick<ConsoleKit, 'factorParam' | 'backupFactor' | 'issuedPart' | 'enrolledPrimaries' | 'companyForces'>;

function factorLookups(deps: AccountConsoleDeps, csrf: ConsoleCsrf): FactorLookups {
  const { factors, conn, views } = deps;
  return {
    factorParam(ctx) {
      const id = (ctx.params as { factorId?: string }).factorId ?? '';
      const factor = FACTOR_ID.test(id) ? factors.get(id) : undefined;
      if (!factor) throw unknownFactor();
      return factor;
    },
    backupFactor() {
      return factors.backup.find((factor) => factor.enrol);
    },
    issuedPart(ctx, signed, backup, issued) {
      return renderFactorPart(ctx, views, backup, 'enrol', { stage: 'pending', csrf: csrf.tokenFor(signed.session.id), actions: {}, enrolment: issued });
    },
    async enrolledPrimaries(accountId) {
      const flags = await Promise.all(factors.primary.map((factor) => factor.isEnrolled(accountId)));
      return factors.primary.filter((_, index) => flags[index]);
    },
    async companyForces(account) {
      if (!account.companyId) return false;
      return (await findCompanyById(conn, account.companyId))?.mfaPolicy === 'forced';
    },
  };
}

/** The kit of one console router. */
export function createConsoleKit(deps: AccountConsoleDeps): ConsoleKit {
  const issuer = deps.issuer.replace(/\/+$/, '');
  const csrf = createConsoleCsrf(deps.provider.keys as readonly (string | Buffer)[]);
  const sessions = consoleSessions(deps, issuer, csrf);
  return {
    deps,
    issuer,
    csrf,
    methodChoice: createMethodChoice({ conn: deps.conn, registry: deps.factors }),
    parseForm: formParser(),
    ...sessions,
    ...consoleFreshness(deps, sessions.startLogin),
    ...consoleRecords(deps),
    ...factorLookups(deps, csrf),
    render(ctx, view, locals, status = 200) {
      renderPage(ctx, deps.views, `console/${view}`, locals, status);
    },
    words(ctx) {
      return translatorOf(ctx, deps.views.languages);
    },
    methodInSentence(ctx, factor) {
      return translatorOf(ctx, deps.views.languages).t(factor.inSentence ?? factor.label);
    },
    seeOther,
  };
}
