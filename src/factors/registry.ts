/**
 * The one list of second factors (docs/ARCHITECTURE.md "The factor contract"). Callers ask it for capabilities —
 * factors usable at a level, the factors one can enrol — and work with the {@link Factor} contract; this file and each
 * factor's folder are the only places that know a factor by name. Adding a factor = one folder implementing the
 * contract + one line in {@link createDefaultFactors}.
 */
import type { Connection } from 'mongoose';
import { isFactorId, type Factor } from './contract.ts';
import { createEmailCodeFactor, type CodeMailer, type EmailCodeFactorOptions } from './email/factor.ts';
import { createRecoveryFactor } from './recovery/factor.ts';
import { createAttemptLimiter, type AttemptLimiter, type AttemptPolicy } from './shared/attempts.ts';
import type { SecretBox } from './shared/secret_box.ts';
import { createTotpFactor } from './totp/factor.ts';

/** The registered factors, in display order (primary factors first, then backups). */
export interface FactorRegistry {
  /** Every factor: primary factors first, then backups, each in registration order. */
  readonly all: readonly Factor[];
  /** The factors offered to set up and to sign in with (`role: 'primary'`). */
  readonly primary: readonly Factor[];
  /** The fallbacks (`role: 'backup'`: recovery codes), set up after a primary factor. */
  readonly backup: readonly Factor[];
  /** The factor with this id, or `undefined` (ids come from forms: treat an unknown one as a user error). */
  get(id: string): Factor | undefined;
  /**
   * The factors the account can use now to reach `minLevel`: active enrolment and `level ≥ minLevel`, in
   * registration order (primary factors first). Empty → the account must enrol (or the request fails).
   */
  usableFactors(accountId: string, minLevel: number): Promise<Factor[]>;
  /** The factors a user can set up themselves that prove at least `minLevel` (`enrol` present), by role. */
  enrollableFactors(minLevel: number, role?: Factor['role']): Factor[];
  /** Whether the account has any active primary factor (a backup alone does not count). */
  hasPrimaryFactor(accountId: string): Promise<boolean>;
  /** Removes every factor of the account (support reset, "changing device"); audit and notify in the caller. */
  removeAll(accountId: string): Promise<void>;
  /** Whether an active factor proved that the customer controls `email` (see {@link Factor.verifiedEmail}). */
  provesEmail(accountId: string, email: string): Promise<boolean>;
  /** The collections of the factors' documents per account ({@link Factor.accountCollection}), read with an account. */
  readonly accountCollections: readonly string[];
}

/** Builds a registry; throws listing every problem (duplicate or malformed ids, bad levels, empty amr). */
export function createFactorRegistry(factors: readonly Factor[]): FactorRegistry {
  const problems: string[] = [];
  const byId = new Map<string, Factor>();
  for (const factor of factors) {
    if (!isFactorId(factor.id)) problems.push(`factor id "${factor.id}" is not lower_snake_case`);
    if (byId.has(factor.id)) problems.push(`factor id "${factor.id}" is registered twice`);
    if (!Number.isInteger(factor.level) || factor.level < 2) problems.push(`factor "${factor.id}" must prove a level ≥ 2`);
    if (factor.amr.length === 0) problems.push(`factor "${factor.id}" declares no amr value`);
    if (factor.amr.includes('mfa')) problems.push(`factor "${factor.id}" must not declare "mfa" (the policy adds it)`);
    byId.set(factor.id, factor);
  }
  if (problems.length > 0) throw new Error(`invalid factor registry: ${problems.join('; ')}`);
  const primary = Object.freeze(factors.filter((factor) => factor.role === 'primary'));
  const backup = Object.freeze(factors.filter((factor) => factor.role === 'backup'));
  const all = Object.freeze([...primary, ...backup]);

  async function enrolled(accountId: string, candidates: readonly Factor[]): Promise<Factor[]> {
    const flags = await Promise.all(candidates.map((factor) => factor.isEnrolled(accountId)));
    return candidates.filter((_, index) => flags[index]);
  }

  return Object.freeze({
    all,
    primary,
    backup,
    accountCollections: Object.freeze([...new Set(all.flatMap((factor) => (factor.accountCollection ? [factor.accountCollection] : [])))]),
    get(id: string): Factor | undefined {
      return typeof id === 'string' ? byId.get(id) : undefined;
    },
    async usableFactors(accountId: string, minLevel: number): Promise<Factor[]> {
      return enrolled(accountId, all.filter((factor) => factor.level >= minLevel));
    },
    enrollableFactors(minLevel: number, role?: Factor['role']): Factor[] {
      return (role === undefined ? all : role === 'primary' ? primary : backup).filter((factor) => factor.enrol && factor.level >= minLevel);
    },
    async hasPrimaryFactor(accountId: string): Promise<boolean> {
      return (await enrolled(accountId, primary)).length > 0;
    },
    async removeAll(accountId: string): Promise<void> {
      await Promise.all(all.map((factor) => factor.remove(accountId)));
    },
    async provesEmail(accountId: string, email: string): Promise<boolean> {
      const proven = await Promise.all(all.map(async (factor) => factor.verifiedEmail?.(accountId)));
      return proven.some((address) => address !== undefined && address.toLowerCase() === email.toLowerCase());
    },
  });
}

/** What the built-in factors need (from config and the store). */
export interface DefaultFactorOptions {
  readonly conn: Connection;
  /** Seals TOTP secrets (AES-256-GCM key ring). */
  readonly secretBox: SecretBox;
  /** The issuer shown in authenticator apps. */
  readonly issuer: string;
  /** HMAC key of recovery-code hashes, ≥ 32 bytes. */
  readonly recoveryPepper: Buffer;
  /** Attempt limits (defaults in `shared/attempts.ts`). */
  readonly attemptPolicy?: Partial<AttemptPolicy>;
  /**
   * Delivers email codes (the composition root adapts the mail layer to it). With {@link emailCodePepper} it
   * registers the email-code factor; without both, the email factor is not offered.
   */
  readonly codeMailer?: CodeMailer;
  /** HMAC key of email-code hashes, ≥ 32 bytes; required with {@link codeMailer}. */
  readonly emailCodePepper?: Buffer;
  /**
   * Factors of your own, each implementing the {@link Factor} contract with its own templates: registered after the
   * built-in primary factors, offered, challenged, set up and removed on the same pages.
   */
  readonly extraFactors?: readonly Factor[];
  /** Email-code limits (defaults in `email/factor.ts`: 10 min, 5 tries, 30 s cooldown, 5 codes per hour). */
  readonly emailCode?: Partial<Pick<EmailCodeFactorOptions, 'codeTtlMs' | 'triesPerCode' | 'resendCooldownMs' | 'codesPerHour'>>;
}

/** The built-in factors and the shared limiter they count against. */
export function createDefaultFactors(options: DefaultFactorOptions): { registry: FactorRegistry; attempts: AttemptLimiter } {
  if ((options.codeMailer === undefined) !== (options.emailCodePepper === undefined)) {
    throw new Error('the email-code factor needs both codeMailer and emailCodePepper (or neither)');
  }
  const attempts = createAttemptLimiter(options.conn, { policy: options.attemptPolicy });
  // The recovery factor asks the registry which other factors an account holds, so every second factor
  // (email included) makes a fresh second factor necessary before new codes are handed out.
  const registry: FactorRegistry = createFactorRegistry([
    createTotpFactor({ conn: options.conn, secretBox: options.secretBox, attempts, issuer: options.issuer }),
    ...(options.codeMailer && options.emailCodePepper
      ? [createEmailCodeFactor({ ...options.emailCode, conn: options.conn, attempts, codeMailer: options.codeMailer, pepper: options.emailCodePepper })]
      : []),
    ...options.extraFactors ?? [],
    createRecoveryFactor({ conn: options.conn, attempts, pepper: options.recoveryPepper, otherFactors: () => registry.all }),
  ]);
  return { registry, attempts };
}
