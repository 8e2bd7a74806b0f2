/**
 * The step-up decision (docs/ARCHITECTURE.md "The step-up decision"), as pure functions over plain inputs: no I/O,
 * the clock passed in.
 *
 * When MFA is required, first match wins:
 * 1. the request's `acr_values`, essential `acr` claim or the client's `default_acr_values` ask for a level above
 *    the session's (compared by level; unknown values ignored; the PAPE multi-factor URI = level 2);
 * 2. a requested step-up scope needs it (`invoice`: level 2, second factor no older than 15 minutes), for accounts
 *    holding the scope's privilege only — others are not prompted and do not get the scope;
 * 3. the company policy is `forced`, or the customer asked for a code at every sign-in;
 * 0. before all of these: the password was reset by emailed link and the account holds a factor beyond the mailbox
 *    (the app, recovery codes) not proven since: that factor, whatever the session proved (a mailed code does not do).
 * Required at a level the account's factors cannot prove: enrolment when policy demands it (forced company,
 * privileged step-up scope, the customer's own "ask at every sign-in"), or when the account already holds a weaker
 * factor (it may add a stronger one); otherwise `unmet` (`unmet_authentication_requirements`). An account that holds
 * a usable factor always proves its strongest one in this session first, then enrols: knowing the password is never
 * enough to bind a new factor (OWASP ASVS 2.5.5 / 7.5.1).
 */
import { LEVEL, defaultAcrPolicy, type AcrPolicy } from './acr.ts';

/** A step-up scope's rule: the level it needs, how fresh the second factor must be, who may receive it. */
export interface StepUpScopeRule {
  readonly level: number;
  /** Maximum age of the second factor, in seconds. */
  readonly maxAgeSeconds: number;
  /** The account privilege the scope is reserved to. */
  readonly privilege: string;
}

/** Default step-up scopes: `invoice` needs level 2 within 15 minutes, for accounts with the `invoice` privilege. */
export const STEP_UP_SCOPE_RULES: Readonly<Record<string, StepUpScopeRule>> = Object.freeze({
  invoice: Object.freeze({ level: LEVEL.mfa, maxAgeSeconds: 15 * 60, privilege: 'invoice' }),
});

export type StepUpReason = 'acr_values' | 'step_up_scope' | 'company_policy' | 'every_sign_in' | 'password_reset';

/** What the decision looks at. */
export interface StepUpInput {
  /** The session's level (0: nobody signed in; 1: password only). */
  readonly sessionLevel: number;
  /** When a second factor proving at least each level was last done in this session (keys: levels 2, 3). */
  readonly secondFactorAt: Readonly<Record<number, Date | undefined>>;
  /** `acr_values` of the request. */
  readonly acrValues?: readonly string[];
  /** Values of an essential `acr` claim (`claims` parameter). */
  readonly essentialAcr?: readonly string[];
  /** The client's `default_acr_values` (used when the request has no `acr_values`). */
  readonly defaultAcrValues?: readonly string[];
  /** The requested scopes. */
  readonly scopes: readonly string[];
  readonly privileges: readonly string[];
  readonly companyPolicy?: 'forced' | 'opt_in' | null;
  /** The customer's "ask for a code at every sign-in". */
  readonly askEverySignIn?: boolean;
  /** The password was reset by emailed link since the account's last second-factor proof beyond the mailbox. */
  readonly secondFactorDue?: boolean;
  /** Levels of the usable factors that do not deliver to the account's mailbox (the app, recovery codes). */
  readonly beyondMailboxLevels?: readonly number[];
  /** This session proved such a factor (a mailed code does not count after a reset by mail). */
  readonly beyondMailboxProven?: boolean;
  /** Levels of the account's usable (enrolled) factors. */
  readonly enrolledLevels: readonly number[];
  readonly now: Date;
}

/**
 * How recent the proof of the account's strongest factor must be before a new factor is enrolled during a sign-in:
 * 5 minutes, the console's re-authentication window.
 */
export const ENROLMENT_PROOF_MAX_AGE_SECONDS = 5 * 60;

export type StepUpDecision =
  | { readonly required: false }
  | { readonly required: true; readonly level: number; readonly maxAgeSeconds?: number; readonly reason: StepUpReason; readonly enrol: boolean }
  | { readonly unmet: true; readonly level: number; readonly reason: StepUpReason };

export interface StepUpOptions {
  readonly acr?: AcrPolicy;
  readonly scopeRules?: Readonly<Record<string, StepUpScopeRule>>;
}

/** Whether a second factor proving at least `level` was done no longer than `maxAgeSeconds` ago. */
export function secondFactorFresh(input: Pick<StepUpInput, 'secondFactorAt' | 'now'>, level: number, maxAgeSeconds?: number): boolean {
  for (const [key, at] of Object.entries(input.secondFactorAt)) {
    if (!at || Number(key) < level) continue;
    if (maxAgeSeconds === undefined || input.now.getTime() - at.getTime() <= maxAgeSeconds * 1000) return true;
  }
  return false;
}

/**
 * The level the request asks for through acr values (0 when none is known). The client's `default_acr_values` are a
 * floor, not only a default (OIDC Dynamic Client Registration §2 uses them when a request names none): an app
 * registered as needing a second factor keeps needing it when the browser edits a weaker value into the request.
 */
export function requestedAcrLevel(input: Pick<StepUpInput, 'acrValues' | 'essentialAcr' | 'defaultAcrValues'>, acr: AcrPolicy = defaultAcrPolicy): number {
  return Math.max(acr.requiredLevel([...(input.acrValues ?? []), ...(input.essentialAcr ?? [])]), acr.requiredLevel(input.defaultAcrValues ?? []));
}

/** The step-up scopes among `scopes` this account may receive now (privilege held, level and freshness met). */
export function grantableStepUpScopes(input: StepUpInput, options: StepUpOptions = {}): string[] {
  const rules = options.scopeRules ?? STEP_UP_SCOPE_RULES;
  return input.scopes.filter((scope) => {
    const rule = rules[scope];
    return rule !== undefined && input.privileges.includes(rule.privilege)
      && input.sessionLevel >= rule.level && secondFactorFresh(input, rule.level, rule.maxAgeSeconds);
  });
}

/** The decision (first match wins, see the module comment). */
export function decideStepUp(input: StepUpInput, options: StepUpOptions = {}): StepUpDecision {
  const rules = options.scopeRules ?? STEP_UP_SCOPE_RULES;
  // An essential acr naming no value this provider knows cannot be answered with one of its values, which OIDC Core
  // §5.5.1.1 requires: the authentication fails rather than answering another value.
  const essential = input.essentialAcr ?? [];
  if (essential.length > 0 && (options.acr ?? defaultAcrPolicy).requiredLevel(essential) === LEVEL.none) {
    return { unmet: true, level: LEVEL.none, reason: 'acr_values' };
  }
  const canMeet = (level: number): boolean => input.enrolledLevels.some((enrolled) => enrolled >= level);
  // A reset link proves only the mailbox, and so does a mailed code: an account holding a factor beyond the mailbox
  // proves it before the reset counts as a sign-in at any level, whatever else this session proved (NIST SP 800-63B
  // §6.1.2.3: a lost factor is replaced after proving the remaining one).
  if (input.secondFactorDue && !input.beyondMailboxProven && (input.beyondMailboxLevels ?? []).some((level) => level >= LEVEL.mfa)) {
    return { required: true, level: LEVEL.mfa, reason: 'password_reset', enrol: false };
  }
  const strongest = Math.max(LEVEL.none, ...input.enrolledLevels);
  const need = (level: number, reason: StepUpReason, mayEnrol: boolean, maxAgeSeconds?: number): StepUpDecision => {
    const age = maxAgeSeconds === undefined ? {} : { maxAgeSeconds };
    if (canMeet(level)) return { required: true, level, reason, enrol: false, ...age };
    if (!mayEnrol) return { unmet: true, level, reason };
    // Held factors are proven before a stronger one is added.
    if (strongest >= LEVEL.mfa && !secondFactorFresh(input, strongest, ENROLMENT_PROOF_MAX_AGE_SECONDS)) {
      return { required: true, level: strongest, reason, enrol: false, maxAgeSeconds: ENROLMENT_PROOF_MAX_AGE_SECONDS };
    }
    return { required: true, level, reason, enrol: true, ...age };
  };

  // acr_values alone never make a customer without any factor enrol; an account whose policy demands enrolment anyway
  // (forced company, privileged step-up scope in this request, "ask at every sign-in") enrols a factor strong enough
  // for the requested level (level 3: the app), and so may an account that holds a weaker factor.
  const policyDemandsEnrolment = input.companyPolicy === 'forced' || input.askEverySignIn === true
    || input.scopes.some((scope) => rules[scope] !== undefined && input.privileges.includes((rules[scope] as StepUpScopeRule).privilege));
  const acrLevel = requestedAcrLevel(input, options.acr);
  if (acrLevel > input.sessionLevel && acrLevel >= LEVEL.mfa) return need(acrLevel, 'acr_values', policyDemandsEnrolment || strongest >= LEVEL.mfa);

  for (const scope of input.scopes) {
    const rule = rules[scope];
    if (!rule || !input.privileges.includes(rule.privilege)) continue;
    if (input.sessionLevel >= rule.level && secondFactorFresh(input, rule.level, rule.maxAgeSeconds)) continue;
    return need(rule.level, 'step_up_scope', true, rule.maxAgeSeconds);
  }

  if (input.sessionLevel < LEVEL.mfa) {
    if (input.companyPolicy === 'forced') return need(LEVEL.mfa, 'company_policy', true);
    // A customer who asked for a code at every sign-in and has no factor left (reset by support or an admin) sets up
    // a new one: never a dead end.
    if (input.askEverySignIn) return need(LEVEL.mfa, 'every_sign_in', true);
  }
  return { required: false };
}
