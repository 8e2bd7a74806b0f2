/**
 * The pages' one script (`assets/page.js`, progressive enhancement: copy and print buttons), served from the provider's
 * own origin so the CSP keeps `script-src 'self'` without inline scripts. Read once at start-up.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Middleware } from 'koa';

/** Where the pages load it from. */
export const PAGE_SCRIPT_PATH = '/assets/page.js';

const SOURCE = readFileSync(fileURLToPath(new URL('../../assets/page.js', import.meta.url)));
const ETAG = `"${createHash('sha256').update(SOURCE).digest('base64url').slice(0, 27)}"`;

/** Answers `GET`/`HEAD {@link PAGE_SCRIPT_PATH}`; everything else passes. */
export function pageScript(): Middleware {
  return async function servePageScript(ctx, next) {
    if (ctx.path !== PAGE_SCRIPT_PATH || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.set('ETag', ETAG);
    ctx.type = 'application/javascript; charset=utf-8';
    if (ctx.get('If-None-Match') === ETAG) {
      ctx.status = 304;
      return;
    }
    ctx.body = SOURCE;
  };
}
