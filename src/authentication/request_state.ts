/**
 * The one way to read the authentication state and what the step-up decision needs, loaded **once per request**:
 * the interaction policy, the interaction pages, `loadExistingGrant`, `findAccount` and the token checks of one HTTP
 * request share what this module loaded for it (kept per request object, so oidc-provider's context and the
 * interaction routes' context see the same). Recording a proof goes through here too, so a request that proves
 * something and then decides sees its own proof without reading again.
 *
 * Per account: the account (privileges, "ask at every sign-in", credentials epoch), its company's policy and its
 * usable factors. Per session: the proofs (`proofs.ts`) — or, for a browser without a session yet, the proofs its
 * login interaction holds until the login resumes (`held_proofs.ts`). The decision itself stays pure
 * (`src/policy/step_up.ts`).
 */
import type { IncomingMessage } from 'node:http';
import type { Connection } from 'mongoose';
import { accountFromDocument, findAccountById, findAccountByIdJoined, type Account } from '../accounts/accounts.ts';
import { findCompanyById } from '../accounts/companies.ts';
import { reachesMailbox, type Factor } from '../factors/contract.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { LEVEL } from '../policy/acr.ts';
import { decideStepUp, grantableStepUpScopes, type StepUpDecision, type StepUpInput } from '../policy/step_up.ts';
import type { StepUpParams } from '../policy/step_up_params.ts';
import { heldProofsIn, holdProofs, saveHeldProofs, type HoldingInteraction } from './held_proofs.ts';
import { PROOFS_COLLECTION, findProofs, proofsFromDocument, recordFactorProof, recordPasswordProof, storeProofs } from './proofs.ts';
import { readBefore } from '../store/request_reads.ts';
import { deriveProven, isCurrent, type AuthenticationState, type Proof, type ProofWindow, type Proven } from './state.ts';

/** What the loader needs. */
export interface AuthenticationDeps {
  readonly conn: Connection;
  readonly factors?: FactorRegistry | undefined;
  /**
   * How long a session's proofs are kept after their last write, in milliseconds: at least as long as a session and
   * every grant issued from it live (refresh tokens are checked against them). Default 30 days.
   */
  readonly proofsKeepMs?: number | undefined;
}

/** Default of {@link AuthenticationDeps.proofsKeepMs}: 30 days. */
export const DEFAULT_PROOFS_KEEP_MS = 30 * 24 * 3_600_000;

/** An account as the step-up sees it. */
export interface AccountFacts {
  /** `null` when the account is unknown or disabled: it proves nothing and may not sign in. */
  readonly account: Account | null;
  readonly companyPolicy: 'forced' | 'opt_in' | null;
}

/**
 * Where a sign-in's proofs are recorded: the browser's provider session, or the login interaction of a browser that
 * has none yet (`held_proofs.ts`).
 */
export type ProofHolder = { readonly sessionUid: string } | { readonly interaction: HoldingInteraction };

interface Memo {
  readonly accounts: Map<string, Promise<AccountFacts>>;
  /** Active factors proving at least level 2 (loaded only when a decision needs them). */
  readonly usable: Map<string, Promise<readonly Factor[]>>;
  /** By session uid, or by {@link heldKey} for an interaction's held proofs. */
  readonly states: Map<string, Promise<AuthenticationState | undefined>>;
  /** Interactions whose held proofs this request recorded (saved at its end if nothing else saved them). */
  readonly holding: Set<HoldingInteraction>;
  /** Held proofs this request moved into the session it resumed a login into, by session uid (stored at its end). */
  readonly adopted: Map<string, AuthenticationState>;
}

const memos = new WeakMap<object, Memo>();

function memoOf(request: object): Memo {
  let memo = memos.get(request);
  if (!memo) {
    memo = { accounts: new Map(), usable: new Map(), states: new Map(), holding: new Set(), adopted: new Map() };
    memos.set(request, memo);
  }
  return memo;
}

/** The request object a context stands for (Koa and oidc-provider contexts of one request share `req`). */
export type RequestKey = IncomingMessage | object;

/** The collection of the accounts (read along with a request's first read). */
const ACCOUNTS_COLLECTION = 'accounts';

/**
 * What this request's first read fetched along (`src/provider/read_plan.ts`) of the account and of a session's proofs:
 * a document, `null` (fetched: there is none) or `undefined` (not fetched).
 */
function fetchedAlong(deps: AuthenticationDeps, collection: string, id: string): unknown {
  return deps.conn.db ? readBefore(deps.conn.db, collection, id) : undefined;
}

function fetchedAccount(deps: AuthenticationDeps, accountId: string): Account | null | undefined {
  const doc = fetchedAlong(deps, ACCOUNTS_COLLECTION, accountId);
  return doc === undefined ? undefined : accountFromDocument(doc);
}

function fetchedProofs(deps: AuthenticationDeps, sessionUid: string): { state: AuthenticationState | undefined } | undefined {
  const doc = fetchedAlong(deps, PROOFS_COLLECTION, sessionUid);
  return doc === undefined ? undefined : { state: proofsFromDocument(doc) };
}

/** The facts of `accountId`; `known` is the account already read (`null`: read, and not found). */
async function loadAccountFacts(deps: AuthenticationDeps, accountId: string, known?: Account | null): Promise<AccountFacts> {
  const fetched = known !== undefined ? known : fetchedAccount(deps, accountId);
  const found = fetched !== undefined ? fetched : await findAccountById(deps.conn, accountId);
  const account = found && found.status === 'active' ? found : null;
  if (!account) return { account: null, companyPolicy: null };
  const company = account.companyId ? await findCompanyById(deps.conn, account.companyId) : null;
  return { account, companyPolicy: company?.mfaPolicy ?? null };
}

function remember<T>(map: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let pending = map.get(key);
  if (!pending) {
    pending = load();
    map.set(key, pending);
    pending.catch(() => map.delete(key));
  }
  return pending;
}

/** The account's facts for this request (loaded once). */
export function accountFacts(deps: AuthenticationDeps, request: RequestKey, accountId: string): Promise<AccountFacts> {
  return remember(memoOf(request).accounts, accountId, () => loadAccountFacts(deps, accountId));
}

/** Hands this request an account it has just read (the password check): it is not read again. */
export function knownAccount(deps: AuthenticationDeps, request: RequestKey, account: Account): void {
  const memo = memoOf(request);
  memo.accounts.delete(account.id);
  remember(memo.accounts, account.id, () => loadAccountFacts(deps, account.id, account)).catch(() => undefined);
}

/** The account's active factors proving at least level 2 for this request (loaded once, when first asked). */
export function usableFactors(deps: AuthenticationDeps, request: RequestKey, accountId: string): Promise<readonly Factor[]> {
  return remember(memoOf(request).usable, accountId, async () => (deps.factors ? deps.factors.usableFactors(accountId, LEVEL.mfa) : []));
}

/** The proofs of a session for this request (loaded once); `undefined` without a session or proofs. */
export function sessionProofs(deps: AuthenticationDeps, request: RequestKey, sessionUid: string | undefined): Promise<AuthenticationState | undefined> {
  if (!sessionUid) return Promise.resolve(undefined);
  return remember(memoOf(request).states, sessionUid, async () => {
    const fetched = fetchedProofs(deps, sessionUid);
    return fetched ? fetched.state : findProofs(deps.conn, sessionUid);
  });
}

function heldKey(interaction: HoldingInteraction): string {
  return `interaction:${interaction.uid}`;
}

/** The proofs a holder has for this request (loaded once). */
export function holderProofs(deps: AuthenticationDeps, request: RequestKey, holder: ProofHolder | undefined): Promise<AuthenticationState | undefined> {
  if (!holder) return Promise.resolve(undefined);
  if ('sessionUid' in holder) return sessionProofs(deps, request, holder.sessionUid);
  const { interaction } = holder;
  return remember(memoOf(request).states, heldKey(interaction), () => Promise.resolve(heldProofsIn(interaction.result)));
}

/**
 * The account and the proofs of a session for this request. What a session proves always depends on the account (its
 * credentials epoch), so when neither is loaded yet both are read in one command.
 */
export function accountAndProofs(
  deps: AuthenticationDeps, request: RequestKey, accountId: string, sessionUid: string | undefined,
): Promise<[AccountFacts, AuthenticationState | undefined]> {
  const memo = memoOf(request);
  const fetched = sessionUid !== undefined && fetchedAccount(deps, accountId) !== undefined && fetchedProofs(deps, sessionUid) !== undefined;
  if (sessionUid && !fetched && !memo.accounts.has(accountId) && !memo.states.has(sessionUid)) {
    const both = findAccountByIdJoined(deps.conn, accountId, { collection: PROOFS_COLLECTION, id: sessionUid });
    void remember(memo.accounts, accountId, async () => loadAccountFacts(deps, accountId, (await both).account));
    // Without the account the state was not looked for: read it alone should anyone ask.
    void remember(memo.states, sessionUid, async () => {
      const { account, joined } = await both;
      return account ? proofsFromDocument(joined) : findProofs(deps.conn, sessionUid);
    });
  }
  return Promise.all([accountFacts(deps, request, accountId), sessionProofs(deps, request, sessionUid)]);
}

function factorLookup(deps: AuthenticationDeps): (id: string) => Factor | undefined {
  return (id) => deps.factors?.get(id);
}

/** What the holder's proofs prove for `accountId` in this request (only the proofs in `window` count). */
export async function provenFor(
  deps: AuthenticationDeps, request: RequestKey, accountId: string, holder: ProofHolder | undefined, window: ProofWindow = {},
): Promise<{ facts: AccountFacts; state: AuthenticationState | undefined; proven: Proven; current: boolean }> {
  const [facts, state] = holder && 'sessionUid' in holder
    ? await accountAndProofs(deps, request, accountId, holder.sessionUid)
    : await Promise.all([accountFacts(deps, request, accountId), holderProofs(deps, request, holder)]);
  return { facts, state, proven: deriveProven(state, facts.account, factorLookup(deps), window), current: isCurrent(state, facts.account) };
}

/** The pure decision's input for a request, from what this request loaded. */
export function stepUpInput(
  facts: AccountFacts, usable: readonly Factor[], proven: Proven, params: StepUpParams, now: Date, beyondMailboxProven = false,
): StepUpInput {
  return {
    sessionLevel: proven.level,
    secondFactorAt: proven.secondFactorAt,
    acrValues: params.acrValues,
    essentialAcr: params.essentialAcr,
    defaultAcrValues: params.defaultAcrValues,
    scopes: params.scopes,
    privileges: facts.account?.privileges ?? [],
    companyPolicy: facts.companyPolicy,
    askEverySignIn: facts.account?.signInMfa ?? false,
    secondFactorDue: facts.account?.secondFactorDue ?? false,
    beyondMailboxLevels: usable.filter((factor) => !reachesMailbox(factor)).map((factor) => factor.level),
    beyondMailboxProven,
    enrolledLevels: usable.map((factor) => factor.level),
    now,
  };
}

/** One step-up evaluation: what the session proves for the account, the decision, the step-up scopes it may get. */
export interface StepUpEvaluation {
  readonly facts: AccountFacts;
  readonly state: AuthenticationState | undefined;
  /** The proofs are of this account under its current epoch (else the session must sign in again). */
  readonly current: boolean;
  /** What the session proves for this request (proofs older than its `max_age` left out). */
  readonly proven: Proven;
  readonly decision: StepUpDecision;
  /** The step-up scopes among the requested ones the account may receive now. */
  readonly grantable: readonly string[];
}

/**
 * Evaluates the step-up of a request from what this request loaded (the decision itself is pure). The account's
 * factors are read only when the decision asks for a second factor — whether one is asked never depends on them — or
 * when a password reset left one due (asked only if the account holds one).
 */
export async function evaluateStepUp(
  deps: AuthenticationDeps,
  request: RequestKey,
  subject: { accountId: string; holder: ProofHolder | undefined; params: StepUpParams; window?: ProofWindow; now?: Date },
): Promise<StepUpEvaluation> {
  const { facts, state, proven, current } = await provenFor(deps, request, subject.accountId, subject.holder, subject.window);
  const now = subject.now ?? new Date();
  let input = stepUpInput(facts, [], proven, subject.params, now);
  let decision = decideStepUp(input);
  // A reset's due second factor is asked only of an account that holds one: its factors are read to know.
  if ((!('required' in decision && !decision.required) || facts.account?.secondFactorDue) && facts.account) {
    const beyondMailbox = Object.keys(current && state ? state.factors : {}).some((id) => {
      const factor = deps.factors?.get(id);
      return factor !== undefined && factor.level >= LEVEL.mfa && !reachesMailbox(factor);
    });
    input = stepUpInput(facts, await usableFactors(deps, request, facts.account.id), proven, subject.params, now, beyondMailbox);
    decision = decideStepUp(input);
  }
  return { facts, state, current, proven, decision, grantable: grantableStepUpScopes(input) };
}

function keepMsOf(deps: AuthenticationDeps): number {
  return deps.proofsKeepMs ?? DEFAULT_PROOFS_KEEP_MS;
}

/** Puts `state` in the interaction's held proofs for this request (saved with the interaction). */
function hold(request: RequestKey, interaction: HoldingInteraction, state: AuthenticationState): AuthenticationState {
  holdProofs(interaction, state);
  const memo = memoOf(request);
  memo.holding.add(interaction);
  memo.states.set(heldKey(interaction), Promise.resolve(state));
  return state;
}

/**
 * Records a password proof of `account` with the holder, for this request and in the store: a sign-in starts a new
 * authentication (earlier factor proofs are gone), a re-confirmation keeps them.
 */
export async function provePassword(
  deps: AuthenticationDeps, request: RequestKey, holder: ProofHolder, account: Pick<Account, 'id' | 'credentialsEpoch'>,
  proof: Proof, kind: 'sign_in' | 'reconfirm',
): Promise<AuthenticationState> {
  // A sign-in replaces whatever the holder held: nothing to read first.
  const current = kind === 'reconfirm' ? await holderProofs(deps, request, holder).catch(() => undefined) : undefined;
  if ('interaction' in holder) {
    const keep = current && current.accountId === account.id && current.epoch === account.credentialsEpoch ? current.factors : {};
    return hold(request, holder.interaction, { accountId: account.id, epoch: account.credentialsEpoch, password: proof, factors: keep });
  }
  const state = await recordPasswordProof(deps.conn, {
    sessionUid: holder.sessionUid, accountId: account.id, epoch: account.credentialsEpoch, proof, keepMs: keepMsOf(deps), keepFactors: kind === 'reconfirm',
  }, current);
  memoOf(request).states.set(holder.sessionUid, Promise.resolve(state));
  return state;
}

/**
 * Records that `factorId` was proven, on top of the holder's password proof of the same account and epoch;
 * `undefined` when that proof is gone (the caller starts the sign-in again).
 */
export async function proveFactor(
  deps: AuthenticationDeps, request: RequestKey, holder: ProofHolder, account: Pick<Account, 'id' | 'credentialsEpoch'>, factorId: string, proof: Proof,
): Promise<AuthenticationState | undefined> {
  if ('interaction' in holder) {
    const current = await holderProofs(deps, request, holder);
    if (!current || current.accountId !== account.id || current.epoch !== account.credentialsEpoch) return undefined;
    return hold(request, holder.interaction, { ...current, factors: { ...current.factors, [factorId]: proof } });
  }
  const state = await recordFactorProof(deps.conn, {
    sessionUid: holder.sessionUid, accountId: account.id, epoch: account.credentialsEpoch, factorId, proof, keepMs: keepMsOf(deps),
  });
  memoOf(request).states.set(holder.sessionUid, Promise.resolve(state));
  return state;
}

/** Saves the interactions whose held proofs this request recorded and did not save otherwise (at the request's end). */
export async function saveHeldProofsOf(request: RequestKey): Promise<void> {
  const memo = memos.get(request);
  if (!memo) return;
  for (const interaction of memo.holding) await saveHeldProofs(interaction);
  memo.holding.clear();
}

/**
 * The login of `accountId` resumes into the session `sessionUid`: the proofs its interaction held (in `result`, the
 * interaction's result) become the session's for this request — stored by {@link saveAdoptedProofs} at its end, after
 * the session itself. Once per request and session; nothing happens when the interaction held no proofs of the account
 * (its proofs were recorded in the session directly).
 */
export function adoptHeldProofs(request: RequestKey, sessionUid: string, accountId: string, result: unknown): void {
  const memo = memoOf(request);
  if (memo.adopted.has(sessionUid)) return;
  const held = heldProofsIn(result);
  if (!held || held.accountId !== accountId) return;
  memo.adopted.set(sessionUid, held);
  memo.states.set(sessionUid, Promise.resolve(held));
}

/** Stores the proofs this request moved into sessions (see {@link adoptHeldProofs}). */
export async function saveAdoptedProofs(deps: AuthenticationDeps, request: RequestKey): Promise<void> {
  const memo = memos.get(request);
  if (!memo) return;
  for (const [sessionUid, state] of memo.adopted) await storeProofs(deps.conn, sessionUid, state, keepMsOf(deps));
  memo.adopted.clear();
}
