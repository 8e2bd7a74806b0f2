import type { Middleware } from 'koa';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Views } from './views.ts';
import { renderPage } from './pages.ts';
import { supportLocals, type SupportContact } from '../shared/support.ts';

/** What the boundary answers with: an HTTP status, a stable lower_snake_case code and a message safe to show. */
export interface PublicError {
  status: number;
  code: string;
  heading: string;
  message: string;
}

const HTTP_CODES: Record<number, { code: string; heading: string; message: string }> = {
  400: { code: 'bad_request', heading: 'This request is not valid', message: 'The request could not be understood.' },
  403: { code: 'forbidden', heading: 'Not allowed', message: 'This request is not allowed.' },
  404: { code: 'not_found', heading: 'Page not found', message: 'There is no page at this address.' },
  405: { code: 'method_not_allowed', heading: 'Not allowed', message: 'This method is not allowed here.' },
  413: { code: 'payload_too_large', heading: 'Too much data', message: 'The form sent more data than we accept.' },
  415: { code: 'unsupported_media_type', heading: 'Unsupported form', message: 'The data was not sent as a web form.' },
};

const SERVER_ERROR: PublicError = {
  status: 500,
  code: 'server_error',
  heading: 'Something went wrong on our side',
  message: 'Please try again in a moment. If this keeps happening, contact support.',
};

/** Maps anything thrown to what a client may see: exposed 4xx errors keep their code, everything else is a 500. */
export function toPublicError(err: unknown): PublicError {
  if (err instanceof AppError) {
    if (err.status < 500 && err.expose) {
      return { status: err.status, code: err.code, heading: HTTP_CODES[err.status]?.heading ?? 'This request could not be completed', message: err.message };
    }
    return { ...SERVER_ERROR, status: err.status >= 500 ? err.status : 500 };
  }
  // http-errors (bodyparser's 413/415/400, koa's ctx.throw): `expose` is true only for 4xx.
  const status = typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : 500;
  if (status >= 400 && status < 500 && (err as { expose?: unknown }).expose === true) {
    const known = HTTP_CODES[status] ?? { code: 'bad_request', heading: 'This request is not valid', message: 'The request could not be processed.' };
    return { status, ...known };
  }
  return SERVER_ERROR;
}

/**
 * The one error boundary (outermost middleware): expected errors become a clear page (or JSON for API
 * clients) with a status below 500 and a stable code; anything unexpected is logged and answered with a plain
 * 500 page — never a stack trace. Unrouted paths get the 404 page. Nested in another boundary (the step-up pages'
 * own, inside the server's), only the outer one acts.
 */
export function errorBoundary(deps: { views: Views; logger: Logger; support?: SupportContact | undefined }): Middleware {
  const { views, logger } = deps;
  return async function errorBoundaryMiddleware(ctx, next) {
    if (ctx.state.errorBoundary === true) return next();
    ctx.state.errorBoundary = true;
    let failure: PublicError | undefined;
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null && ctx.respond !== false) failure = { status: 404, ...HTTP_CODES[404]! };
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
      ctx.body = { error: failure.code, error_description: failure.message };
      return;
    }
    renderPage(ctx, views, 'error', {
      title: failure.heading, heading: failure.heading, message: failure.message, code: failure.code, support: supportLocals(deps.support),
    }, failure.status);
  };
}
