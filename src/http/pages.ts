/**
 * What every page of the sign-in, the console and the error boundary does the same way: rendered never cached with
 * the CSP nonce of its inline style, redirects as 303 (the next request is a GET), and the factor's own part of a
 * page (docs/ARCHITECTURE.md "The factor contract").
 */
import type { Context } from 'koa';
import type { Factor, FactorViewModel } from '../factors/contract.ts';
import type { Message } from '../i18n/languages.ts';
import type { Views } from './views.ts';
import { languageLinks, translatorOf } from './language.ts';

/**
 * Renders `views/<name>.pug` as the response: HTML in the request's language (`src/http/language.ts`) with its
 * language switch, `Cache-Control: no-store`, the request's CSP nonce. `title` is a message (id or {@link Message}).
 */
export function renderPage(ctx: Context, views: Views, name: string, locals: Record<string, unknown> & { title: string | Message }, status = 200): void {
  const words = translatorOf(ctx, views.languages);
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Language', words.language);
  ctx.vary('Accept-Language');
  ctx.type = 'html';
  ctx.body = views.render(name, {
    cspNonce: typeof ctx.state.cspNonce === 'string' ? ctx.state.cspNonce : '',
    languageLinks: languageLinks(ctx, views.languages, words.language),
    ...locals,
  }, words);
}

/** `303 See Other` to `location`, never cached. */
export function seeOther(ctx: Context, location: string): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.redirect(location);
  ctx.status = 303;
}

/** The model of a factor's template, less the factor itself (filled in from the contract). */
export type FactorPartModel = Omit<FactorViewModel, 'factor'>;

/**
 * Renders `factor.views[part]` with the factor's view model, as HTML for the page to embed; `undefined` when the
 * factor has no such template (it cannot be used on that page).
 */
export function renderFactorPart(
  ctx: Context, views: Views, factor: Factor, part: 'challenge' | 'enrol', model: FactorPartModel,
): string | undefined {
  const reference = factor.views[part];
  if (reference === undefined) return undefined;
  const locals: FactorViewModel = { ...model, factor: { id: factor.id, label: factor.label } };
  return views.renderPart(reference, { ...locals }, translatorOf(ctx, views.languages));
}
