/**
 * Web forms as the sign-in pages and the console receive them: browsers without JavaScript post
 * `application/x-www-form-urlencoded`, bounded in size; every field is a string (arrays and objects only come from
 * tampering and are ignored).
 */
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware } from 'koa';
import { AppError } from '../shared/errors.ts';

/** Largest accepted form body of a page; a bigger one is answered 413 before any work. */
export const FORM_LIMIT_BYTES = 16 * 1024;

/** The form-body parser of the pages (web forms only, at most {@link FORM_LIMIT_BYTES}). */
export function formParser(limitBytes: number = FORM_LIMIT_BYTES): Middleware {
  return bodyParser({ enableTypes: ['form'], formLimit: `${limitBytes}b` }) as unknown as Middleware;
}

/** Refuses (415) a post that is not a web form. */
export function requireForm(): Middleware {
  return async function requireFormBody(ctx, next) {
    if (!ctx.is('application/x-www-form-urlencoded')) {
      throw new AppError('unsupported_media_type', 'The data was not sent as a web form.', { status: 415 });
    }
    await next();
  };
}

/** The parsed form body, or `{}` when there is none. */
export function formBody(ctx: Context): Record<string, unknown> {
  const body = (ctx.request as { body?: unknown }).body;
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

/** A string form field of at most `max` characters, or `undefined`. */
export function field(ctx: Context, name: string, max = 64): string | undefined {
  const value = formBody(ctx)[name];
  return typeof value === 'string' && value.length <= max ? value : undefined;
}
