/**
 * The proofs of a browser that has no provider session yet, held by its login interaction.
 *
 * oidc-provider creates a browser's session only when the login resumes (`/auth/:uid`), and gives it a new uid then;
 * until that moment the proofs of the sign-in (the password, then a second factor) belong to the interaction — kept
 * server-side in its result, as oidc-provider keeps the login result itself — and move into the session's
 * authentication state (`proofs.ts`) when the login resumes. A browser that already has a session records its proofs
 * in that session's state directly.
 *
 * The held proofs are written with the interaction: whoever saves it next carries them ({@link carryHeldProofs});
 * a request that recorded one and saved nothing after saves the interaction at its end ({@link saveHeldProofs}).
 */
import type { AuthenticationState, Proof } from './state.ts';

/** Where the held proofs sit in the interaction's result. */
export const HELD_PROOFS_KEY = 'authenticationState';

/** What of an interaction the held proofs need: its uid, its result, a way to save it. */
export interface HoldingInteraction {
  readonly uid: string;
  result?: Record<string, unknown> | undefined;
  persist(): Promise<unknown>;
}

interface HeldProof {
  /** Milliseconds since the epoch. */
  at: number;
  /** The interaction that recorded it. */
  in?: string;
}

interface Held {
  accountId: string;
  epoch: number;
  password: HeldProof;
  factors: Record<string, HeldProof>;
}

/** Interactions whose held proofs changed since they were last saved. */
const unsaved = new WeakSet<HoldingInteraction>();

function toHeld(proof: Proof): HeldProof {
  return { at: proof.at.getTime(), ...(proof.interaction ? { in: proof.interaction } : {}) };
}

function fromHeld(held: unknown): Proof | undefined {
  if (!held || typeof held !== 'object') return undefined;
  const { at, in: interaction } = held as Partial<HeldProof>;
  if (typeof at !== 'number' || !Number.isFinite(at)) return undefined;
  return { at: new Date(at), ...(typeof interaction === 'string' ? { interaction } : {}) };
}

/** The proofs stored in an interaction result (`undefined`: none, or not readable as proofs). */
export function heldProofsIn(result: unknown): AuthenticationState | undefined {
  const held = result && typeof result === 'object' ? (result as Record<string, unknown>)[HELD_PROOFS_KEY] : undefined;
  if (!held || typeof held !== 'object') return undefined;
  const { accountId, epoch, password, factors } = held as Partial<Held>;
  const passwordProof = fromHeld(password);
  if (typeof accountId !== 'string' || typeof epoch !== 'number' || !passwordProof) return undefined;
  const factorProofs: Record<string, Proof> = {};
  for (const [id, record] of Object.entries(factors ?? {})) {
    const proof = fromHeld(record);
    if (proof) factorProofs[id] = proof;
  }
  return { accountId, epoch, password: passwordProof, factors: factorProofs };
}

/** Puts `state` in the interaction (in memory: it is written with the interaction's next save). */
export function holdProofs(interaction: HoldingInteraction, state: AuthenticationState): void {
  const held: Held = {
    accountId: state.accountId,
    epoch: state.epoch,
    password: toHeld(state.password),
    factors: Object.fromEntries(Object.entries(state.factors).map(([id, proof]) => [id, toHeld(proof)])),
  };
  interaction.result = { ...interaction.result, [HELD_PROOFS_KEY]: held };
  unsaved.add(interaction);
}

/**
 * The result to save in place of the interaction's current one, carrying its held proofs along (an error result, or
 * `drop`, leaves them behind: the sign-in ends or starts over).
 */
export function carryHeldProofs<R extends object>(interaction: HoldingInteraction, result: R, options: { drop?: boolean } = {}): R {
  unsaved.delete(interaction);
  const held = interaction.result?.[HELD_PROOFS_KEY];
  if (held === undefined || options.drop || 'error' in result) return result;
  return { ...result, [HELD_PROOFS_KEY]: held };
}

/** Saves the interaction when its held proofs changed and nothing saved it since. */
export async function saveHeldProofs(interaction: HoldingInteraction): Promise<void> {
  if (!unsaved.has(interaction)) return;
  unsaved.delete(interaction);
  await interaction.persist();
}
