/**
 * The authenticator-app factor (RFC 6238 TOTP): set up at a sign-in that demands it or in the security console,
 * backed by recovery codes, removed by support when the phone is lost (docs/ARCHITECTURE.md "The factor contract").
 *
 * Enrolment: `begin` creates (or keeps) a pending secret and returns the QR code, the URI and the grouped key;
 * `confirm` activates it only after a correct code, in one atomic update that also records the code's time step
 * (so the enrolment code cannot sign in again). An active enrolment is replaced only when the caller passes
 * `replace: true` (after a fresh second factor: enrolment hijack protection) and only at `confirm`: until then the
 * old secret keeps working.
 *
 * Enrolment hijack: the pending secret is bound to the session/flow that asked for it (`binding`, opaque: the
 * caller passes the oidc-provider session or interaction uid). Another binding never sees it — its `begin` gets a
 * fresh secret that replaces the pending one — and `confirm` must present the binding of the pending secret. So a
 * second, password-only session cannot read the QR code the victim is scanning and end up holding the same factor.
 * Confirmation codes are guesses like any other: they count in the shared second-factor bucket (a wrong one is a
 * failure; a right one gives its unit back without clearing earlier failures — it proves the new authenticator,
 * not the account's existing second factor).
 *
 * Verification: the attempt is reserved in the shared limiter first; the accepted time step is consumed with a
 * conditional update (`active.lastUsedStep < step`), so of any number of parallel submissions of one code exactly
 * one succeeds, and no step at or before an accepted one is accepted later.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../../shared/crypto.ts';
import type { Connection } from 'mongoose';
import QRCode from 'qrcode';
import type {
  ConfirmSuccess, EnrolBeginOptions, EnrolBeginSuccess, Factor, FactorAccount, FactorFailure, PlainFailure, VerifyResult,
} from '../contract.ts';
import { checkAccountId } from '../shared/account_id.ts';
import type { AttemptInFlight, AttemptLimiter } from '../shared/attempts.ts';
import type { SecretBox } from '../shared/secret_box.ts';
import { advanceCounter } from '../shared/single_use.ts';
import { isDuplicateKeyError } from '../../shared/errors.ts';
import { LEVEL } from '../../shared/assurance.ts';
import { readModelDocument } from '../../store/model_reads.ts';
import { totpEnrolmentModel, type TotpEnrolmentDoc, type TotpPendingDoc, type TotpSlotDoc } from './model.ts';
import {
  buildOtpauthUri, checkTotpCode, encodeBase32, formatManualKey, generateTotpSecret, normaliseTotpInput,
} from './otp.ts';

export const TOTP_FACTOR_ID = 'totp';

/** What the enrolment page shows. Contains the secret: never log it. */
export interface TotpEnrolView extends Record<string, unknown> {
  /** `otpauth://totp/…` (Key Uri Format). */
  readonly otpauthUri: string;
  /** The URI as an inline PNG (`data:image/png;base64,…`): no external request. */
  readonly qrDataUrl: string;
  /** The base32 key in groups of four, for manual entry. */
  readonly manualKey: string;
  /** Whether confirming replaces an active enrolment (say so on the page). */
  readonly replacing: boolean;
}

export interface TotpFactorOptions {
  readonly conn: Connection;
  readonly secretBox: SecretBox;
  /** The shared second-factor limiter. */
  readonly attempts: AttemptLimiter;
  /** The issuer shown in authenticator apps ("Keys.Express"). */
  readonly issuer: string;
  /** How long a pending enrolment may be confirmed, in ms. Default 1 hour. */
  readonly pendingTtlMs?: number;
}

/** Options of {@link TotpFactor.enrol}`.begin`. */
export interface TotpBeginOptions extends EnrolBeginOptions {
  /**
   * Opaque id of the session/flow enrolling (the oidc-provider session uid, or the interaction uid): the pending
   * secret is shown to and confirmable by this binding only; `begin` from another binding replaces it with a fresh
   * one. Pages must always pass it. Absent = the unbound flow (tests, tools), which is just another binding.
   * A non-empty string of at most 256 characters.
   */
  readonly binding?: string;
}

export interface TotpFactor extends Factor {
  readonly enrol: {
    readonly delivers: boolean;
    /** Starts or resumes the enrolment of the flow `options.binding`; see {@link TotpBeginOptions}. */
    begin(account: FactorAccount, options?: TotpBeginOptions): Promise<EnrolBeginSuccess<TotpEnrolView> | FactorFailure>;
    /**
     * Activates the pending enrolment with a correct code. `binding` must be the one `begin` was called with
     * (otherwise `not_enrolled`: this flow has no pending enrolment). Each wrong code counts in the shared attempt
     * bucket (`locked` once it is spent); a correct one does not reset it.
     */
    confirm(accountId: string, input: unknown, binding?: string): Promise<ConfirmSuccess | FactorFailure>;
  };
  /** When the active enrolment was confirmed. */
  enrolledAt(accountId: string): Promise<Date | undefined>;
}

const AMR = Object.freeze(['otp']);
const MAX_BINDING_LENGTH = 256;

/** The stored form of a binding (a session uid is not kept in clear in another collection); `null` when unbound. */
function bindingHashOf(binding: unknown): string | null {
  if (binding === undefined) return null;
  if (typeof binding !== 'string' || binding.length === 0 || binding.length > MAX_BINDING_LENGTH) {
    throw new TypeError(`binding must be a non-empty string of at most ${MAX_BINDING_LENGTH} characters`);
  }
  return createHash('sha256').update(binding, 'utf8').digest('hex');
}

function sameBinding(stored: string | null | undefined, presented: string | null): boolean {
  if (stored == null || presented === null) return (stored ?? null) === presented;
  return constantTimeEqual(stored, presented);
}

/** Creates the TOTP factor. */
export function createTotpFactor(options: TotpFactorOptions): TotpFactor {
  const { secretBox, attempts, issuer } = options;
  if (!issuer) throw new Error('the TOTP issuer must not be empty');
  const pendingTtlMs = options.pendingTtlMs ?? 3_600_000;
  const model = totpEnrolmentModel(options.conn);
  const aadOf = (accountId: string, enrolmentId: string): string => `totp:${accountId}:${enrolmentId}`;

  async function load(accountId: string): Promise<TotpEnrolmentDoc | null> {
    return readModelDocument(model, accountId);
  }

  async function ensure(accountId: string): Promise<void> {
    try {
      await model.create({ _id: accountId, active: null, pending: null });
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
    }
  }

  function isExpired(pending: TotpSlotDoc, now: number): boolean {
    return now - pending.createdAt.getTime() > pendingTtlMs;
  }

  async function viewOf(account: FactorAccount, pending: TotpSlotDoc, replacing: boolean): Promise<TotpEnrolView> {
    const secretBase32 = encodeBase32(secretBox.open(pending.secret, aadOf(account.id, pending.id)));
    const otpauthUri = buildOtpauthUri({ issuer, accountName: account.email, secretBase32 });
    const qrDataUrl = await QRCode.toDataURL(otpauthUri, { errorCorrectionLevel: 'M', margin: 2, width: 256 });
    return { otpauthUri, qrDataUrl, manualKey: formatManualKey(secretBase32), replacing };
  }

  async function begin(
    account: FactorAccount,
    beginOptions: TotpBeginOptions = {},
  ): Promise<EnrolBeginSuccess<TotpEnrolView> | FactorFailure> {
    checkAccountId(account?.id);
    if (typeof account.email !== 'string' || account.email.length === 0) throw new TypeError('account.email must be a non-empty string');
    const binding = bindingHashOf(beginOptions.binding);
    await ensure(account.id);
    for (let round = 0; round < 5; round += 1) {
      const doc = await load(account.id);
      if (!doc) throw new Error(`the TOTP enrolment of ${account.id} vanished`);
      const replacing = doc.active !== null;
      if (replacing && beginOptions.replace !== true) return { ok: false, code: 'already_enrolled' };
      const now = Date.now();
      // Only the flow that started the pending enrolment gets it back; any other flow replaces it, never sees it.
      if (doc.pending && !beginOptions.renew && !isExpired(doc.pending, now) && sameBinding(doc.pending.binding, binding)) {
        return { ok: true, status: 'pending', view: await viewOf(account, doc.pending, replacing) };
      }
      const id = randomBytes(12).toString('base64url');
      const pending: TotpPendingDoc = {
        id,
        secret: secretBox.seal(generateTotpSecret(), aadOf(account.id, id)),
        createdAt: new Date(now),
        binding,
      };
      // Conditional on the pending slot we looked at: two concurrent `begin`s of one flow end with one pending
      // secret, which both pages show (the loser reads the winner's).
      const written = await model.findOneAndUpdate(
        { _id: account.id, 'pending.id': doc.pending?.id ?? null },
        { $set: { pending } },
        { returnDocument: 'after' },
      ).lean<TotpEnrolmentDoc>();
      if (written?.pending?.id === id) {
        return { ok: true, status: 'pending', view: await viewOf(account, pending, replacing) };
      }
      beginOptions = { ...beginOptions, renew: false };
    }
    throw new Error(`could not start a TOTP enrolment for ${account.id}: concurrent updates`);
  }

  async function confirm(accountId: string, input: unknown, binding?: string): Promise<ConfirmSuccess | FactorFailure> {
    checkAccountId(accountId);
    const presented = bindingHashOf(binding);
    const doc = await load(accountId);
    const pending = doc?.pending;
    // Another flow's pending enrolment is none of this flow's business: same answer as no pending enrolment.
    if (!doc || !pending || !sameBinding(pending.binding, presented)) return { ok: false, code: 'not_enrolled' };
    if (isExpired(pending, Date.now())) return { ok: false, code: 'expired' };
    // The right code confirms a new authenticator, not a guess at an existing secret: it neither counts nor resets.
    return attempts.guard(accountId, (attempt) => activate(accountId, pending, input, attempt), { onSuccess: 'release' });
  }

  /** Checks the confirmation code against `pending` and switches it to active in one conditional update. */
  async function activate(accountId: string, pending: TotpPendingDoc, input: unknown, attempt: AttemptInFlight): Promise<ConfirmSuccess | PlainFailure> {
    const code = normaliseTotpInput(input);
    if (code === undefined) return { ok: false, code: 'invalid_code' };
    const secret = secretBox.open(pending.secret, aadOf(accountId, pending.id));
    const match = await checkTotpCode(secret, code);
    // Too late to be answered: activate nothing (the limiter answers `locked`).
    if (!match.valid || attempt.late()) return { ok: false, code: 'invalid_code' };
    const now = new Date(Date.now());
    const before = await model.findOneAndUpdate(
      { _id: accountId, 'pending.id': pending.id },
      {
        $set: {
          active: { id: pending.id, secret: pending.secret, createdAt: pending.createdAt, confirmedAt: now, lastUsedStep: match.timeStep },
          pending: null,
        },
      },
      { returnDocument: 'before' },
    ).lean<TotpEnrolmentDoc>();
    if (!before) {
      // Another request confirmed (or renewed) this pending enrolment first.
      const current = await load(accountId);
      return { ok: false, code: current?.active?.id === pending.id ? 'code_replayed' : 'expired' };
    }
    return { ok: true, replaced: before.active !== null };
  }

  async function verify(accountId: string, input: unknown): Promise<VerifyResult> {
    checkAccountId(accountId);
    const doc = await load(accountId);
    const active = doc?.active;
    if (!active) return { ok: false, code: 'not_enrolled' };
    return attempts.guard(accountId, async (attempt): Promise<VerifyResult> => {
      const code = normaliseTotpInput(input);
      if (code === undefined) return { ok: false, code: 'invalid_code' };
      const secret = secretBox.open(active.secret, aadOf(accountId, active.id));
      const match = await checkTotpCode(secret, code);
      // Too late to be answered: use up no time step (the limiter answers `locked`).
      if (!match.valid || attempt.late()) return { ok: false, code: 'invalid_code' };
      const consumed = match.timeStep > active.lastUsedStep
        && await advanceCounter(model, { _id: accountId, 'active.id': active.id }, 'active.lastUsedStep', match.timeStep);
      if (!consumed) return { ok: false, code: 'code_replayed' };
      if (secretBox.needsRotation(active.secret)) {
        // Finish a key rotation lazily: re-seal under the active key (the same plaintext, a fresh IV).
        await model.updateOne(
          { _id: accountId, 'active.id': active.id },
          { $set: { 'active.secret': secretBox.seal(secret, aadOf(accountId, active.id)) } },
        );
      }
      return { ok: true, factorId: TOTP_FACTOR_ID, amr: AMR, level: LEVEL.mfaApp };
    });
  }

  const factor: TotpFactor = Object.freeze({
    id: TOTP_FACTOR_ID,
    amr: AMR,
    level: LEVEL.mfaApp,
    label: 'factors.totp.label',
    inSentence: 'factors.totp.in_sentence',
    wrongCode: 'factors.totp.wrong_code',
    role: 'primary' as const,
    accountCollection: model.collection.collectionName,
    views: Object.freeze({ challenge: 'factors/totp/challenge', enrol: 'factors/totp/enrol' }),
    enrol: Object.freeze({ delivers: false, begin, confirm }),
    verify,
    wellFormed: (input: unknown) => normaliseTotpInput(input) !== undefined,
    async isEnrolled(accountId: string): Promise<boolean> {
      checkAccountId(accountId);
      return (await load(accountId))?.active != null;
    },
    async remove(accountId: string): Promise<void> {
      checkAccountId(accountId);
      await model.deleteOne({ _id: accountId });
    },
    async enrolledAt(accountId: string): Promise<Date | undefined> {
      checkAccountId(accountId);
      return (await load(accountId))?.active?.confirmedAt ?? undefined;
    },
  });
  return factor;
}
