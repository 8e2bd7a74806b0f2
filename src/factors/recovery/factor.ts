/**
 * Recovery codes (DESIGN.md §5, seed 001 "lost access to my authenticator app"): a backup factor. Ten codes are
 * shown once, stored as keyed hashes, each accepted once (a conditional update: of parallel uses of one code
 * exactly one wins); regenerating invalidates every earlier code.
 *
 * Attempts are counted in their own bucket (`recovery_code`) with the same policy as the shared second-factor
 * bucket, because a recovery code is the way out of that bucket's permanent lock: a successful code resets the
 * shared bucket too and reports `unlocked`. Tell the user (ASVS 2.5.5) whenever a code is used.
 */
import type { Connection } from 'mongoose';
import { LEVEL } from '../../policy/acr.ts';
import { isDuplicateKeyError } from '../../shared/errors.ts';
import type { EnrolBeginOptions, EnrolBeginSuccess, Factor, FactorAccount, FactorFailure, VerifyResult } from '../contract.ts';
import type { AttemptLimiter } from '../shared/attempts.ts';
import { consumeOnce } from '../shared/single_use.ts';
import {
  MIN_PEPPER_BYTES, RECOVERY_CODE_COUNT, generateRecoveryCode, hashRecoveryCode, normaliseRecoveryCode,
} from './codes.ts';
import { recoveryCodeModel, recoveryCodeSetModel, type RecoveryCodeDoc, type RecoveryCodeSetDoc } from './model.ts';

export const RECOVERY_FACTOR_ID = 'recovery_code';
/** The attempt bucket of recovery codes. */
export const RECOVERY_ATTEMPT_BUCKET = 'recovery_code';

/** What the page shows once after (re)generation: the codes in clear. Never log them. */
export interface RecoveryCodesView extends Record<string, unknown> {
  readonly codes: readonly string[];
}

export interface RecoveryFactorOptions {
  readonly conn: Connection;
  /** The shared second-factor limiter; a redeemed code resets it (and its permanent lock). */
  readonly attempts: AttemptLimiter;
  /** HMAC key for the stored hashes, ≥ 32 bytes, from config (never stored in the database). */
  readonly pepper: Buffer;
}

export interface RecoveryFactor extends Factor {
  readonly enrol: {
    /** Generates the codes (status `active`); on an account with unused codes only with `replace: true`. */
    begin(account: FactorAccount, options?: EnrolBeginOptions): Promise<EnrolBeginSuccess<RecoveryCodesView> | FactorFailure>;
  };
  /** Generates a new set of codes, invalidating every earlier one, and returns them (shown once). */
  generate(accountId: string): Promise<string[]>;
  /** How many unused codes of the current set are left. */
  remaining(accountId: string): Promise<number>;
}

function checkAccountId(accountId: unknown): asserts accountId is string {
  if (typeof accountId !== 'string' || accountId.length === 0) throw new TypeError('accountId must be a non-empty string');
}

const AMR = Object.freeze(['otp']);

/** Creates the recovery-code factor. */
export function createRecoveryFactor(options: RecoveryFactorOptions): RecoveryFactor {
  const { attempts, pepper } = options;
  if (!Buffer.isBuffer(pepper) || pepper.length < MIN_PEPPER_BYTES) {
    throw new Error(`the recovery-code pepper must be at least ${MIN_PEPPER_BYTES} bytes`);
  }
  const ownAttempts = attempts.withBucket(RECOVERY_ATTEMPT_BUCKET);
  const sets = recoveryCodeSetModel(options.conn);
  const codes = recoveryCodeModel(options.conn);

  async function currentGeneration(accountId: string): Promise<number | undefined> {
    return (await sets.findById(accountId).lean<RecoveryCodeSetDoc>())?.generation;
  }

  async function remaining(accountId: string): Promise<number> {
    checkAccountId(accountId);
    const generation = await currentGeneration(accountId);
    if (generation === undefined) return 0;
    const unused = await codes.find({ accountId, generation, usedAt: null }, { _id: 1 }).lean();
    return unused.length;
  }

  async function nextGeneration(accountId: string, now: Date): Promise<number> {
    for (let round = 0; round < 3; round += 1) {
      try {
        const set = await sets.findOneAndUpdate(
          { _id: accountId },
          { $inc: { generation: 1 }, $set: { createdAt: now } },
          { upsert: true, returnDocument: 'after' },
        ).lean<RecoveryCodeSetDoc>();
        if (set) return set.generation;
      } catch (err) {
        // Two first-time upserts on one account: the loser retries as an update.
        if (!isDuplicateKeyError(err)) throw err;
      }
    }
    throw new Error(`could not start a recovery-code generation for ${accountId}`);
  }

  async function generate(accountId: string): Promise<string[]> {
    checkAccountId(accountId);
    const now = new Date(Date.now());
    const generation = await nextGeneration(accountId, now);
    const fresh = new Set<string>();
    while (fresh.size < RECOVERY_CODE_COUNT) fresh.add(generateRecoveryCode());
    const list = [...fresh];
    await codes.insertMany(list.map((code): RecoveryCodeDoc => ({
      _id: hashRecoveryCode(pepper, accountId, normaliseRecoveryCode(code) as string),
      accountId,
      generation,
      createdAt: now,
      usedAt: null,
    })));
    // Earlier codes are already invalid (generation mismatch); this only tidies up.
    await codes.deleteMany({ accountId, generation: { $lt: generation } });
    return list;
  }

  async function verify(accountId: string, input: unknown): Promise<VerifyResult> {
    checkAccountId(accountId);
    if (await currentGeneration(accountId) === undefined) return { ok: false, code: 'not_enrolled' };
    return ownAttempts.guard(accountId, async (): Promise<VerifyResult> => {
      const normalised = normaliseRecoveryCode(input);
      if (normalised === undefined) return { ok: false, code: 'invalid_code' };
      const generation = await currentGeneration(accountId);
      const _id = hashRecoveryCode(pepper, accountId, normalised);
      const consumed = await consumeOnce(codes, { _id, accountId, generation }, 'usedAt', new Date(Date.now()));
      if (!consumed) {
        const used = await codes.findOne({ _id, accountId, generation, usedAt: { $ne: null } }, { _id: 1 }).lean();
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
    label: 'Recovery code',
    role: 'backup' as const,
    views: Object.freeze({ challenge: 'factors/recovery/challenge', enrolled: 'factors/recovery/codes' }),
    enrol: Object.freeze({
      async begin(account: FactorAccount, beginOptions: EnrolBeginOptions = {}): Promise<EnrolBeginSuccess<RecoveryCodesView> | FactorFailure> {
        checkAccountId(account?.id);
        if (beginOptions.replace !== true && await remaining(account.id) > 0) return { ok: false, code: 'already_enrolled' };
        return { ok: true, status: 'active', view: { codes: await generate(account.id) } };
      },
    }),
    verify,
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
