/**
 * The authentication state of a browser session, and what is derived from it (pure: no I/O, the clock passed in).
 *
 * The state holds when the password and each second factor were proven, for one account under one credentials epoch.
 * Everything else is derived (ory/kratos style): the level and `acr`, `amr` (RFC 8176), the time of the latest
 * authentication (`auth_time`, OIDC Core §2), and per level when a factor proving it was last done. Proofs older
 * than a request's `max_age` (OIDC Core §3.1.2.1) do not count for that request.
 */
import { LEVEL, PASSWORD_METHOD, acrFromFactors, amrFor, levelFromMethods, type CompletedMethod } from '../policy/acr.ts';

/** One proof: when, and in which interaction (sign-in page flow) it was made. */
export interface Proof {
  readonly at: Date;
  /** The uid of the interaction that recorded it (absent when made elsewhere). */
  readonly interaction?: string | undefined;
}

/** The proofs of one browser session (or of the login interaction holding them until its session exists). */
export interface AuthenticationState {
  readonly accountId: string;
  /** The account's credentials epoch when the password was proven. */
  readonly epoch: number;
  readonly password: Proof;
  /** Factor id → its last proof in this session. */
  readonly factors: Readonly<Record<string, Proof>>;
}

/**
 * Which proofs count for a request: with `max_age` (OIDC Core §3.1.2.1) only those made after `since`, or in the
 * interaction `interaction` itself (its proofs came after the request, whatever the clock's resolution says).
 */
export interface ProofWindow {
  readonly since?: Date | undefined;
  readonly interaction?: string | undefined;
}

/** What the derivation needs to know of a factor: the level it proves and its `amr` values. */
export interface ProvenFactor {
  readonly id: string;
  readonly level: number;
  readonly amr: readonly string[];
}

/** What a state proves (for one request: proofs older than its `max_age` left out). */
export interface Proven {
  /** 0: nothing (no state, another account, an old epoch, or the password too old for this request). */
  readonly level: number;
  readonly acr: string | undefined;
  readonly amr: string[];
  /** The latest proof counted. */
  readonly authTime: Date | undefined;
  /** When a second factor proving at least each level (2, 3) was last done. */
  readonly secondFactorAt: Readonly<Record<number, Date | undefined>>;
}

const NOTHING: Proven = Object.freeze({ level: LEVEL.none, acr: undefined, amr: [], authTime: undefined, secondFactorAt: Object.freeze({}) });

/** Whether `state` is a live proof of `account` under its current credentials epoch. */
export function isCurrent(state: AuthenticationState | undefined, account: { id: string; credentialsEpoch: number } | null | undefined): state is AuthenticationState {
  return state !== undefined && account !== null && account !== undefined && state.accountId === account.id && state.epoch === account.credentialsEpoch;
}

/** Whether `proof` counts in `window`. */
export function counts(proof: Proof, window: ProofWindow = {}): boolean {
  if (window.since === undefined) return true;
  if (window.interaction !== undefined && proof.interaction === window.interaction) return true;
  return proof.at.getTime() > window.since.getTime();
}

/**
 * What `state` proves for `account`, counting only the proofs in `window`; without a counting password proof it
 * proves nothing at all — a second factor never stands alone.
 */
export function deriveProven(
  state: AuthenticationState | undefined,
  account: { id: string; credentialsEpoch: number } | null | undefined,
  factors: (id: string) => ProvenFactor | undefined,
  window: ProofWindow = {},
): Proven {
  if (!isCurrent(state, account)) return NOTHING;
  if (!counts(state.password, window)) return NOTHING;
  const methods: CompletedMethod[] = [PASSWORD_METHOD];
  const secondFactorAt: Record<number, Date | undefined> = {};
  let authTime = state.password.at;
  for (const [id, proof] of Object.entries(state.factors)) {
    const factor = factors(id);
    if (!factor || !counts(proof, window)) continue;
    const { at } = proof;
    methods.push({ level: factor.level, amr: factor.amr });
    if (at > authTime) authTime = at;
    for (let level = LEVEL.mfa; level <= factor.level; level += 1) {
      const previous = secondFactorAt[level];
      if (!previous || at > previous) secondFactorAt[level] = at;
    }
  }
  return { level: levelFromMethods(methods), acr: acrFromFactors(methods), amr: amrFor(methods), authTime, secondFactorAt };
}

/** The times of the proofs made in the interaction `interaction`, latest first; empty when none. */
export function proofsOf(state: AuthenticationState | undefined, interaction: string): Date[] {
  if (!state) return [];
  return [state.password, ...Object.values(state.factors)]
    .filter((proof) => proof.interaction === interaction)
    .map((proof) => proof.at)
    .sort((a, b) => b.getTime() - a.getTime());
}
