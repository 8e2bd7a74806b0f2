import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../shared/logger.ts';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * One structured line per request: method, path (never the query string — it carries codes, tokens and
 * `id_token_hint`), status and duration. The request id comes from a proxy's `X-Request-Id` when well-formed,
 * otherwise a new UUID; it is echoed in the response so an operator can match a user's report to the log.
 */
export function requestLog(logger: Logger): Middleware {
  const log = logger.child({ component: 'http' });
  return async function requestLogMiddleware(ctx, next) {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('X-Request-Id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const entry = { requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 };
      if (ctx.path === '/healthz' || ctx.path === '/readyz') log.debug(entry, 'request');
      else log.info(entry, 'request');
    }
  };
}
