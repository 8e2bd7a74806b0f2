/**
 * Gathers the step-up decision's inputs for one account and one authorization request (account privileges, company
 * policy, enrolled factors, the session's second-factor times) and decides. Shared by the interaction-policy check
 * and the interaction pages, so both always agree.
 */
import type { Connection } from 'mongoose';
import { findAccountById, signInMfaEnabled } from '../accounts/accounts.ts';
import { findCompanyById } from '../accounts/companies.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { LEVEL, levelOf } from './acr.ts';
import { loadSecondFactorTimes } from './second_factor_times.ts';
import { decideStepUp, grantableStepUpScopes, type StepUpDecision, type StepUpInput } from './step_up.ts';

export interface StepUpRequest {
  readonly accountId: string;
  /** The oidc-provider session uid (absent before the first login of a browser). */
  readonly sessionUid?: string;
  /** The session's acr (absent before the first login). */
  readonly sessionAcr?: string;
  readonly acrValues: readonly string[];
  readonly essentialAcr: readonly string[];
  readonly defaultAcrValues: readonly string[];
  readonly scopes: readonly string[];
}

export interface StepUpDeps {
  readonly conn: Connection;
  readonly factors?: FactorRegistry;
}

function words(value: unknown): string[] {
  return typeof value === 'string' ? value.split(' ').filter(Boolean) : [];
}

/** The essential `acr` values of a `claims` parameter (JSON text or object); none when absent or not essential. */
export function essentialAcrOf(claims: unknown): string[] {
  let parsed: unknown = claims;
  if (typeof claims === 'string') {
    try {
      parsed = JSON.parse(claims);
    } catch {
      return [];
    }
  }
  const acr = (parsed as { id_token?: { acr?: { essential?: unknown; value?: unknown; values?: unknown } } } | undefined)?.id_token?.acr;
  if (!acr || acr.essential !== true) return [];
  if (typeof acr.value === 'string') return [acr.value];
  return Array.isArray(acr.values) ? acr.values.filter((v): v is string => typeof v === 'string') : [];
}

/** A request's step-up parameters from authorization parameters (`acr_values`, `claims`, `scope`). */
export function requestFromParams(params: Record<string, unknown>, defaultAcrValues: readonly string[] = []): Pick<StepUpRequest, 'acrValues' | 'essentialAcr' | 'defaultAcrValues' | 'scopes'> {
  return { acrValues: words(params.acr_values), essentialAcr: essentialAcrOf(params.claims), defaultAcrValues, scopes: words(params.scope) };
}

/** The decision's input for `request`, read from the store. */
export async function loadStepUpInput(deps: StepUpDeps, request: StepUpRequest, now: Date = new Date()): Promise<StepUpInput> {
  const account = await findAccountById(deps.conn, request.accountId);
  const company = account?.companyId ? await findCompanyById(deps.conn, account.companyId) : null;
  const usable = deps.factors ? await deps.factors.usableFactors(request.accountId, LEVEL.mfa) : [];
  return {
    sessionLevel: levelOf(request.sessionAcr) ?? LEVEL.none,
    secondFactorAt: await loadSecondFactorTimes(deps.conn, request.sessionUid, request.accountId),
    acrValues: request.acrValues,
    essentialAcr: request.essentialAcr,
    defaultAcrValues: request.defaultAcrValues,
    scopes: request.scopes,
    privileges: account?.privileges ?? [],
    companyPolicy: company?.mfaPolicy ?? null,
    askEverySignIn: account ? await signInMfaEnabled(deps.conn, account.id) : false,
    enrolledLevels: usable.map((factor) => factor.level),
    now,
  };
}

export async function evaluateStepUp(deps: StepUpDeps, request: StepUpRequest): Promise<StepUpDecision> {
  return decideStepUp(await loadStepUpInput(deps, request));
}

export async function grantableScopes(deps: StepUpDeps, request: StepUpRequest): Promise<string[]> {
  return grantableStepUpScopes(await loadStepUpInput(deps, request));
}
