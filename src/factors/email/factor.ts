/**
 * The email-code factor (docs/ARCHITECTURE.md "The factor contract"): a 6-digit code sent to the account's verified
 * address. It proves level 2 (`urn:oidc-stepup:acr:mfa`) and never level 3: NIST SP 800-63B §5.1.3.1 does not accept
 * email as an out-of-band channel.
 *
 * Codes: stored only as a keyed hash; valid 10 minutes (SP 800-63B §5.1.3.2 allows at most 10); single use (one
 * conditional update: of parallel submissions of one code exactly one succeeds); at most 5 tries per code, each try
 * reserved atomically *before* the hash is compared, so a parallel burst cannot compare more than 5 guesses; every
 * verification also counts against the account-wide limiter (`second_factor` bucket, shared with TOTP). One live
 * code per account: a new send makes the old code dead.
 *
 * Sending: a 30 s cooldown and at most 5 codes per hour per account (no mail bombing), both reserved atomically
 * before the mail goes out (two parallel sends cannot both pass); no sign-in code is sent while the shared
 * second-factor limiter has the account locked. When delivery fails nothing is half-written: the
 * new code is never stored (a mail that may have half-left must not carry a usable code), the reservation is rolled
 * back (the cooldown and the hourly budget are not used up), the earlier code and enrolment stay as they were.
 *
 * Enrolment: the page re-confirms the password first (OWASP ASVS 7.5.1; see `FactorEnrolment`), then
 * `begin` sends a code to the account's address and records a pending enrolment only once the mail went out;
 * `confirm` activates it with that code. Until then nothing changes. Codes are sent to the address that was
 * verified at enrolment (`active.email`), never to an address that was not proven: after an email change, enrol
 * again (`begin` with `replace: true`).
 *
 * `amr`: `['otp', 'urn:oidc-stepup:amr:email']`. RFC 8176 §2 registers no value for email; `otp` ("one-time
 * password") is the registered value that truthfully describes a one-time code, it is what Microsoft Entra ID emits
 * for email one-time passcodes, and it puts the method in the possession category, so `pwd` + email code is
 * multi-factor (`mfa`) for the policy. `sms`/`tel` would be false. Because `otp` alone would look exactly like an
 * authenticator-app code, the custom URN (the factor contract allows one beside the registered values) tells relying
 * parties that read `amr` rather than `acr` that the code came by email.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import { LEVEL } from '../../shared/assurance.ts';
import { isDuplicateKeyError } from '../../shared/errors.ts';
import type {
  ChallengeSent, ConfirmSuccess, EnrolBeginOptions, EnrolBeginSuccess, Factor, FactorAccount, FactorFailure,
  PlainFailure, VerifyResult,
} from '../contract.ts';
import type { AttemptLimiter } from '../shared/attempts.ts';
import { maskEmail } from '../../shared/mask_email.ts';
import { MIN_EMAIL_PEPPER_BYTES, generateEmailCode, hashEmailCode, normaliseEmailCode, sameHash } from './code.ts';
import { readModelDocument } from '../../store/model_reads.ts';
import { emailFactorModel, type EmailCodePurpose, type EmailCodeSlotDoc, type EmailFactorDoc } from './model.ts';
import { checkAccountId } from '../shared/account_id.ts';

export const EMAIL_CODE_FACTOR_ID = 'email_code';
/** The custom `amr` value beside RFC 8176 `otp` that marks a code delivered by email (see the module comment). */
export const EMAIL_CODE_AMR_URN = 'urn:oidc-stepup:amr:email';

/** Defaults: the code's lifetime, tries per code, the resend cooldown and the hourly budget of sent codes. */
export const EMAIL_CODE_DEFAULTS = Object.freeze({
  /** 10 minutes: NIST SP 800-63B §5.1.3.2's maximum for out-of-band codes, also the upper bound accepted. */
  codeTtlMs: 600_000,
  triesPerCode: 5,
  resendCooldownMs: 30_000,
  codesPerHour: 5,
});

const HOUR_MS = 3_600_000;
const NEVER = new Date(0);

/**
 * The port the factor sends codes through. The composition root adapts the mail layer (`src/mail`: template
 * `email_code`, SMTP via nodemailer) to it. Must not throw (a throw is treated as `mail_failed`), must not log the
 * code in production.
 */
export interface CodeMailer {
  sendCode(
    to: { email: string; name?: string; language?: string | undefined },
    code: string,
    validMinutes: number,
  ): Promise<{ ok: true } | { ok: false; code: 'mail_failed' }>;
}

export interface EmailCodeFactorOptions {
  readonly conn: Connection;
  /** The shared second-factor limiter (bucket `second_factor`, like TOTP). */
  readonly attempts: AttemptLimiter;
  readonly codeMailer: CodeMailer;
  /** HMAC key of the stored code hashes, ≥ 32 bytes, from config (never stored in the database). */
  readonly pepper: Buffer;
  /** How long a sent code is accepted, in ms. Default 600 000 (10 min), at most 600 000. */
  readonly codeTtlMs?: number;
  /** Tries per sent code, wrong ones included. Default 5. */
  readonly triesPerCode?: number;
  /** The wait between two sends to one account, in ms. Default 30 000. */
  readonly resendCooldownMs?: number;
  /** Codes sent to one account within any hour. Default 5. */
  readonly codesPerHour?: number;
}

/** What the enrolment page shows: where the code went and until when it works. */
export interface EmailCodeEnrolView extends Record<string, unknown> {
  /** The masked address (`m•••@example.com`). */
  readonly sentTo: string;
  readonly expiresAt: Date;
  /** When "send a new code" is allowed. */
  readonly resendAvailableAt: Date;
  /** Whether confirming replaces an active enrolment (say so on the page). */
  readonly replacing: boolean;
}

export interface EmailCodeFactor extends Factor {
  readonly enrol: {
    readonly delivers: boolean;
    /**
     * Sends an enrolment code to `account.email` and records the pending enrolment (only when the mail went out).
     * With a pending enrolment whose code still works, returns it without sending again unless `renew: true`.
     */
    begin(account: FactorAccount, options?: EnrolBeginOptions): Promise<EnrolBeginSuccess<EmailCodeEnrolView> | FactorFailure>;
    confirm(accountId: string, input: unknown): Promise<ConfirmSuccess | FactorFailure>;
  };
  readonly challenge: {
    /** Sends a sign-in code to the verified address; the earlier code dies. */
    send(account: FactorAccount): Promise<ChallengeSent | FactorFailure>;
  };
  enrolledAt(accountId: string): Promise<Date | undefined>;
  /** The verified address, masked, for the challenge page before a code is sent; `undefined` when not enrolled. */
  maskedAddress(accountId: string): Promise<string | undefined>;
}

const AMR = Object.freeze(['otp', EMAIL_CODE_AMR_URN]);

function checkAccount(account: FactorAccount): void {
  checkAccountId(account?.id);
  if (typeof account.email !== 'string' || !account.email.includes('@')) throw new TypeError('account.email must be an address');
}

/** A send the caller decided to make: to whom, why, and what else changes once the mail went out. */
interface SendPlan {
  readonly send: true;
  readonly address: string;
  readonly purpose: EmailCodePurpose;
  /** Extra filter of the final write (the state the send was decided on must still hold). */
  readonly still: Record<string, unknown>;
  /** Extra `$set` of the final write. */
  readonly alsoSet: (now: Date) => Record<string, unknown>;
}

/** Creates the email-code factor. Throws listing every problem with the options. */
export function createEmailCodeFactor(options: EmailCodeFactorOptions): EmailCodeFactor {
  const { attempts, codeMailer, pepper } = options;
  const codeTtlMs = options.codeTtlMs ?? EMAIL_CODE_DEFAULTS.codeTtlMs;
  const triesPerCode = options.triesPerCode ?? EMAIL_CODE_DEFAULTS.triesPerCode;
  const resendCooldownMs = options.resendCooldownMs ?? EMAIL_CODE_DEFAULTS.resendCooldownMs;
  const codesPerHour = options.codesPerHour ?? EMAIL_CODE_DEFAULTS.codesPerHour;
  const problems: string[] = [];
  if (!Buffer.isBuffer(pepper) || pepper.length < MIN_EMAIL_PEPPER_BYTES) {
    problems.push(`the email-code pepper must be at least ${MIN_EMAIL_PEPPER_BYTES} bytes`);
  }
  if (typeof codeMailer?.sendCode !== 'function') problems.push('codeMailer.sendCode is missing');
  if (!Number.isSafeInteger(codeTtlMs) || codeTtlMs <= 0 || codeTtlMs > EMAIL_CODE_DEFAULTS.codeTtlMs) {
    problems.push('codeTtlMs must be a positive integer of at most 600000 (NIST SP 800-63B §5.1.3.2: 10 minutes)');
  }
  if (!Number.isSafeInteger(triesPerCode) || triesPerCode <= 0) problems.push('triesPerCode must be a positive integer');
  if (!Number.isSafeInteger(resendCooldownMs) || resendCooldownMs < 0) problems.push('resendCooldownMs must be an integer ≥ 0');
  if (!Number.isSafeInteger(codesPerHour) || codesPerHour <= 0) problems.push('codesPerHour must be a positive integer');
  if (problems.length > 0) throw new Error(`invalid email-code factor options: ${problems.join('; ')}`);
  const validMinutes = Math.ceil(codeTtlMs / 60_000);
  const model = emailFactorModel(options.conn);

  async function load(accountId: string): Promise<EmailFactorDoc | null> {
    return readModelDocument(model, accountId);
  }

  async function ensure(accountId: string): Promise<void> {
    try {
      await model.create({ _id: accountId, active: null, pending: null, code: null, lastSentAt: NEVER, recentSends: [], rev: 0 });
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
    }
  }

  function recentOf(doc: EmailFactorDoc, now: number): Date[] {
    return (doc.recentSends ?? []).filter((at) => at.getTime() > now - HOUR_MS);
  }

  /** `resend_too_soon` / `too_many_codes` when the account may not be sent a code now. */
  function budgetRefusal(doc: EmailFactorDoc, now: number): PlainFailure | undefined {
    const cooldownEnds = doc.lastSentAt.getTime() + resendCooldownMs;
    if (now < cooldownEnds) {
      return { ok: false, code: 'resend_too_soon', retryAfterSeconds: Math.ceil((cooldownEnds - now) / 1000) };
    }
    const recent = recentOf(doc, now);
    if (recent.length >= codesPerHour) {
      const freeAt = (recent[recent.length - codesPerHour] as Date).getTime() + HOUR_MS;
      return { ok: false, code: 'too_many_codes', retryAfterSeconds: Math.max(1, Math.ceil((freeAt - now) / 1000)) };
    }
    return undefined;
  }

  async function deliver(to: { email: string; name?: string; language?: string | undefined }, code: string): Promise<boolean> {
    try {
      const result = await codeMailer.sendCode(to, code, validMinutes);
      return result?.ok === true;
    } catch {
      return false;
    }
  }

  /**
   * The one send path (enrolment and sign-in): decide on the current document, reserve the send (cooldown and
   * budget) with a conditional update on `rev`, mail, then store the code — or roll the reservation back.
   */
  async function sendCode<R>(
    accountId: string,
    reader: Pick<FactorAccount, 'name' | 'language'>,
    decide: (doc: EmailFactorDoc, now: number) => SendPlan | R,
  ): Promise<R | FactorFailure | { ok: true; sent: ChallengeSent }> {
    for (let round = 0; round < 4; round += 1) {
      const doc = await load(accountId);
      if (!doc) return { ok: false, code: 'not_enrolled' };
      const now = Date.now();
      const plan = decide(doc, now);
      if (!(typeof plan === 'object' && plan !== null && 'send' in plan)) return plan;
      const refusal = budgetRefusal(doc, now);
      if (refusal) return refusal;
      const sentAt = new Date(now);
      const reserved = await model.updateOne(
        { _id: accountId, rev: doc.rev },
        { $set: { rev: doc.rev + 1, lastSentAt: sentAt, recentSends: [...recentOf(doc, now), sentAt].slice(-codesPerHour) } },
      );
      if (reserved.matchedCount !== 1) continue; // a concurrent send or change: decide again on the new state
      const code = generateEmailCode();
      const id = randomBytes(12).toString('base64url');
      const { name, language } = reader;
      if (!await deliver({ email: plan.address, ...(name === undefined ? {} : { name }), ...(language === undefined ? {} : { language }) }, code)) {
        // Nothing half-written: give the cooldown and the budget back; the code was never stored.
        await model.updateOne(
          { _id: accountId, rev: doc.rev + 1 },
          { $set: { rev: doc.rev + 2, lastSentAt: doc.lastSentAt, recentSends: doc.recentSends ?? [] } },
        );
        return { ok: false, code: 'mail_failed' };
      }
      const expiresAt = new Date(now + codeTtlMs);
      const slot: EmailCodeSlotDoc = {
        id,
        purpose: plan.purpose,
        hash: hashEmailCode(pepper, accountId, id, code),
        sentAt,
        expiresAt,
        triesLeft: triesPerCode,
        usedAt: null,
      };
      const written = await model.updateOne(
        { _id: accountId, rev: doc.rev + 1, ...plan.still },
        { $set: { code: slot, ...plan.alsoSet(sentAt) } },
      );
      // The factor was removed (or re-enrolled) while the mail was on its way: the code it carries is not stored.
      if (written.matchedCount !== 1) return { ok: false, code: 'not_enrolled' };
      return {
        ok: true,
        sent: { ok: true, expiresAt, sentTo: maskEmail(plan.address), resendAvailableAt: new Date(now + resendCooldownMs) },
      };
    }
    throw new Error(`could not send an email code to ${accountId}: concurrent updates`);
  }

  /**
   * Checks `input` against the live code of `purpose`: reserves one try of that code atomically, then compares
   * hashes. Success leaves the code unconsumed (the caller consumes it with its own conditional update).
   */
  async function checkCode(
    accountId: string,
    doc: EmailFactorDoc,
    purpose: EmailCodePurpose,
    input: unknown,
  ): Promise<{ ok: true; slot: EmailCodeSlotDoc } | PlainFailure> {
    const code = normaliseEmailCode(input);
    if (code === undefined) return { ok: false, code: 'invalid_code' };
    const slot = doc.code;
    // No code sent, or the live one is for the other purpose: nothing this input could match.
    if (!slot || slot.purpose !== purpose) return { ok: false, code: 'invalid_code' };
    const hash = hashEmailCode(pepper, accountId, slot.id, code);
    const usedFailure = (): PlainFailure => ({ ok: false, code: sameHash(hash, slot.hash) ? 'code_replayed' : 'invalid_code' });
    if (slot.usedAt) return usedFailure();
    const now = new Date(Date.now());
    if (slot.expiresAt.getTime() <= now.getTime()) return { ok: false, code: 'expired' };
    const tried = await model.findOneAndUpdate(
      { _id: accountId, 'code.id': slot.id, 'code.usedAt': null, 'code.triesLeft': { $gt: 0 }, 'code.expiresAt': { $gt: now } },
      { $inc: { 'code.triesLeft': -1 } },
      { returnDocument: 'after' },
    ).lean<EmailFactorDoc>();
    if (!tried?.code || tried.code.id !== slot.id) {
      const current = (await load(accountId))?.code;
      if (!current || current.id !== slot.id) return { ok: false, code: 'invalid_code' }; // replaced meanwhile
      if (current.usedAt) return usedFailure();
      if (current.expiresAt.getTime() <= now.getTime()) return { ok: false, code: 'expired' };
      return { ok: false, code: 'too_many_tries' };
    }
    if (!sameHash(hash, tried.code.hash)) return { ok: false, code: 'invalid_code', triesLeft: tried.code.triesLeft };
    return { ok: true, slot: tried.code };
  }

  async function begin(
    account: FactorAccount,
    beginOptions: EnrolBeginOptions = {},
  ): Promise<EnrolBeginSuccess<EmailCodeEnrolView> | FactorFailure> {
    checkAccount(account);
    await ensure(account.id);
    const result = await sendCode(account.id, account, (doc, now): SendPlan | EnrolBeginSuccess<EmailCodeEnrolView> | FactorFailure => {
      const replacing = doc.active !== null;
      if (replacing && beginOptions.replace !== true) return { ok: false, code: 'already_enrolled' };
      const live = doc.code;
      if (
        !beginOptions.renew && doc.pending && doc.pending.email === account.email && live && live.purpose === 'enrol'
        && live.usedAt === null && live.triesLeft > 0 && live.expiresAt.getTime() > now
      ) {
        // Resume: the code already sent still works ("reload the page" must not mail again).
        const view = {
          sentTo: maskEmail(doc.pending.email),
          expiresAt: live.expiresAt,
          resendAvailableAt: new Date(doc.lastSentAt.getTime() + resendCooldownMs),
          replacing,
        };
        return { ok: true, status: 'pending', view, sent: { to: view.sentTo, resendAvailableAt: view.resendAvailableAt } };
      }
      return {
        send: true,
        address: account.email,
        purpose: 'enrol',
        still: replacing ? {} : { active: null },
        alsoSet: (at) => ({ pending: { email: account.email, startedAt: at } }),
      };
    });
    if (!result.ok || 'status' in result) return result;
    const { sent } = result;
    const view = {
      sentTo: sent.sentTo as string,
      expiresAt: sent.expiresAt,
      resendAvailableAt: sent.resendAvailableAt as Date,
      replacing: (await load(account.id))?.active != null,
    };
    return { ok: true, status: 'pending', view, sent: { to: view.sentTo, resendAvailableAt: view.resendAvailableAt } };
  }

  async function confirm(accountId: string, input: unknown): Promise<ConfirmSuccess | FactorFailure> {
    checkAccountId(accountId);
    const doc = await load(accountId);
    const pending = doc?.pending;
    if (!doc || !pending) return { ok: false, code: 'not_enrolled' };
    // The enrolment code was replaced by a sign-in code (replace flow): ask for a new enrolment code.
    if (doc.code?.purpose !== 'enrol') return { ok: false, code: 'expired' };
    // Not counted in the shared limiter (like TOTP's confirm): activating sends future codes to the account's own
    // address, so guessing here gains nothing; the per-code tries and the hourly budget still bound it.
    const checked = await checkCode(accountId, doc, 'enrol', input);
    if (!checked.ok) return checked;
    const before = await model.findOneAndUpdate(
      { _id: accountId, 'code.id': checked.slot.id, 'code.usedAt': null, 'pending.email': pending.email },
      { $set: { active: { email: pending.email, confirmedAt: new Date(Date.now()) }, pending: null, code: null } },
      { returnDocument: 'before' },
    ).lean<EmailFactorDoc>();
    if (!before) return { ok: false, code: 'code_replayed' }; // a parallel confirm of the same code won
    return { ok: true, replaced: before.active !== null };
  }

  async function send(account: FactorAccount): Promise<ChallengeSent | FactorFailure> {
    checkAccountId(account?.id);
    // A locked second factor would refuse the code anyway: say so now and send nothing (no mail for an attacker
    // to trigger on a locked account).
    const status = await attempts.status(account.id);
    if (status.locked) {
      return { ok: false, code: 'locked', permanent: status.permanent, ...(status.until ? { until: status.until } : {}) };
    }
    const result = await sendCode(account.id, account, (doc): SendPlan | FactorFailure => {
      if (!doc.active) return { ok: false, code: 'not_enrolled' };
      return {
        send: true,
        address: doc.active.email,
        purpose: 'sign_in',
        still: { 'active.email': doc.active.email },
        alsoSet: () => ({}),
      };
    });
    return result.ok ? result.sent : result;
  }

  async function verify(accountId: string, input: unknown): Promise<VerifyResult> {
    checkAccountId(accountId);
    if (!(await load(accountId))?.active) return { ok: false, code: 'not_enrolled' };
    return attempts.guard(accountId, async (attempt): Promise<VerifyResult> => {
      const doc = await load(accountId);
      if (!doc?.active) return { ok: false, code: 'not_enrolled' };
      const checked = await checkCode(accountId, doc, 'sign_in', input);
      if (!checked.ok) return checked;
      // Too late to be answered: use up no code (the limiter answers `locked`).
      if (attempt.late()) return { ok: false, code: 'invalid_code' };
      const consumed = await model.findOneAndUpdate(
        { _id: accountId, 'code.id': checked.slot.id, 'code.usedAt': null, active: { $ne: null } },
        { $set: { 'code.usedAt': new Date(Date.now()) } },
        { returnDocument: 'after' },
      ).lean<EmailFactorDoc>();
      if (!consumed) {
        // Another request used it first, or a resend replaced it in between (then it is simply not the live code).
        const current = (await load(accountId))?.code;
        return { ok: false, code: current?.id === checked.slot.id ? 'code_replayed' : 'invalid_code' };
      }
      return { ok: true, factorId: EMAIL_CODE_FACTOR_ID, amr: AMR, level: LEVEL.mfa };
    });
  }

  return Object.freeze({
    id: EMAIL_CODE_FACTOR_ID,
    amr: AMR,
    level: LEVEL.mfa,
    label: 'factors.email.label',
    inSentence: 'factors.email.in_sentence',
    wrongCode: 'factors.email.wrong_code',
    role: 'primary' as const,
    accountCollection: model.collection.collectionName,
    views: Object.freeze({ challenge: 'factors/email/challenge', enrol: 'factors/email/enrol' }),
    enrol: Object.freeze({ delivers: true, begin, confirm }),
    destination(account: FactorAccount): string {
      return maskEmail(account.email);
    },
    challenge: Object.freeze({ send }),
    verify,
    wellFormed: (input: unknown) => normaliseEmailCode(input) !== undefined,
    async isEnrolled(accountId: string): Promise<boolean> {
      checkAccountId(accountId);
      return (await load(accountId))?.active != null;
    },
    async enrolledAt(accountId: string): Promise<Date | undefined> {
      checkAccountId(accountId);
      return (await load(accountId))?.active?.confirmedAt ?? undefined;
    },
    async verifiedEmail(accountId: string): Promise<string | undefined> {
      checkAccountId(accountId);
      return (await load(accountId))?.active?.email ?? undefined;
    },
    async maskedAddress(accountId: string): Promise<string | undefined> {
      checkAccountId(accountId);
      const email = (await load(accountId))?.active?.email;
      return email === undefined ? undefined : maskEmail(email);
    },
    async remove(accountId: string): Promise<void> {
      checkAccountId(accountId);
      // The send budget stays (see model.ts): only the enrolments and the live code go.
      await model.updateOne({ _id: accountId }, { $set: { active: null, pending: null, code: null } });
    },
  });
}
