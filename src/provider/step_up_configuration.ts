/**
 * The step-up parts of an oidc-provider configuration (docs/ARCHITECTURE.md "The step-up decision"), laid over any
 * base configuration: the acr values and the claims that carry them, the step-up scopes, the level-comparing
 * interaction policy, the accounts, first-party grants that never hand out a step-up scope without the policy's
 * consent, and the token rules (RFC 9470 claims in access tokens, no refresh token and no client-credentials token
 * for a step-up scope).
 *
 * `applyStepUp` refuses a base that already decides what it would replace (accounts, interaction policy or URL,
 * grant loading): two answers to one question would leave one of them silently unused.
 */
import type { Connection } from 'mongoose';
import {
  errors,
  type ClientMetadata,
  type Configuration,
  type Grant,
  type KoaContextWithOIDC,
} from 'oidc-provider';
import type { FactorRegistry } from '../factors/registry.ts';
import type { AuthenticationDeps } from '../authentication/request_state.ts';
import { grantScopesWithStepUp, isStepUpScope, limitStepUpScopes, STEP_UP_SCOPES } from '../policy/step_up_scopes.ts';
import { ACR_VALUES } from '../policy/acr.ts';
import { FIRST_PARTY_PROPERTY } from './clients.ts';
import { createFindAccount } from './find_account.ts';
import { OFFLINE_ACCESS_ASKED_PARAM, restoreOfflineAccess } from './offline_access.ts';
import { buildInteractionPolicy, evaluateAuthorization } from './step_up_policy.ts';
import { INTERACTION_PATH } from '../policy/interaction.ts';


/** Scopes the step-up adds besides those the `claims` map defines (`email`, `profile`). */
export const SCOPES: readonly string[] = ['openid', 'offline_access', ...STEP_UP_SCOPES];

/**
 * Claims per scope. `acr`, `amr` and `auth_time` sit under `openid` so every ID token carries them
 * (oidc-provider's default map holds only `sub`, which silently drops them). `invoice_eligibility` tells a shop
 * whether to offer paying by invoice (`invoice_eligible`: the account holds the invoice privilege); it proves nothing
 * and grants nothing — the `invoice` scope and its step-up do (docs/ARCHITECTURE.md "The shop side").
 */
export const CLAIMS = {
  openid: ['sub', 'acr', 'amr', 'auth_time'],
  email: ['email', 'email_verified'],
  profile: ['name'],
  invoice_eligibility: ['invoice_eligible'],
} as const;

/** True for a client registered with `first_party: true` (it skips the consent page). */
export function isFirstParty(client: { [key: string]: unknown } | undefined): boolean {
  return client?.[FIRST_PARTY_PROPERTY] === true;
}

/**
 * Refuses a client-credentials token carrying a step-up scope (`invalid_scope`). oidc-provider picks those scopes
 * from the request, checked only against the client's `scope` (`validateClientScope`) and, with `resource`, the
 * API's scopes; neither knows which scopes need a customer.
 */
export function refuseStepUpClientCredentials(scope: string | undefined): void {
  // Step-up scopes stand for a customer who proved a second factor: no customer is behind this token.
  const refused = (scope ?? '').split(' ').filter(isStepUpScope);
  if (refused.length > 0) {
    throw new errors.InvalidScope('a step-up scope is never issued through client credentials', refused.join(' '));
  }
}

/**
 * Consent is skipped for first-party clients: their grant is made (or topped up) here with everything they
 * asked for, step-up scopes only when the step-up policy allows them for this request. Third-party clients get the
 * consent page for anything not yet granted.
 */
/** What a grant grants and rejects, comparable across a request. */
function grantedOf(grant: Grant): string {
  const { openid, resources, rejected } = grant as Grant & { rejected?: unknown };
  return JSON.stringify([openid ?? null, resources ?? null, rejected ?? null]);
}

function createLoadExistingGrant(deps: AuthenticationDeps): (ctx: KoaContextWithOIDC) => Promise<Grant | undefined> {
  return async function loadExistingGrant(ctx) {
    const { client, session, provider } = ctx.oidc;
    if (!client || !session?.accountId) return undefined;
    const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
    let grant = grantId ? await provider.Grant.find(grantId) : undefined;
    if (grant && (grant.accountId !== session.accountId || grant.clientId !== client.clientId)) grant = undefined;
    const requested = new Set(ctx.oidc.requestParamScopes);
    const allowed = [...requested].some(isStepUpScope)
      ? new Set((await evaluateAuthorization(deps, ctx, session.accountId)).grantable)
      : new Set<string>();
    if (!isFirstParty(client)) {
      // A grant consented to earlier never hands out a step-up scope the policy does not allow for this request.
      if (!grant || ![...requested].some(isStepUpScope)) return grant;
      let changed = limitStepUpScopes(grant, ctx.oidc.requestParamOIDCScopes, allowed);
      for (const [indicator, resourceServer] of Object.entries(ctx.oidc.resourceServers ?? {})) {
        changed = limitStepUpScopes(grant, [...resourceServer.scopes].filter((scope) => requested.has(scope)), allowed, indicator) || changed;
      }
      if (changed) await grant.save();
      return grant;
    }

    // A stored grant is written only when this request changed what it grants (saving does not extend its life).
    const before = grant ? grantedOf(grant) : undefined;
    grant ??= new provider.Grant({ accountId: session.accountId, clientId: client.clientId });
    restoreOfflineAccess(ctx, grant);
    grantScopesWithStepUp(grant, ctx.oidc.requestParamOIDCScopes, allowed);
    const claims = [...ctx.oidc.requestParamClaims];
    if (claims.length > 0) grant.addOIDCClaims(claims);
    for (const [indicator, resourceServer] of Object.entries(ctx.oidc.resourceServers ?? {})) {
      const resourceScopes = [...resourceServer.scopes].filter((scope) => requested.has(scope));
      if (resourceScopes.length > 0) grantScopesWithStepUp(grant, resourceScopes, allowed, indicator);
    }
    if (grantedOf(grant) !== before) await grant.save();
    return grant;
  };
}

/** oidc-provider's `extraParams` (a list, or an object of validators) with `name` added. */
function withExtraParam(base: Configuration['extraParams'], name: string): NonNullable<Configuration['extraParams']> {
  if (base === undefined || Array.isArray(base) || base instanceof Set) return union(base as Iterable<string> | undefined, [name]);
  return { ...(base as Record<string, unknown>), [name]: null } as NonNullable<Configuration['extraParams']>;
}

function union(...lists: readonly (Iterable<string> | undefined)[]): string[] {
  return [...new Set(lists.flatMap((list) => [...(list ?? [])]))];
}

/** The claims map with `acr`/`amr`/`auth_time` under `openid` and our scopes' claims where the base has none. */
function mergeClaims(base: Configuration['claims']): NonNullable<Configuration['claims']> {
  const merged: Record<string, unknown> = Object.fromEntries(Object.entries(CLAIMS).map(([scope, names]) => [scope, [...names]]));
  for (const [scope, value] of Object.entries(base ?? {})) merged[scope] = value;
  const openid = (base as Record<string, unknown> | undefined)?.openid;
  merged.openid = union(Array.isArray(openid) ? (openid as string[]) : ['sub'], CLAIMS.openid);
  return merged as NonNullable<Configuration['claims']>;
}

/** oidc-provider's default `issueRefreshToken` (a base without one gets this behaviour). */
const defaultIssueRefreshToken: NonNullable<Configuration['issueRefreshToken']> = (_ctx, client, code) =>
  client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');

/**
 * How long a session's proofs must be kept: the longest of the session, grant and refresh-token lifetimes the base
 * configures as numbers (oidc-provider's defaults: 14 days), with a day of margin.
 */
export function proofsKeepMsOf(base: Configuration): number {
  const fortnight = 14 * 24 * 3600;
  const seconds = [base.ttl?.Session, base.ttl?.Grant, base.ttl?.RefreshToken].map((ttl) => (typeof ttl === 'number' ? ttl : fortnight));
  return (Math.max(...seconds) + 24 * 3600) * 1000;
}

/** What the step-up layer needs. */
export interface StepUpConfigurationDeps {
  readonly conn: Connection;
  readonly factors: FactorRegistry;
  /** How long a session's proofs are kept (see `AuthenticationDeps.proofsKeepMs`). */
  readonly proofsKeepMs?: number | undefined;
  /** The languages the pages speak, announced as `ui_locales_supported` (OpenID Connect Discovery 1.0 §3). */
  readonly uiLocales?: readonly string[] | undefined;
}

/**
 * `base` with the step-up parts laid over it (a new object; `base` is not changed). Throws when `base` already sets
 * `findAccount`, `loadExistingGrant`, `interactions.policy` or `interactions.url`.
 */
export function applyStepUp(base: Configuration, deps: StepUpConfigurationDeps): Configuration {
  const taken = [
    ...(base.findAccount ? ['findAccount (accounts live in the step-up store)'] : []),
    ...(base.loadExistingGrant ? ['loadExistingGrant (first-party grants and step-up scopes)'] : []),
    ...(base.interactions?.policy ? ['interactions.policy (the step-up check)'] : []),
    ...(base.interactions?.url ? [`interactions.url (the pages live at ${INTERACTION_PATH}/:uid)`] : []),
  ];
  if (taken.length > 0) throw new Error(`the step-up plugin provides, so the configuration must not set: ${taken.join('; ')}`);

  const stepUpDeps: AuthenticationDeps = { conn: deps.conn, factors: deps.factors, proofsKeepMs: deps.proofsKeepMs ?? proofsKeepMsOf(base) };
  const baseMetadata = base.extraClientMetadata;
  const baseExtraTokenClaims = base.extraTokenClaims;
  const baseIssueRefreshToken = base.issueRefreshToken ?? defaultIssueRefreshToken;

  return {
    ...base,
    findAccount: createFindAccount(stepUpDeps),
    acrValues: union(ACR_VALUES, base.acrValues),
    claims: mergeClaims(base.claims),
    scopes: union(base.scopes, SCOPES),
    extraParams: withExtraParam(base.extraParams, OFFLINE_ACCESS_ASKED_PARAM),
    discovery: {
      ...base.discovery,
      ...(deps.uiLocales && !base.discovery?.ui_locales_supported ? { ui_locales_supported: [...deps.uiLocales] } : {}),
    },
    extraClientMetadata: {
      ...baseMetadata,
      // A client's name per language (`client_name#de`, OpenID Connect Dynamic Client Registration 1.0 §2.1).
      properties: union(baseMetadata?.properties, [FIRST_PARTY_PROPERTY, ...(deps.uiLocales ?? []).map((language) => `client_name#${language}`)]),
      validator(ctx, key, value, metadata: ClientMetadata) {
        if (key === FIRST_PARTY_PROPERTY && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata(`${FIRST_PARTY_PROPERTY} must be a boolean`);
        }
        if (key.startsWith('client_name#') && value !== undefined && (typeof value !== 'string' || value.length > 200)) {
          throw new errors.InvalidClientMetadata(`${key} must be text of at most 200 characters`);
        }
        baseMetadata?.validator?.(ctx, key, value, metadata);
      },
    },
    features: {
      ...base.features,
      devInteractions: { enabled: false },
      // Essential `acr` requests (OIDC Core §5.5.1.1); judged by level in `step_up_policy.ts`.
      claimsParameter: { ...base.features?.claimsParameter, enabled: true },
    },
    // RFC 9470: the shop's API reads acr/amr/auth_time from the access token (JWT) or introspection (opaque).
    // Also the last hook before a client-credentials token is stored: it refuses step-up scopes there.
    async extraTokenClaims(ctx, token) {
      if (token.kind === 'ClientCredentials') refuseStepUpClientCredentials(token.scope);
      const own = await baseExtraTokenClaims?.(ctx, token);
      if (token.kind !== 'AccessToken') return own;
      const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
      if (!source) return own;
      return { ...own, acr: source.acr, amr: source.amr, auth_time: source.authTime };
    },
    // No refresh token for a code carrying a step-up scope: it would mint `invoice` access tokens long after the
    // second factor stopped being fresh (15 minutes); the shop steps up again instead.
    async issueRefreshToken(ctx, client, code) {
      return !([...code.scopes].some(isStepUpScope)) && await baseIssueRefreshToken(ctx, client, code);
    },
    loadExistingGrant: createLoadExistingGrant(stepUpDeps),
    interactions: {
      ...base.interactions,
      policy: buildInteractionPolicy(stepUpDeps),
      url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`,
    },
  };
}
