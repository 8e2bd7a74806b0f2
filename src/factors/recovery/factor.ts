/**
 * Recovery codes (for a customer who lost access to their authenticator app): a backup factor. Ten codes are
 * shown once, stored hashed (`codes.ts`), each accepted once (a conditional update: of parallel uses of one code
 * exactly one wins); regenerating invalidates every earlier code.
 *
 * Who may create codes: they prove level 3 (an invoice step-up), so creating them must not be easier than passing
 * the second factor they stand in for. See {@link RecoveryFactor.enrol} for the rule.
 *
 * Attempts: the recovery codes' own bucket (`recovery_code`) allows {@link RECOVERY_CODE_FAILURE_SHARE} (10)
 * consecutive failures, the shared second-factor bucket the rest of NIST SP 800-63B §5.2.2's 100 per account (90):
 * the total never exceeds 100, and the recovery code remains the way out of the shared bucket's permanent lock — a
 * successful code resets the shared bucket too and reports `unlocked`. Tell the user (ASVS 2.5.5) whenever a code is
 * used.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import { LEVEL } from '../../shared/assurance.ts';
import { isDuplicateKeyError } from '../../shared/errors.ts';
import type { EnrolBeginOptions, EnrolBeginSuccess, Factor, FactorAccount, FactorFailure, VerifyResult } from '../contract.ts';
import { checkAccountId } from '../shared/account_id.ts';
import {
  RECOVERY_CODE_FAILURE_SHARE, SECOND_FACTOR_FAILURE_CAP, createAttemptLimiter, type AttemptLimiter,
} from '../shared/attempts.ts';
import { consumeOnce } from '../shared/single_use.ts';
import {
  MIN_PEPPER_BYTES, RECOVERY_CODE_COUNT, generateRecoveryCode, hashRecoveryCode, hashRecoverySecret, isLegacyRecoveryCode,
  normaliseRecoveryCode, recoveryCodeLocator, verifyRecoverySecret,
} from './codes.ts';
import { readModelDocument } from '../../store/model_reads.ts';
import { recoveryCodeModel, recoveryCodeSetModel, type RecoveryCodeDoc, type RecoveryCodeSetDoc } from './model.ts';

export const RECOVERY_FACTOR_ID = 'recovery_code';
/** The attempt bucket of recovery codes. */
export const RECOVERY_ATTEMPT_BUCKET = 'recovery_code';
/** Default of {@link RecoveryFactorOptions.initialWindowMs}: 15 minutes. */
export const RECOVERY_INITIAL_WINDOW_MS = 15 * 60_000;
/** Code documents of sets that never became current (a crash between insert and switch) are removed after this. */
const ORPHAN_AGE_MS = 24 * 3_600_000;

/** What the page shows once after (re)generation: the codes in clear. Never log them. */
export interface RecoveryCodesView extends Record<string, unknown> {
  readonly codes: readonly string[];
}

/** Options of {@link RecoveryFactor.enrol}`.begin`. */
export interface RecoveryBeginOptions extends EnrolBeginOptions {
  /**
   * The account's **first** code set, requested right after the confirmation of its first second factor (the page
   * after setting up the first method shows the codes once). Accepted without `replace` only when no code set ever
   * existed for the account and every other enrolled factor was confirmed within
   * {@link RecoveryFactorOptions.initialWindowMs}. Pass it only on the page that directly follows that confirmation.
   */
  readonly initial?: boolean;
}

export interface RecoveryFactorOptions {
  readonly conn: Connection;
  /** The shared second-factor limiter; a redeemed code resets it (and its permanent lock). At most 90 failures. */
  readonly attempts: AttemptLimiter;
  /** HMAC key for the stored hashes, ≥ 32 bytes, from config (never stored in the database). */
  readonly pepper: Buffer;
  /**
   * The account's other second factors, asked whether they are enrolled and since when (a function: the registry
   * is built after its factors, `() => registry.all`); a factor without `enrolledAt` counts as enrolled long ago.
   */
  readonly otherFactors: () => Iterable<Factor>;
  /** How recent the other factors' confirmation must be for `initial: true`, in ms. Default 15 minutes. */
  readonly initialWindowMs?: number;
}

export interface RecoveryFactor extends Factor {
  readonly enrol: {
    readonly delivers: boolean;
    /**
     * Generates a code set (status `active`, the codes in `view`, shown once).
     *
     * Enrolment hijack protection (OWASP ASVS 7.5.1): the codes prove level 3, so a password-only session must not
     * mint them on an account that has a second factor. Without `replace: true` (which the pages pass only after a
     * fresh second-factor verification of the same session) `begin` succeeds only
     * - when the account has no other enrolled second factor and **no code set ever existed** (used-up or not), or
     * - with `initial: true`, when every other enrolled factor was confirmed within the last `initialWindowMs` and
     *   no code set was made since (the first set right after the first factor's enrolment; a set made before that
     *   enrolment, while a password alone could make one, is replaced).
     *
     * Otherwise: `already_enrolled`, nothing changes. `remove` forgets that a set existed.
     *
     * Atomic: of concurrent `begin`s on one account exactly one succeeds; the others get `already_enrolled` and
     * their codes are discarded. Until the new set is switched in, the previous set keeps working.
     */
    begin(account: FactorAccount, options?: RecoveryBeginOptions): Promise<EnrolBeginSuccess<RecoveryCodesView> | FactorFailure>;
  };
  /**
   * Generates a new set of codes, invalidating every earlier one, and returns them (shown once). **No hijack
   * check**: for support tools and tests; pages use `enrol.begin`. Concurrent calls behave as if run one after the
   * other (each returned set was current once; the last one stays).
   */
  generate(accountId: string): Promise<string[]>;
  /** How many unused codes of the current set are left. */
  remaining(accountId: string): Promise<number>;
}

const AMR = Object.freeze(['otp']);

/** Creates the recovery-code factor. */
export function createRecoveryFactor(options: RecoveryFactorOptions): RecoveryFactor {
  const { attempts, pepper, conn } = options;
  if (!Buffer.isBuffer(pepper) || pepper.length < MIN_PEPPER_BYTES) {
    throw new Error(`the recovery-code pepper must be at least ${MIN_PEPPER_BYTES} bytes`);
  }
  if (attempts.policy.maxConsecutiveFailures + RECOVERY_CODE_FAILURE_SHARE > SECOND_FACTOR_FAILURE_CAP) {
    throw new Error(`the shared second-factor limiter allows ${attempts.policy.maxConsecutiveFailures} consecutive failures; `
      + `with the recovery codes' ${RECOVERY_CODE_FAILURE_SHARE} that exceeds ${SECOND_FACTOR_FAILURE_CAP} per account `
      + '(NIST SP 800-63B §5.2.2)');
  }
  const initialWindowMs = options.initialWindowMs ?? RECOVERY_INITIAL_WINDOW_MS;
  const ownAttempts = createAttemptLimiter(conn, {
    bucket: RECOVERY_ATTEMPT_BUCKET,
    policy: { ...attempts.policy, maxConsecutiveFailures: RECOVERY_CODE_FAILURE_SHARE },
  });
  const sets = recoveryCodeSetModel(conn);
  const codes = recoveryCodeModel(conn);
  // A hash no code matches, checked when no stored code has the locator typed: every answer costs one Argon2id check.
  let unused: Promise<string> | undefined;
  const unusedHash = (): Promise<string> => (unused ??= hashRecoverySecret(pepper, generateRecoveryCode().replace(/-/g, '')));

  async function currentSet(accountId: string): Promise<RecoveryCodeSetDoc | null> {
    return readModelDocument(sets, accountId);
  }

  async function remaining(accountId: string): Promise<number> {
    checkAccountId(accountId);
    const set = await currentSet(accountId);
    if (!set) return 0;
    const unused = await codes.find({ accountId, setId: set.setId, usedAt: null }, { _id: 1 }).lean();
    return unused.length;
  }

  /** When each other enrolled factor was confirmed (`undefined`: unknown, i.e. long ago). */
  async function otherEnrolments(accountId: string): Promise<(Date | undefined)[]> {
    const others = [...options.otherFactors()].filter((factor) => factor.id !== RECOVERY_FACTOR_ID);
    const flags = await Promise.all(others.map((factor) => factor.isEnrolled(accountId)));
    const enrolled = others.filter((_, index) => flags[index]);
    return Promise.all(enrolled.map(async (factor) => factor.enrolledAt?.(accountId)));
  }

  async function mayCreateWithoutReplace(accountId: string, set: RecoveryCodeSetDoc | null, initial: boolean): Promise<boolean> {
    const confirmedAt = await otherEnrolments(accountId);
    if (confirmedAt.length === 0) return set === null;
    const now = Date.now();
    if (!initial || !confirmedAt.every((at) => at !== undefined && now - at.getTime() <= initialWindowMs)) return false;
    // A set made while the account had no second factor (by anyone holding the password) does not survive the
    // first factor's enrolment: the initial set replaces it.
    return set === null || confirmedAt.every((at) => set.createdAt.getTime() < (at as Date).getTime());
  }

  /**
   * Inserts a fresh set under a new `setId`, then switches the account to it conditionally on the generation seen
   * in `seen`. Returns the codes, or `undefined` when another regeneration won (its codes are then removed).
   */
  async function install(accountId: string, seen: RecoveryCodeSetDoc | null): Promise<string[] | undefined> {
    const now = new Date(Date.now());
    const setId = randomBytes(16).toString('base64url');
    // Ten codes with ten different locators: each locator names one stored code of the set.
    const byLocator = new Map<string, string>();
    while (byLocator.size < RECOVERY_CODE_COUNT) {
      const code = generateRecoveryCode();
      byLocator.set(recoveryCodeLocator(normaliseRecoveryCode(code) as string), code);
    }
    const list = [...byLocator.values()];
    const docs = await Promise.all(list.map(async (code): Promise<RecoveryCodeDoc> => {
      const normalised = normaliseRecoveryCode(code) as string;
      return {
        _id: `${setId}.${recoveryCodeLocator(normalised)}`,
        accountId,
        setId,
        secretHash: await hashRecoverySecret(pepper, normalised),
        createdAt: now,
        usedAt: null,
      };
    }));
    const discard = async (): Promise<void> => {
      await codes.deleteMany({ accountId, setId });
    };
    let won: boolean;
    try {
      await codes.insertMany(docs);
      if (seen) {
        const switched = await sets.updateOne(
          { _id: accountId, generation: seen.generation },
          { $set: { setId, createdAt: now }, $inc: { generation: 1 } },
        );
        won = switched.modifiedCount === 1;
      } else {
        try {
          await sets.create({ _id: accountId, generation: 1, setId, createdAt: now });
          won = true;
        } catch (err) {
          if (!isDuplicateKeyError(err)) throw err;
          won = false;
        }
      }
    } catch (err) {
      await discard();
      throw err;
    }
    if (!won) {
      await discard();
      return undefined;
    }
    // Tidying only (earlier codes are already invalid): the previous set, and sets that never became current.
    await codes.deleteMany({
      accountId,
      $or: [
        ...(seen ? [{ setId: seen.setId }] : []),
        { setId: { $ne: setId }, createdAt: { $lt: new Date(now.getTime() - ORPHAN_AGE_MS) } },
      ],
    });
    return list;
  }

  async function generate(accountId: string): Promise<string[]> {
    checkAccountId(accountId);
    for (let round = 0; round < 5; round += 1) {
      const list = await install(accountId, await currentSet(accountId));
      if (list) return list;
    }
    throw new Error(`could not generate recovery codes for ${accountId}: concurrent regenerations`);
  }

  async function begin(
    account: FactorAccount,
    beginOptions: RecoveryBeginOptions = {},
  ): Promise<EnrolBeginSuccess<RecoveryCodesView> | FactorFailure> {
    checkAccountId(account?.id);
    const seen = await currentSet(account.id);
    if (beginOptions.replace !== true && !await mayCreateWithoutReplace(account.id, seen, beginOptions.initial === true)) {
      return { ok: false, code: 'already_enrolled' };
    }
    const list = await install(account.id, seen);
    // Lost a race with another regeneration: that one's codes are the account's now.
    if (!list) return { ok: false, code: 'already_enrolled' };
    return { ok: true, status: 'active', view: { codes: list } };
  }

  /**
   * The `_id` of the stored code `normalised` is, in the account's current set, or `undefined`: the locator's code
   * whose secret matches (one Argon2id check — also when no code has that locator, so the answer takes as long), or
   * the keyed hash of a code of an earlier set.
   */
  async function storedIdOf(accountId: string, setId: string, normalised: string): Promise<string | undefined> {
    if (isLegacyRecoveryCode(normalised)) return hashRecoveryCode(pepper, accountId, normalised);
    const _id = `${setId}.${recoveryCodeLocator(normalised)}`;
    const doc = await codes.findOne({ _id, accountId, setId }, { secretHash: 1 }).lean<Pick<RecoveryCodeDoc, 'secretHash'>>();
    const matches = await verifyRecoverySecret(pepper, doc?.secretHash ?? await unusedHash(), normalised);
    return doc?.secretHash && matches ? _id : undefined;
  }

  async function verify(accountId: string, input: unknown): Promise<VerifyResult> {
    checkAccountId(accountId);
    if (!await currentSet(accountId)) return { ok: false, code: 'not_enrolled' };
    return ownAttempts.guard(accountId, async (attempt): Promise<VerifyResult> => {
      const normalised = normaliseRecoveryCode(input);
      if (normalised === undefined) return { ok: false, code: 'invalid_code' };
      const set = await currentSet(accountId);
      if (!set) return { ok: false, code: 'invalid_code' };
      const _id = await storedIdOf(accountId, set.setId, normalised);
      // Too late to be answered: use up no code (the limiter answers `locked`).
      if (_id === undefined || attempt.late()) return { ok: false, code: 'invalid_code' };
      const consumed = await consumeOnce(codes, { _id, accountId, setId: set.setId }, 'usedAt', new Date(Date.now()));
      if (!consumed) {
        const used = await codes.findOne({ _id, accountId, setId: set.setId, usedAt: { $ne: null } }, { _id: 1 }).lean();
        return { ok: false, code: used ? 'code_replayed' : 'invalid_code' };
      }
      // A redeemed code proves a second factor: clear the shared bucket's failures and any lock (NIST SP 800-63B
      // §5.2.2 lets a lock end through another authenticator).
      const unlocked = await attempts.reset(accountId);
      return { ok: true, factorId: RECOVERY_FACTOR_ID, amr: AMR, level: LEVEL.mfaApp, remaining: await remaining(accountId), unlocked };
    });
  }

  return Object.freeze({
    id: RECOVERY_FACTOR_ID,
    amr: AMR,
    level: LEVEL.mfaApp,
    label: 'factors.recovery.label',
    inSentence: 'factors.recovery.in_sentence',
    role: 'backup' as const,
    accountCollection: sets.collection.collectionName,
    offer: 'factors.recovery.offer',
    wrongCode: 'factors.recovery.wrong_code',
    views: Object.freeze({ challenge: 'factors/recovery/challenge', enrol: 'factors/recovery/enrol' }),
    enrol: Object.freeze({ delivers: false, begin }),
    verify,
    wellFormed: (input: unknown) => normaliseRecoveryCode(input) !== undefined,
    generate,
    remaining,
    async isEnrolled(accountId: string): Promise<boolean> {
      return await remaining(accountId) > 0;
    },
    async remove(accountId: string): Promise<void> {
      checkAccountId(accountId);
      await codes.deleteMany({ accountId });
      await sets.deleteOne({ _id: accountId });
    },
  });
}
