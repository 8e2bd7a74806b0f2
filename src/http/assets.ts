/**
 * The pages' static assets, served from the provider's own origin so the CSP keeps `script-src 'self'` and
 * `style-src 'self'` plus nonces, without inline scripts or style attributes: the pages' one script (`assets/page.js`,
 * progressive enhancement: copy and print buttons, local times) and the brand's generated stylesheet (its colour).
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Middleware } from 'koa';
import { LOGO_TYPES, brandLogoPath, brandStylesheet, type Brand } from '../shared/brand.ts';

/** Where the pages load their script from. */
export const PAGE_SCRIPT_PATH = '/assets/page.js';
/** Where the pages load the brand's colours from (only when a colour is configured). */
export const BRAND_STYLESHEET_PATH = '/assets/brand.css';

const PAGE_SCRIPT = readFileSync(fileURLToPath(new URL('../../assets/page.js', import.meta.url)));

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly etag: string;
}

function asset(type: string, body: Buffer): Asset {
  return { type, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Answers `GET`/`HEAD` of the assets; everything else passes. */
export function assets(options: { brand?: Brand | undefined } = {}): Middleware {
  const served = new Map<string, Asset>([[PAGE_SCRIPT_PATH, asset('application/javascript; charset=utf-8', PAGE_SCRIPT)]]);
  const stylesheet = brandStylesheet(options.brand);
  if (stylesheet) served.set(BRAND_STYLESHEET_PATH, asset('text/css; charset=utf-8', Buffer.from(stylesheet)));
  const logoFile = options.brand?.logoFile;
  if (logoFile) {
    const path = brandLogoPath(logoFile);
    let body: Buffer;
    try {
      body = readFileSync(logoFile);
    } catch (err) {
      throw new Error(`BRAND_LOGO_URL: the logo file ${logoFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    served.set(path, asset(LOGO_TYPES[path.split('.').pop() ?? ''] ?? 'application/octet-stream', body));
  }
  return async function serveAssets(ctx, next) {
    const found = served.get(ctx.path);
    if (!found || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.set('ETag', found.etag);
    ctx.type = found.type;
    if (ctx.get('If-None-Match') === found.etag) {
      ctx.status = 304;
      return;
    }
    ctx.body = found.body;
  };
}

/** Whether `path` is one of the assets' paths. */
export function isAssetPath(path: string): boolean {
  return path === PAGE_SCRIPT_PATH || path === BRAND_STYLESHEET_PATH || path.startsWith('/assets/brand-logo.');
}
