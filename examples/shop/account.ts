/**
 * Signing in with the provider and out again, and keeping what the shop knows about the customer current.
 *
 * The sign-in asks for `openid email profile offline_access invoice_eligibility`: the ID token says who signed in,
 * userinfo gives the name for the header and `invoice_eligible` (whether to offer paying by invoice), and the refresh
 * token (`offline_access`) lets the checkout read userinfo again without sending the customer away — so a privilege
 * withdrawn meanwhile is noticed, and a session ended at the provider (a password change signs out everywhere) ends
 * here too.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import * as oidc from 'openid-client';
import { ShopError, type ShopKit } from './kit.ts';
import { addPending, takePending, type Customer, type PendingAuthorization, type Session } from './sessions.ts';

export const SIGN_IN_SCOPE = 'openid email profile offline_access invoice_eligibility';
/** How long the checkout trusts what userinfo said (ms). */
export const PROFILE_MAX_AGE_MS = 5 * 60_000;

/** A path of this shop to return to (never another site: an open redirect). */
export function safeReturnPath(value: unknown, fallback = '/'): string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.includes('\\') ? value : fallback;
}

/** Sends the browser to the provider to sign in, then back to `returnTo`. */
export async function startSignIn(kit: ShopKit, ctx: Context, session: Session, returnTo: string): Promise<void> {
  const { url, pending } = await kit.provider.authorize('sign_in', { scope: SIGN_IN_SCOPE }, { returnTo: safeReturnPath(returnTo) });
  addPending(session, pending);
  ctx.redirect(url.href);
}

function expiresAt(tokens: { expires_in?: number | undefined }): number {
  return Date.now() + (tokens.expires_in ?? 0) * 1000;
}

async function finishSignIn(kit: ShopKit, ctx: Context, session: Session, pending: PendingAuthorization): Promise<void> {
  let tokens: Awaited<ReturnType<ShopKit['provider']['finish']>>;
  try {
    tokens = await kit.provider.finish(callbackUrlOf(kit, ctx), pending);
  } catch (err) {
    if (err instanceof oidc.AuthorizationResponseError && err.error === 'access_denied') {
      session.flash = 'Sign-in cancelled. Your cart is kept.';
      kit.seeOther(ctx, '/cart');
      return;
    }
    kit.log('warn', 'sign-in failed', { err: String(err) });
    kit.render(ctx, 'problem', { heading: 'The sign-in did not work', message: 'Please try again. Your cart is kept.' }, 400);
    return;
  }
  const sub = tokens.claims()?.sub as string;
  const info = await kit.provider.userinfo(tokens.access_token, sub);
  if (session.customer?.sub !== sub) {
    // Another customer in this browser: their orders and tokens are not this one's.
    session.orders = {};
    session.invoiceToken = undefined;
  }
  const customer: Customer = {
    sub,
    name: typeof info.name === 'string' ? info.name : String(info.email ?? 'Customer'),
    email: typeof info.email === 'string' ? info.email : '',
    invoiceEligible: info.invoice_eligible === true,
    profileReadAt: Date.now(),
    idToken: tokens.id_token as string,
    accessToken: tokens.access_token,
    accessTokenExpiresAt: expiresAt(tokens),
    refreshToken: tokens.refresh_token,
  };
  session.customer = customer;
  kit.seeOther(ctx, pending.returnTo ?? '/');
}

/** The callback URL as the provider sent it, on this shop's public origin (the redirect URI must match). */
export function callbackUrlOf(kit: ShopKit, ctx: Context): URL {
  return new URL(ctx.originalUrl, kit.options.shopUrl);
}

/** The session's access token expired and no refresh token came with the sign-in. */
class NoRefreshToken extends Error {}

function isSignedOutAnswer(err: unknown): boolean {
  return err instanceof NoRefreshToken
    || (err instanceof oidc.ResponseBodyError && err.error === 'invalid_grant')
    || err instanceof oidc.WWWAuthenticateChallengeError;
}

/**
 * The signed-in customer with a profile no older than {@link PROFILE_MAX_AGE_MS}: userinfo read again with the
 * session's access token, refreshed first when it expired. `undefined` when the provider ended the sign-in (the
 * refresh token or the access token refused): the shop's session ends too. A provider that cannot be reached leaves
 * the profile as it was.
 */
export async function currentCustomer(kit: ShopKit, session: Session): Promise<Customer | undefined> {
  const customer = session.customer;
  if (!customer || Date.now() - customer.profileReadAt < PROFILE_MAX_AGE_MS) return customer;
  try {
    if (customer.accessTokenExpiresAt - 10_000 <= Date.now()) {
      if (!customer.refreshToken) throw new NoRefreshToken();
      const tokens = await kit.provider.refresh(customer.refreshToken);
      customer.accessToken = tokens.access_token;
      customer.accessTokenExpiresAt = expiresAt(tokens);
      customer.refreshToken = tokens.refresh_token ?? customer.refreshToken;
    }
    const info = await kit.provider.userinfo(customer.accessToken, customer.sub);
    if (typeof info.name === 'string') customer.name = info.name;
    if (typeof info.email === 'string') customer.email = info.email;
    customer.invoiceEligible = info.invoice_eligible === true;
    customer.profileReadAt = Date.now();
    return customer;
  } catch (err) {
    if (!isSignedOutAnswer(err)) {
      kit.log('warn', 'could not read the profile again; keeping the one read before', { err: String(err) });
      return customer;
    }
    session.customer = undefined;
    session.invoiceToken = undefined;
    session.flash = 'You were signed out. Please sign in again; your cart is kept.';
    return undefined;
  }
}

/** The routes of signing in and out; `/callback` also answers step-ups (`finishStepUp`). */
export function accountRoutes(
  kit: ShopKit,
  router: Router,
  finishStepUp: (ctx: Context, session: Session, pending: PendingAuthorization, expired: boolean) => Promise<void>,
): void {
  router.get('/sign-in', async function signIn(ctx) {
    await startSignIn(kit, ctx, kit.sessions.of(ctx), safeReturnPath(ctx.query.return));
  });

  router.get('/callback', async function callback(ctx) {
    const session = kit.sessions.of(ctx);
    const taken = takePending(session, ctx.query.state);
    if (!taken) {
      const waiting = Object.values(session.orders).filter((order) => order.status === 'awaiting_confirmation').at(-1);
      kit.render(ctx, 'problem', {
        heading: 'This answer from the sign-in has expired',
        message: 'It was already used, or took too long. Nothing was paid; your cart is kept.',
        ...(waiting ? { link: { href: `/orders/${waiting.id}`, label: 'Back to your order' } } : {}),
      }, 400);
      return;
    }
    const { pending, expired } = taken;
    if (pending.purpose === 'step_up') {
      await finishStepUp(ctx, session, pending, expired);
    } else if (expired) {
      session.flash = 'The sign-in took too long. Please sign in again; your cart is kept.';
      kit.seeOther(ctx, '/cart');
    } else {
      await finishSignIn(kit, ctx, session, pending);
    }
  });

  router.post('/sign-out', async function signOut(ctx) {
    kit.form(ctx);
    const session = kit.sessions.of(ctx);
    const idToken = session.customer?.idToken;
    kit.sessions.end(ctx);
    if (!idToken) throw new ShopError(400, 'You are not signed in.');
    // RP-initiated logout: the provider asks the customer, ends its session and sends them back here.
    kit.seeOther(ctx, (await kit.provider.endSessionUrl(idToken)).href);
  });
}
