import { grantScopesWithoutStepUp, isStepUpScope } from '../policy/step_up_scopes.ts';
import type { Context } from 'koa';
import { findAccountById } from '../accounts/accounts.ts';
import {
  clientNameOf,
  finishInteraction,
  formBody,
  loadInteraction,
  renderInteractionPage,
  type InteractionDeps,
  type InteractionDetails,
} from './context.ts';

/** What each scope lets a shop do, in the user's words. */
const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: 'Confirm who you are when you sign in',
  email: 'See your email address',
  profile: 'See your name',
  offline_access: 'Stay connected to your account while you are away',
};

const CLAIM_DESCRIPTIONS: Record<string, string> = {
  email: 'See your email address',
  email_verified: 'See whether your email address is confirmed',
  name: 'See your name',
};

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/** The consent page's list: one sentence per requested permission, without duplicates. */
export function describePermissions(details: Record<string, unknown>): string[] {
  const items = new Set<string>([SCOPE_DESCRIPTIONS.openid as string]);
  for (const scope of stringList(details.missingOIDCScope).filter((s) => !isStepUpScope(s))) items.add(SCOPE_DESCRIPTIONS[scope] ?? `Use the "${scope}" permission`);
  for (const claim of stringList(details.missingOIDCClaims)) items.add(CLAIM_DESCRIPTIONS[claim] ?? `See your "${claim}"`);
  const resources = details.missingResourceScopes;
  if (resources && typeof resources === 'object') {
    for (const [indicator, scopes] of Object.entries(resources as Record<string, unknown>)) {
      for (const scope of stringList(scopes).filter((s) => !isStepUpScope(s))) items.add(`${SCOPE_DESCRIPTIONS[scope] ?? `Use "${scope}"`} (at ${indicator})`);
    }
  }
  return [...items];
}

/** GET part: the consent page for a third-party shop (first-party shops never see it). */
export async function showConsent(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails): Promise<void> {
  const accountId = interaction.session?.accountId;
  const account = accountId ? await findAccountById(deps.conn, accountId) : null;
  const clientName = await clientNameOf(deps.provider, interaction);
  renderInteractionPage(ctx, deps, interaction, 'consent', {
    title: `Allow ${clientName}?`,
    clientName,
    accountEmail: account?.email,
    permissions: describePermissions(interaction.prompt.details),
    csrf: deps.csrf.tokenFor(interaction.uid),
  });
}

/** POST /interaction/:uid/confirm — grants what the consent page listed (OIDC scopes, claims, API scopes). */
export async function submitConsent(ctx: Context, deps: InteractionDeps): Promise<void> {
  const interaction = await loadInteraction(ctx, deps.provider);
  deps.csrf.verify(interaction.uid, formBody(ctx).csrf);
  const { prompt, params, session } = interaction;
  if (prompt.name !== 'consent' || !session?.accountId) {
    ctx.redirect(`/interaction/${interaction.uid}`);
    ctx.status = 303;
    return;
  }

  const { Grant } = deps.provider;
  const existing = interaction.grantId ? await Grant.find(interaction.grantId) : undefined;
  const grant = existing ?? new Grant({ accountId: session.accountId, clientId: String(params.client_id) });
  const missingScope = stringList(prompt.details.missingOIDCScope);
  grantScopesWithoutStepUp(grant, missingScope);
  const missingClaims = stringList(prompt.details.missingOIDCClaims);
  if (missingClaims.length > 0) grant.addOIDCClaims(missingClaims);
  const missingResourceScopes = prompt.details.missingResourceScopes;
  if (missingResourceScopes && typeof missingResourceScopes === 'object') {
    for (const [indicator, scopes] of Object.entries(missingResourceScopes as Record<string, unknown>)) {
      grantScopesWithoutStepUp(grant, stringList(scopes), indicator);
    }
  }
  const grantId = await grant.save();
  deps.logger.info({ event: 'consent.granted', accountId: session.accountId, clientId: params.client_id }, 'consent given');
  await finishInteraction(ctx, deps.provider, { consent: existing ? {} : { grantId } }, { mergeWithLastSubmission: true });
}
