import { createHash, randomBytes } from 'node:crypto';
import type { Middleware } from 'koa';
import helmet from 'koa-helmet';

interface StateCarrier {
  state: Record<string, unknown>;
}

/**
 * Lets the page being rendered post forms that end up at `urls` (their origins are added to CSP `form-action`).
 * Browsers (Chromium) apply `form-action` to every redirect after a form post, so the login form — which posts
 * to us and is redirected to the shop's `redirect_uri` — needs the shop's origin there.
 */
export function allowFormActions(ctx: StateCarrier, urls: readonly string[]): void {
  const origins = (ctx.state.formActionOrigins as string[] | undefined) ?? [];
  for (const url of urls) {
    try {
      const { origin } = new URL(url);
      if (origin !== 'null' && !origins.includes(origin)) origins.push(origin);
    } catch {
      // not a URL: nothing to allow
    }
  }
  ctx.state.formActionOrigins = origins;
}

/**
 * Lets the page being rendered run one inline script, `source` exactly: its SHA-256 joins CSP `script-src` (CSP Level 3
 * hash sources, as oidc-provider does for its own auto-submitting pages). Returns the source for the page to embed.
 */
export function allowInlineScript(ctx: { response: { get(field: string): unknown }; set(field: string, value: string): void }, source: string): string {
  const hash = `'sha256-${createHash('sha256').update(source, 'utf8').digest('base64')}'`;
  const csp = ctx.response.get('Content-Security-Policy');
  if (typeof csp === 'string' && csp) {
    ctx.set('Content-Security-Policy', csp.split(';').map((directive) => directive.trim())
      .map((directive) => (directive.startsWith('script-src') ? `${directive} ${hash}` : directive)).join('; '));
  }
  return source;
}

/** Lets the page being rendered show images from the origins of `urls` (a shop's logo on the consent page). */
export function allowImages(ctx: StateCarrier, urls: readonly (string | undefined)[]): void {
  const origins = (ctx.state.imageOrigins as string[] | undefined) ?? [];
  for (const url of urls) {
    const origin = url ? URL.parse(url)?.origin : undefined;
    if (origin && origin !== 'null' && !origins.includes(origin)) origins.push(origin);
  }
  ctx.state.imageOrigins = origins;
}

function contentSecurityPolicy(nonce: string, formActions: readonly string[], imageOrigins: readonly string[]): string {
  return [
    "default-src 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    ["img-src 'self' data:", ...imageOrigins].join(' '),
    `style-src 'self' 'nonce-${nonce}'`,
    "script-src 'self'",
    `form-action ${["'self'", ...formActions].join(' ')}`,
  ].join('; ');
}

/** Replaces the `form-action` directive, keeping what oidc-provider added meanwhile (script hashes of its pages). */
function withFormActions(csp: string, formActions: readonly string[]): string {
  return csp
    .split(';')
    .map((directive) => directive.trim())
    .map((directive) => (directive.startsWith('form-action') ? `form-action ${["'self'", ...formActions].join(' ')}` : directive))
    .join('; ');
}

/**
 * helmet's headers plus our own Content-Security-Policy: a per-response nonce for the pages' inline `<style>`
 * (`ctx.state.cspNonce`), no inline scripts, and `form-action` widened per page with {@link allowFormActions}.
 * The CSP is set before the downstream runs, because oidc-provider appends hashes of its own inline scripts to it.
 * Nested (the step-up pages' own, inside the server's), only the outer one acts.
 */
export function securityHeaders(options: { imageUrls?: readonly (string | undefined)[] } = {}): Middleware {
  // The brand's logo may live on the shop's own site: its origin joins img-src.
  const imageOrigins = (options.imageUrls ?? []).flatMap((url) => {
    const origin = url ? URL.parse(url)?.origin : undefined;
    return origin && origin !== 'null' ? [origin] : [];
  });
  const helmetHeaders = helmet({
    contentSecurityPolicy: false,
    // The default HSTS is right for production behind TLS; browsers ignore it on plain http (dev).
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    referrerPolicy: { policy: 'no-referrer' },
    // Discovery and JWKS are read cross-origin by shops' browsers and tools.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  });
  return async function securityHeadersMiddleware(ctx, next) {
    if (ctx.state.securityHeaders === true) return next();
    ctx.state.securityHeaders = true;
    const nonce = randomBytes(16).toString('base64');
    ctx.state.cspNonce = nonce;
    ctx.set('Content-Security-Policy', contentSecurityPolicy(nonce, [], imageOrigins));
    await helmetHeaders(ctx, async () => {
      await next();
    });
    // A form_post response (OAuth 2.0 Form Post Response Mode) auto-submits to the shop's redirect_uri.
    const params = (ctx as { oidc?: { params?: Record<string, unknown> } }).oidc?.params;
    if (params?.response_mode === 'form_post' && typeof params.redirect_uri === 'string' && ctx.response.is('html')) {
      allowFormActions(ctx, [params.redirect_uri]);
    }
    const formActions = ctx.state.formActionOrigins as string[] | undefined;
    const csp = ctx.response.get('Content-Security-Policy');
    if (formActions && formActions.length > 0 && typeof csp === 'string' && csp && !ctx.headerSent) {
      ctx.set('Content-Security-Policy', withFormActions(csp, formActions));
    }
    const images = ctx.state.imageOrigins as string[] | undefined;
    const current = ctx.response.get('Content-Security-Policy');
    if (images && images.length > 0 && typeof current === 'string' && current && !ctx.headerSent) {
      ctx.set('Content-Security-Policy', current.split(';').map((directive) => directive.trim())
        .map((directive) => (directive.startsWith('img-src') ? [directive, ...images].join(' ') : directive)).join('; '));
    }
  };
}
