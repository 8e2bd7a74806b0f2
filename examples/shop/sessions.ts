/**
 * The shop's sessions: in this process's memory, behind a signed cookie. A real shop keeps them in its own store
 * (Redis, its database); what matters here is what a session holds across the detour to the provider — the cart, the
 * order waiting for the customer's second factor, and the authorization requests in progress.
 */
import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { Line } from './catalogue.ts';

/** The signed-in customer, as the provider told the shop (ID token and userinfo), and the session's tokens. */
export interface Customer {
  readonly sub: string;
  name: string;
  email: string;
  /** The `invoice_eligible` claim: offer paying by invoice. The provider still decides at the step-up. */
  invoiceEligible: boolean;
  /** When userinfo was last read (ms); the checkout reads it again when older than a few minutes. */
  profileReadAt: number;
  readonly idToken: string;
  accessToken: string;
  accessTokenExpiresAt: number;
  /** `offline_access`: keeps the shop's session alive and its profile current without sending the customer away. */
  refreshToken: string | undefined;
}

/** An authorization request sent to the provider, waiting for its answer at /callback (keyed by `state`). */
export interface PendingAuthorization {
  readonly purpose: 'sign_in' | 'step_up';
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly startedAt: number;
  /** sign_in: where to go afterwards (a path of this shop). */
  readonly returnTo?: string;
  /** step_up: the order waiting for it. */
  readonly orderId?: string;
}

/** Why an order still waits, as the order page explains it. */
export type OrderNotice =
  | 'cancelled'
  | 'expired'
  | 'not_confirmed'
  | 'other_account'
  | 'api_unavailable'
  | 'provider_error';

export interface Order {
  readonly id: string;
  readonly lines: readonly Line[];
  readonly totalCents: number;
  payment: 'card' | 'invoice';
  status: 'awaiting_confirmation' | 'placed';
  readonly createdAt: number;
  placedAt?: number;
  /** Issued by the invoice API when it booked the order. */
  invoiceNumber?: string;
  notice?: OrderNotice;
}

export interface Session {
  readonly id: string;
  /** Every form of the shop carries it (no cross-site form posts). */
  readonly csrf: string;
  cart: Record<string, number>;
  customer: Customer | undefined;
  pending: Record<string, PendingAuthorization>;
  orders: Record<string, Order>;
  /** The latest access token for the invoice API (no refresh token comes with it: the provider never issues one for `invoice`). */
  invoiceToken: { value: string; expiresAt: number } | undefined;
  /** A message for the next page shown. */
  flash?: string | undefined;
  seenAt: number;
}

const COOKIE = 'example_shop';
const IDLE_MS = 12 * 3600_000;
/** How long an authorization request may take: the provider's sign-in interaction lives 30 minutes. */
export const PENDING_TTL_MS = 30 * 60_000;
const MAX_PENDING = 5;

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

export interface SessionStore {
  /** The request's session, created (and its cookie set) when there is none. */
  of(ctx: Context): Session;
  /** Ends the session and forgets its cookie. */
  end(ctx: Context): void;
}

export function createSessionStore(options: { secure: boolean }): SessionStore {
  const sessions = new Map<string, Session>();
  const sweep = (now: number): void => {
    for (const [id, session] of sessions) if (now - session.seenAt > IDLE_MS) sessions.delete(id);
  };
  return {
    of(ctx) {
      const now = Date.now();
      const id = ctx.cookies.get(COOKIE, { signed: true });
      const known = id ? sessions.get(id) : undefined;
      if (known && now - known.seenAt <= IDLE_MS) {
        known.seenAt = now;
        return known;
      }
      sweep(now);
      const session: Session = { id: randomId(), csrf: randomId(), cart: {}, customer: undefined, pending: {}, orders: {}, invoiceToken: undefined, seenAt: now };
      sessions.set(session.id, session);
      // SameSite=Lax: sent when the provider sends the browser back (a top-level GET), never with a cross-site POST.
      ctx.cookies.set(COOKIE, session.id, { signed: true, httpOnly: true, sameSite: 'lax', secure: options.secure, overwrite: true });
      return session;
    },
    end(ctx) {
      const id = ctx.cookies.get(COOKIE, { signed: true });
      if (id) sessions.delete(id);
      ctx.cookies.set(COOKIE, null, { signed: true, overwrite: true });
    },
  };
}

/** Remembers an authorization request, dropping expired ones and the oldest beyond a few (several tabs). */
export function addPending(session: Session, pending: PendingAuthorization): void {
  const now = Date.now();
  const kept = Object.values(session.pending)
    .filter((item) => now - item.startedAt <= PENDING_TTL_MS)
    .sort((a, b) => a.startedAt - b.startedAt)
    .slice(-(MAX_PENDING - 1));
  session.pending = Object.fromEntries([...kept, pending].map((item) => [item.state, item]));
}

/** Takes the authorization request a callback answers (single use); expired ones are reported as such. */
export function takePending(session: Session, state: unknown): { pending: PendingAuthorization; expired: boolean } | undefined {
  if (typeof state !== 'string' || !Object.hasOwn(session.pending, state)) return undefined;
  const pending = session.pending[state] as PendingAuthorization;
  delete session.pending[state];
  return { pending, expired: Date.now() - pending.startedAt > PENDING_TTL_MS };
}
