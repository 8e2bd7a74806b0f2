/**
 * What the console's page groups share (the settings pages in `router.ts`, the company admin pages in `company.ts`):
 * the signed-in session, CSRF-checked posts, re-authentication before changes with the parked action, rendering.
 * Built once per router by `accountConsoleRouter`.
 */
import type { Context, Middleware } from 'koa';
import type { Account } from '../accounts/accounts.ts';
import { AppError } from '../shared/errors.ts';
import type { ConsoleCsrf } from './csrf.ts';
import type { ConsoleSession, SignedIn } from './session.ts';

/** A signed-in console request: its session and the (re-read, active) account. */
export interface Signed {
  readonly session: ConsoleSession;
  readonly signedIn: SignedIn;
  readonly account: Account;
}

export interface ConsoleKit {
  readonly csrf: ConsoleCsrf;
  /** Form-body parser of console posts (size-limited). */
  readonly parseForm: Middleware;
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
  /** Renders `views/account/<view>.pug` (no caching). */
  render(ctx: Context, view: string, locals: Record<string, unknown> & { title: string }, status?: number): void;
  seeOther(ctx: Context, location: string): void;
  /** The request's address and browser, and the console's client id, for audit records. */
  auditContext(ctx: Context): { ip: string; userAgent: string | undefined; clientId: string };
}

/** An expected failure shown as the console's error page (`expose`: the message is for the user). */
export function consoleError(code: string, message: string, status: number): AppError {
  return new AppError(code, message, { status, expose: true });
}

export function formBody(ctx: Context): Record<string, unknown> {
  const body = (ctx.request as { body?: unknown }).body;
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

/** A string form field of at most `max` characters, or `undefined`. */
export function field(ctx: Context, name: string, max = 64): string | undefined {
  const value = formBody(ctx)[name];
  return typeof value === 'string' && value.length <= max ? value : undefined;
}

/** Refuses (415) a post that is not a web form. */
export function requireForm(): Middleware {
  return async function requireFormBody(ctx, next) {
    if (!ctx.is('application/x-www-form-urlencoded')) {
      throw consoleError('unsupported_media_type', 'The data was not sent as a web form.', 415);
    }
    await next();
  };
}
