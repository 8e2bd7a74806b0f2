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
 * Routes (all below `/account`), one file per page group: `GET /` (`overview.ts`) · `GET /callback`, `POST /logout`
 * (`sign_in.ts`) · `GET|POST /methods/:factorId/add`, `POST …/confirm`, `POST …/renew` (`add_method.ts`) ·
 * `GET|POST /methods/:factorId/remove` (`remove_method.ts`) · `POST /primary`, `POST /sign-in-mfa`
 * (`sign_in_settings.ts`) · `GET|POST /recovery-codes` (`recovery_codes.ts`) · `GET|POST /password` (`password.ts`) ·
 * `GET|POST /language` (`language_settings.ts`: the language and time zone, no re-authentication) ·
 * the company admin pages below `/company` (`company.ts`). What they share is the kit (`kit.ts`).
 */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import compose from 'koa-compose';
import { toPublicError } from '../http/error_boundary.ts';
import { renderPage } from '../http/pages.ts';
import type { Views } from '../http/views.ts';
import type { Logger } from '../shared/logger.ts';
import { addMethodRoutes } from './add_method.ts';
import { ACCOUNT_PATH } from './client.ts';
import { companyAdminRoutes } from './company.ts';
import { createConsoleKit, type AccountConsoleDeps } from './kit.ts';
import { languageSettingsRoutes } from './language_settings.ts';
import { overviewRoutes } from './overview.ts';
import { passwordRoutes } from './password.ts';
import { recoveryCodesRoutes } from './recovery_codes.ts';
import { removeMethodRoutes } from './remove_method.ts';
import { signInRoutes } from './sign_in.ts';
import { signInSettingsRoutes } from './sign_in_settings.ts';

export type { AccountConsoleDeps } from './kit.ts';

/** The console: a Koa middleware answering below `/account` (its own error pages, no caching), passing on the rest. */
export function accountConsole(deps: AccountConsoleDeps): Middleware {
  const router = accountConsoleRouter(deps);
  const pages = compose<Context>([
    consoleErrors(deps.views, deps.logger),
    router.routes() as unknown as Middleware,
    router.allowedMethods() as unknown as Middleware,
  ]);
  return async function accountConsolePages(ctx, next) {
    if (ctx.path === ACCOUNT_PATH || ctx.path.startsWith(`${ACCOUNT_PATH}/`)) return pages(ctx, next);
    return next();
  };
}

/** The console's heading of a refusal, by HTTP status (the message says what to do). */
function headingOf(status: number): string {
  switch (status) {
    case 400: return 'console.error.heading.bad_request';
    case 403: case 405: return 'console.error.heading.forbidden';
    case 404: return 'console.error.heading.not_found';
    case 413: return 'console.error.heading.payload_too_large';
    case 415: return 'console.error.heading.unsupported_media_type';
    default: return 'console.error.heading.other';
  }
}

/**
 * Expected failures (4xx) as a console page with a way back; anything else goes on to the app's error boundary. The
 * console's own refusals carry a message id; the web kit's (a too large or non-form body) carry their own words.
 */
function consoleErrors(views: Views, logger: Logger): Middleware {
  return async function accountConsoleErrors(ctx, next) {
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (err) {
      const failure = toPublicError(err);
      if (failure.status >= 500) throw err;
      logger.info({ code: failure.code, status: failure.status, method: ctx.method, path: ctx.path }, 'console request refused');
      ctx.remove('Location');
      const heading = headingOf(failure.status);
      renderPage(ctx, views, 'console/error', { title: heading, heading, message: failure.message, code: failure.code }, failure.status);
    }
  };
}

/** The console's routes below `/account`, every page group with the same kit. */
export function accountConsoleRouter(deps: AccountConsoleDeps): Router {
  const router = new Router({ prefix: ACCOUNT_PATH });
  const kit = createConsoleKit(deps);
  overviewRoutes(router, kit);
  signInRoutes(router, kit);
  addMethodRoutes(router, kit);
  removeMethodRoutes(router, kit);
  signInSettingsRoutes(router, kit);
  recoveryCodesRoutes(router, kit);
  languageSettingsRoutes(router, kit);
  companyAdminRoutes(router, kit, { conn: deps.conn, factors: deps.factors, events: deps.events, logger: deps.logger });
  passwordRoutes(router, kit, { conn: deps.conn, provider: deps.provider, factors: deps.factors, logger: deps.logger });
  return router;
}
