import { grantScopesWithStepUp, isStepUpScope } from '../policy/step_up_scopes.ts';
import { evaluateStepUp } from '../authentication/request_state.ts';
import { requestFromParams } from '../policy/step_up_params.ts';
import { proofWindowOf } from './step_up_state.ts';
import type { Context } from 'koa';
import { noteLanguageHints } from '../http/language.ts';
import { findAccountById } from '../accounts/accounts.ts';
import { clientNameOf, finishInteraction, loadInteraction, renderInteractionPage, type InteractionDeps, type InteractionDetails } from './context.ts';
import { formBody } from '../http/forms.ts';
import { allowImages } from '../http/security_headers.ts';
import { msg, type Message } from '../i18n/languages.ts';

/** What each scope lets a shop do, in the user's words (`consent.permission.*`); scopes saying the same share one. */
const SCOPE_PERMISSIONS: Record<string, string> = {
  openid: 'consent.permission.sign_in',
  email: 'consent.permission.email',
  profile: 'consent.permission.name',
  offline_access: 'consent.permission.offline_access',
  invoice: 'consent.permission.invoice',
  invoice_eligibility: 'consent.permission.invoice_eligibility',
};

const CLAIM_PERMISSIONS: Record<string, string> = {
  email: 'consent.permission.email',
  email_verified: 'consent.permission.email_verified',
  name: 'consent.permission.name',
};

/** One line of the consent page: what the shop may do, and at which API (a resource indicator, RFC 8707). */
export interface Permission {
  readonly message: Message;
  readonly resource?: string;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/**
 * The consent page's list: one sentence per requested permission, without duplicates. Step-up scopes are listed
 * only when `allowedStepUp` holds them (the policy grants them for this request); otherwise they are not granted.
 */
export function describePermissions(details: Record<string, unknown>, allowedStepUp: ReadonlySet<string> = new Set()): Permission[] {
  const items = new Map<string, Permission>();
  const add = (item: Permission): void => {
    const key = JSON.stringify([item.message.id, item.message.values ?? {}, item.resource ?? null]);
    if (!items.has(key)) items.set(key, item);
  };
  add({ message: msg('consent.permission.sign_in') });
  const shown = (s: string): boolean => !isStepUpScope(s) || allowedStepUp.has(s);
  for (const scope of stringList(details.missingOIDCScope).filter(shown)) {
    const known = SCOPE_PERMISSIONS[scope];
    add({ message: known ? msg(known) : msg('consent.permission.other_scope', { scope }) });
  }
  for (const claim of stringList(details.missingOIDCClaims)) {
    const known = CLAIM_PERMISSIONS[claim];
    add({ message: known ? msg(known) : msg('consent.permission.other_claim', { claim }) });
  }
  const resources = details.missingResourceScopes;
  if (resources && typeof resources === 'object') {
    for (const [indicator, scopes] of Object.entries(resources as Record<string, unknown>)) {
      for (const scope of stringList(scopes).filter(shown)) {
        const known = SCOPE_PERMISSIONS[scope];
        add({ message: known ? msg(known) : msg('consent.permission.resource_scope', { scope }), resource: indicator });
      }
    }
  }
  return [...items.values()];
}

/** The step-up scopes the policy allows for this interaction's session and request. */
async function allowedStepUpScopes(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails): Promise<Set<string>> {
  const { params, session } = interaction;
  if (!session?.accountId) return new Set();
  const client = await deps.provider.Client.find(String(params.client_id ?? ''));
  const evaluation = await evaluateStepUp(deps, ctx.req, {
    accountId: session.accountId,
    holder: session.uid ? { sessionUid: session.uid } : undefined,
    params: requestFromParams(params, (client?.defaultAcrValues ?? []) as readonly string[]),
    window: proofWindowOf(interaction),
  });
  return new Set(evaluation.grantable);
}

/** GET part: the consent page for a third-party shop (first-party shops never see it). */
export async function showConsent(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails): Promise<void> {
  const accountId = interaction.session?.accountId;
  const account = accountId ? await findAccountById(deps.conn, accountId) : null;
  noteLanguageHints(ctx, { account });
  const clientName = await clientNameOf(ctx, deps.provider, interaction);
  // The shop's logo and pages as registered (https, or http on a loopback host: `client add --logo-uri …`).
  const client = await deps.provider.Client.find(String(interaction.params.client_id ?? ''));
  const pages = client as unknown as { logoUri?: string; policyUri?: string; tosUri?: string } | undefined;
  if (pages?.logoUri) allowImages(ctx, [pages.logoUri]);
  renderInteractionPage(ctx, deps, interaction, 'consent', {
    title: msg('consent.title', { client: clientName }),
    clientName,
    clientLogo: pages?.logoUri,
    policyUri: pages?.policyUri,
    tosUri: pages?.tosUri,
    accountEmail: account?.email,
    permissions: describePermissions(interaction.prompt.details, await allowedStepUpScopes(ctx, deps, interaction)),
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
  // Step-up scopes only when the policy allows them now (privilege, level, fresh second factor of this session).
  const allowed = await allowedStepUpScopes(ctx, deps, interaction);
  const missingScope = stringList(prompt.details.missingOIDCScope);
  grantScopesWithStepUp(grant, missingScope, allowed);
  const missingClaims = stringList(prompt.details.missingOIDCClaims);
  if (missingClaims.length > 0) grant.addOIDCClaims(missingClaims);
  const missingResourceScopes = prompt.details.missingResourceScopes;
  if (missingResourceScopes && typeof missingResourceScopes === 'object') {
    for (const [indicator, scopes] of Object.entries(missingResourceScopes as Record<string, unknown>)) {
      grantScopesWithStepUp(grant, stringList(scopes), allowed, indicator);
    }
  }
  const grantId = await grant.save();
  deps.logger.info({ event: 'consent.granted', accountId: session.accountId, clientId: params.client_id }, 'consent given');
  await finishInteraction(ctx, interaction, { consent: existing ? {} : { grantId } }, { mergeWithLastSubmission: true });
}
