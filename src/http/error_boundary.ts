import type { Middleware } from 'koa';
import { msg, SOURCE_LANGUAGE, type Languages, type Message } from '../i18n/languages.ts';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Views } from './views.ts';
import { renderPage } from './pages.ts';
import { supportLocals, type SupportContact } from '../shared/support.ts';

/**
 * What the boundary answers with: an HTTP status, a stable lower_snake_case code, and words safe to show — messages
 * of the catalogue (`errors.*`), or the English message of an exposed {@link AppError}.
 */
export interface PublicError {
  status: number;
  code: string;
  heading: Message;
  /** A catalogue message, or an exposed AppError's own (English) message. */
  message: Message | string;
}

/** The statuses with words of their own: `errors.<code>.heading` / `errors.<code>.message`. */
const HTTP_CODES: Readonly<Record<number, string>> = {
  400: 'bad_request',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

/** The words of a status in {@link HTTP_CODES}. */
function httpError(status: number, code: string): PublicError {
  return { status, code, heading: msg(`errors.${code}.heading`), message: msg(`errors.${code}.message`) };
}

const SERVER_ERROR: PublicError = Object.freeze(httpError(500, 'server_error'));

/** Maps anything thrown to what a client may see: exposed 4xx errors keep their code, everything else is a 500. */
export function toPublicError(err: unknown): PublicError {
  if (err instanceof AppError) {
    if (err.status < 500 && err.expose) {
      const known = HTTP_CODES[err.status];
      return { status: err.status, code: err.code, heading: known ? msg(`errors.${known}.heading`) : msg('errors.page.request_failed'), message: err.message };
    }
    return { ...SERVER_ERROR, status: err.status >= 500 ? err.status : 500 };
  }
  // http-errors (bodyparser's 413/415/400, koa's ctx.throw): `expose` is true only for 4xx.
  const status = typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : 500;
  if (status >= 400 && status < 500 && (err as { expose?: unknown }).expose === true) {
    const known = HTTP_CODES[status];
    if (known) return httpError(status, known);
    return { status, code: 'bad_request', heading: msg('errors.bad_request.heading'), message: msg('errors.page.not_processed') };
  }
  return SERVER_ERROR;
}

/**
 * The page's words of `failure`: an exposed AppError's code with an entry in the catalogue (`errors.<code>.message`,
 * and `errors.<code>.heading` when it has one) is shown in the reader's language; any other keeps its English
 * message (its code is on the page for support).
 */
export function errorPageWords(failure: PublicError, languages: Languages): { heading: Message | string; message: Message | string } {
  if (typeof failure.message !== 'string') return { heading: failure.heading, message: failure.message };
  const heading = `errors.${failure.code}.heading`;
  const message = `errors.${failure.code}.message`;
  return {
    heading: languages.messageIds.includes(heading) ? msg(heading) : failure.heading,
    message: languages.messageIds.includes(message) ? msg(message) : failure.message,
  };
}

/**
 * The one error boundary (outermost middleware): expected errors become a clear page in the reader's language (or
 * JSON in English for API clients) with a status below 500 and a stable code; anything unexpected is logged and
 * answered with a plain 500 page — never a stack trace. Unrouted paths get the 404 page. Nested in another boundary
 * (the step-up pages' own, inside the server's), only the outer one acts.
 */
export function errorBoundary(deps: { views: Views; logger: Logger; support?: SupportContact | undefined }): Middleware {
  const { views, logger } = deps;
  // API clients read one language whatever the deployment's default: the source catalogue's.
  const english = views.languages.translator(SOURCE_LANGUAGE);
  return async function errorBoundaryMiddleware(ctx, next) {
    if (ctx.state.errorBoundary === true) return next();
    ctx.state.errorBoundary = true;
    let failure: PublicError | undefined;
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null && ctx.respond !== false) failure = httpError(404, 'not_found');
    } catch (err) {
      failure = toPublicError(err);
      if (failure.status >= 500) logger.error({ err, method: ctx.method, path: ctx.path }, 'unexpected error');
      else logger.info({ code: failure.code, status: failure.status, method: ctx.method, path: ctx.path }, 'request refused');
    }
    if (!failure || ctx.headerSent) return;

    ctx.status = failure.status;
    ctx.remove('Location');
    ctx.set('Cache-Control', 'no-store');
    if (ctx.accepts('html', 'json') === 'json') {
      ctx.body = { error: failure.code, error_description: typeof failure.message === 'string' ? failure.message : english.t(failure.message) };
      return;
    }
    const words = errorPageWords(failure, views.languages);
    renderPage(ctx, views, 'error', {
      title: words.heading, heading: words.heading, message: words.message, code: failure.code, support: supportLocals(deps.support),
    }, failure.status);
  };
}
