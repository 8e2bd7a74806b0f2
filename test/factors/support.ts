/**
 * Shared set-up of the factor tests: a fresh database, the built-in factors over it, a fixed start time, helpers to
 * generate TOTP codes the way an authenticator app would (from the URI it scanned) and to read QR codes.
 */
import { randomBytes } from 'node:crypto';
import jsQR from 'jsqr';
import mongoose from 'mongoose';
import { generate } from 'otplib';
import { PNG } from 'pngjs';
import type { CodeMailer } from '../../src/factors/email/factor.ts';
import { createDefaultFactors, type FactorRegistry } from '../../src/factors/registry.ts';
import type { AttemptLimiter, AttemptPolicy } from '../../src/factors/shared/attempts.ts';
import { createSecretBox, generateKey, type SecretBox } from '../../src/factors/shared/secret_box.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { connectFreshDb, mongoBaseUri } from '../helpers/db.ts';

export const TEST_ISSUER = 'Keys Express';

/** 2026-11-25T12:00:00Z, at the start of a 30 s step (1 795 608 000 s = step 59 853 600). */
export const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);

export interface FactorBed {
  readonly conn: mongoose.Connection;
  readonly secretBox: SecretBox;
  readonly registry: FactorRegistry;
  readonly attempts: AttemptLimiter;
  readonly pepper: Buffer;
  /** The email-code pepper (set when a `codeMailer` was given). */
  readonly emailPepper?: Buffer;
}

/**
 * A fresh database with the built-in factors; close `conn` after the suite. With `options.codeMailer` the email-code
 * factor is registered too.
 */
export async function setUpFactors(
  label: string,
  attemptPolicy?: Partial<AttemptPolicy>,
  options: { codeMailer?: CodeMailer } = {},
): Promise<FactorBed> {
  const conn = await connectFreshDb(label);
  const secretBox = createSecretBox({ activeKeyId: 'test1', keys: { test1: generateKey() } });
  const pepper = randomBytes(32);
  const emailPepper = options.codeMailer ? randomBytes(32) : undefined;
  const { registry, attempts } = createDefaultFactors({
    conn, secretBox, issuer: TEST_ISSUER, recoveryPepper: pepper, attemptPolicy,
    ...(options.codeMailer && emailPepper ? { codeMailer: options.codeMailer, emailCodePepper: emailPepper } : {}),
  });
  return { conn, secretBox, registry, attempts, pepper, ...(emailPepper ? { emailPepper } : {}) };
}

/** A unique account for one test. */
export function newAccount(): { id: string; email: string } {
  const id = `acc_${randomBytes(6).toString('hex')}`;
  return { id, email: `${id}@example.com` };
}

/** The `secret` parameter of an otpauth URI. */
export function secretOfUri(uri: string): string {
  const secret = new URL(uri).searchParams.get('secret');
  if (!secret) throw new Error(`no secret in ${uri}`);
  return secret;
}

/** The 6-digit code an authenticator app shows for `secretBase32` at `atMs` (default: now). */
export async function appCode(secretBase32: string, atMs: number = Date.now()): Promise<string> {
  return generate({ secret: secretBase32.replace(/\s+/g, ''), epoch: Math.floor(atMs / 1000) });
}

/** Decodes the QR code of a `data:image/png;base64,…` URL. */
export function decodeQrDataUrl(dataUrl: string): string | undefined {
  const match = /^data:image\/png;base64,(.+)$/.exec(dataUrl);
  if (!match?.[1]) throw new Error('not an inline PNG data URL');
  const png = PNG.sync.read(Buffer.from(match[1], 'base64'));
  return jsQR.default(new Uint8ClampedArray(png.data), png.width, png.height)?.data;
}

/** Enrols `account` in `totp` at the current (frozen) time and returns the base32 secret its app holds. */
export async function enrolTotp(
  totp: { enrol: { begin: TotpFactor['enrol']['begin']; confirm: TotpFactor['enrol']['confirm'] } },
  account: { id: string; email: string },
): Promise<string> {
  const begun = await totp.enrol.begin(account);
  if (!begun.ok) throw new Error(`begin failed: ${begun.code}`);
  const secret = secretOfUri(begun.view.otpauthUri);
  const confirmed = await totp.enrol.confirm(account.id, await appCode(secret));
  if (!confirmed.ok) throw new Error(`confirm failed: ${confirmed.code}`);
  return secret;
}

/** A six-digit code that is not `code`. */
export function otherCode(code: string): string {
  return String((Number(code) + 500_000) % 1_000_000).padStart(6, '0');
}

/** A six-digit code that no step of the ±1 window accepts now (so a "wrong guess" is never right by chance). */
export async function wrongCode(secretBase32: string, atMs: number = Date.now()): Promise<string> {
  const window = await Promise.all([-30_000, 0, 30_000].map((offset) => appCode(secretBase32, atMs + offset)));
  let candidate = otherCode(window[1] as string);
  while (window.includes(candidate)) candidate = otherCode(String(Number(candidate) + 1));
  return candidate;
}

/** A second connection (another "server instance") to the database of `conn`; the caller closes it. */
export async function connectSameDb(conn: mongoose.Connection): Promise<mongoose.Connection> {
  const base = mongoBaseUri();
  const query = base.indexOf('?');
  const uri = query === -1 ? `${base}/${conn.name}` : `${base.slice(0, query).replace(/\/$/, '')}/${conn.name}${base.slice(query)}`;
  return mongoose.createConnection(uri, { serverSelectionTimeoutMS: 5000 }).asPromise();
}

/** One wrong attempt as a factor makes it: a reservation answered with a failure. Throws when the key is locked. */
export async function failOnce(limiter: AttemptLimiter, key: string): Promise<void> {
  const reservation = await limiter.reserve(key);
  if (!reservation.ok) throw new Error(`${key} is locked`);
  await limiter.fail(reservation.ticket);
}
