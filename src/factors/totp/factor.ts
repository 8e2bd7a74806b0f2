/**
 * The authenticator-app factor (RFC 6238 TOTP), DESIGN.md §5 and seeds 000/001/004.
 *
 * Enrolment: `begin` creates (or keeps) a pending secret and returns the QR code, the URI and the grouped key;
 * `confirm` activates it only after a correct code, in one atomic update that also records the code's time step
 * (so the enrolment code cannot sign in again). An active enrolment is replaced only when the caller passes
 * `replace: true` (after a fresh second factor: enrolment hijack protection) and only at `confirm`: until then the
 * old secret keeps working.
 *
 * Verification: the attempt is reserved in the shared limiter first; the accepted time step is consumed with a
 * conditional update (`active.lastUsedStep < step`), so of any number of parallel submissions of one code exactly
 * one succeeds, and no step at or before an accepted one is accepted later.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import QRCode from 'qrcode';
import type {
  ConfirmSuccess, EnrolBeginOptions, EnrolBeginSuccess, Factor, FactorAccount, FactorFailure, VerifyResult,
} from '../contract.ts';
import type { AttemptLimiter } from '../shared/attempts.ts';
import type { SecretBox } from '../shared/secret_box.ts';
import { advanceCounter } from '../shared/single_use.ts';
import { isDuplicateKeyError } from '../../shared/errors.ts';
import { LEVEL } from '../../policy/acr.ts';
import { totpEnrolmentModel, type TotpEnrolmentDoc, type TotpSlotDoc } from './model.ts';
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

export interface TotpFactor extends Factor {
  readonly enrol: {
    begin(account: FactorAccount, options?: EnrolBeginOptions): Promise<EnrolBeginSuccess<TotpEnrolView> | FactorFailure>;
    confirm(accountId: string, input: unknown): Promise<ConfirmSuccess | FactorFailure>;
  };
}

const AMR = Object.freeze(['otp']);

function checkAccountId(accountId: unknown): asserts accountId is string {
  if (typeof accountId !== 'string' || accountId.length === 0) throw new TypeError('accountId must be a non-empty string');
}

/** Creates the TOTP factor. */
export function createTotpFactor(options: TotpFactorOptions): TotpFactor {
  const { secretBox, attempts, issuer } = options;
  if (!issuer) throw new Error('the TOTP issuer must not be empty');
  const pendingTtlMs = options.pendingTtlMs ?? 3_600_000;
  const model = totpEnrolmentModel(options.conn);
  const aadOf = (accountId: string, enrolmentId: string): string => `totp:${accountId}:${enrolmentId}`;

  async function load(accountId: string): Promise<TotpEnrolmentDoc | null> {
    return model.findById(accountId).lean<TotpEnrolmentDoc>();
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
    beginOptions: EnrolBeginOptions = {},
  ): Promise<EnrolBeginSuccess<TotpEnrolView> | FactorFailure> {
    checkAccountId(account?.id);
    if (typeof account.email !== 'string' || account.email.length === 0) throw new TypeError('account.email must be a non-empty string');
    await ensure(account.id);
    for (let round = 0; round < 3; round += 1) {
      const doc = await load(account.id);
      if (!doc) throw new Error(`the TOTP enrolment of ${account.id} vanished`);
      const replacing = doc.active !== null;
      if (replacing && beginOptions.replace !== true) return { ok: false, code: 'already_enrolled' };
      const now = Date.now();
      if (doc.pending && !beginOptions.renew && !isExpired(doc.pending, now)) {
        return { ok: true, status: 'pending', view: await viewOf(account, doc.pending, replacing) };
      }
      const id = randomBytes(12).toString('base64url');
      const pending: TotpSlotDoc = {
        id,
        secret: secretBox.seal(generateTotpSecret(), aadOf(account.id, id)),
        createdAt: new Date(now),
      };
      // Conditional on the pending slot we looked at: two concurrent `begin`s end with one pending secret, which
      // both pages show (the loser reads the winner's).
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

  async function confirm(accountId: string, input: unknown): Promise<ConfirmSuccess | FactorFailure> {
    checkAccountId(accountId);
    const doc = await load(accountId);
    const pending = doc?.pending;
    if (!doc || !pending) return { ok: false, code: 'not_enrolled' };
    if (isExpired(pending, Date.now())) return { ok: false, code: 'expired' };
    const code = normaliseTotpInput(input);
    if (code === undefined) return { ok: false, code: 'invalid_code' };
    const secret = secretBox.open(pending.secret, aadOf(accountId, pending.id));
    const match = await checkTotpCode(secret, code);
    if (!match.valid) return { ok: false, code: 'invalid_code' };
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
    return attempts.guard(accountId, async (): Promise<VerifyResult> => {
      const code = normaliseTotpInput(input);
      if (code === undefined) return { ok: false, code: 'invalid_code' };
      const secret = secretBox.open(active.secret, aadOf(accountId, active.id));
      const match = await checkTotpCode(secret, code);
      if (!match.valid) return { ok: false, code: 'invalid_code' };
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

  return Object.freeze({
    id: TOTP_FACTOR_ID,
    amr: AMR,
    level: LEVEL.mfaApp,
    label: 'Authenticator app',
    role: 'primary' as const,
    views: Object.freeze({ challenge: 'factors/totp/challenge', enrol: 'factors/totp/enrol', enrolled: 'factors/totp/enrolled' }),
    enrol: Object.freeze({ begin, confirm }),
    verify,
    async isEnrolled(accountId: string): Promise<boolean> {
      checkAccountId(accountId);
      return (await load(accountId))?.active != null;
    },
    async remove(accountId: string): Promise<void> {
      checkAccountId(accountId);
      await model.deleteOne({ _id: accountId });
    },
  });
}
