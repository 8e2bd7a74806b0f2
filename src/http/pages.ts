/**
 * What every page of the sign-in and the console does the same way: the factor's own part of a page
 * (docs/ARCHITECTURE.md "The factor contract").
 */
import type { Factor, FactorViewModel } from '../factors/contract.ts';
import type { Views } from './views.ts';

/** The model of a factor's template, less the factor itself (filled in from the contract). */
export type FactorPartModel = Omit<FactorViewModel, 'factor'>;

/**
 * Renders `factor.views[part]` with the factor's view model, as HTML for the page to embed; `undefined` when the
 * factor has no such template (it cannot be used on that page).
 */
export function renderFactorPart(views: Views, factor: Factor, part: 'challenge' | 'enrol', model: FactorPartModel): string | undefined {
  const reference = factor.views[part];
  if (reference === undefined) return undefined;
  const locals: FactorViewModel = { ...model, factor: { id: factor.id, label: factor.label } };
  return views.renderPart(reference, { ...locals });
}
