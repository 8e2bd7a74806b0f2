/**
 * Checkout: pay by card, or by invoice through the shop's invoice API with a step-up at the provider.
 *
 * Paying by invoice, the front end (this server) calls the invoice API with the latest invoice token it holds. With
 * none (or an expired one) it first sends the customer to the provider with `scope=openid invoice`, the API as
 * `resource` (RFC 8707) and `acr_values=urn:oidc-stepup:acr:mfa`. When the API answers
 * `insufficient_user_authentication` (RFC 9470 §3), it sends the customer with the challenge's `acr_values` and
 * `max_age`. Back at /callback with a new token it retries the order once; the order and the cart wait in the
 * session meanwhile. Every way the detour can end — cancelled, refused, not possible for this account, too late — ends
 * on a page that says so, with the cart kept and paying by card one click away.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import * as oidc from 'openid-client';
import { linesOf, totalOf } from './catalogue.ts';
import { parseBearerChallenge, type BearerChallenge } from './challenge.ts';
import { callbackUrlOf, currentCustomer } from './account.ts';
import { ShopError, type ShopKit } from './kit.ts';
import { addPending, randomId, type Order, type PendingAuthorization, type Session } from './sessions.ts';

/** Sends the customer to the provider for the invoice step-up of `order`. */
async function startStepUp(kit: ShopKit, ctx: Context, session: Session, order: Order, challenge?: BearerChallenge): Promise<void> {
  const params: Record<string, string> = {
    scope: 'openid invoice',
    resource: kit.options.apiAudience,
    acr_values: challenge?.acrValues ?? kit.options.invoiceAcr,
    ...(challenge?.maxAge !== undefined ? { max_age: String(challenge.maxAge) } : {}),
  };
  const { url, pending } = await kit.provider.authorize('step_up', params, { orderId: order.id });
  addPending(session, pending);
  kit.seeOther(ctx, url.href);
}

function placed(session: Session, order: Order, payment: Order['payment'], invoiceNumber?: string): void {
  order.payment = payment;
  order.status = 'placed';
  order.placedAt = Date.now();
  order.notice = undefined;
  if (invoiceNumber) order.invoiceNumber = invoiceNumber;
  session.cart = {};
}

/**
 * Places `order` through the invoice API with the token the session holds, or steps up for one. `afterStepUp`: the
 * token was just issued for this order; if the API still refuses it, the customer is not sent round again.
 */
async function payByInvoice(kit: ShopKit, ctx: Context, session: Session, order: Order, afterStepUp: boolean): Promise<void> {
  const held = session.invoiceToken;
  if (!held || held.expiresAt - 5_000 <= Date.now()) {
    session.invoiceToken = undefined;
    if (afterStepUp) return waitWith(kit, ctx, order, 'not_confirmed');
    return startStepUp(kit, ctx, session, order);
  }
  let response: Response;
  try {
    response = await fetch(`${kit.options.apiUrl}/invoice-orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${held.value}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ orderId: order.id, lines: order.lines.map(({ sku, quantity }) => ({ sku, quantity })) }),
    });
  } catch (err) {
    kit.log('error', 'the invoice API cannot be reached', { err: String(err) });
    return waitWith(kit, ctx, order, 'api_unavailable');
  }
  if (response.status === 200 || response.status === 201) {
    const booked = await response.json() as { invoice_number?: unknown };
    placed(session, order, 'invoice', String(booked.invoice_number));
    return kit.seeOther(ctx, `/orders/${order.id}`);
  }
  if (response.status === 401 || response.status === 403) {
    session.invoiceToken = undefined;
    const challenge = parseBearerChallenge(response.headers.get('www-authenticate'));
    kit.log('info', 'the invoice API asks for more', { status: response.status, challenge: response.headers.get('www-authenticate') });
    if (afterStepUp) return waitWith(kit, ctx, order, 'not_confirmed');
    // RFC 9470: ask the provider for what the API named; any other refusal: a new invoice token as configured.
    return startStepUp(kit, ctx, session, order, challenge?.error === 'insufficient_user_authentication' ? challenge : undefined);
  }
  kit.log('error', 'the invoice API refused the order', { status: response.status, body: await response.text() });
  return waitWith(kit, ctx, order, 'api_unavailable');
}

function waitWith(kit: ShopKit, ctx: Context, order: Order, notice: NonNullable<Order['notice']>): void {
  order.notice = notice;
  kit.seeOther(ctx, `/orders/${order.id}`);
}

/** The page for "paying by invoice is not possible for this account": pay by card instead. */
function invoiceUnavailable(kit: ShopKit, ctx: Context, session: Session, order: Order, reason: 'unmet' | 'not_granted'): void {
  if (session.customer) session.customer.invoiceEligible = false;
  kit.render(ctx, 'invoice_unavailable', { order, reason }, 200);
}

/** The provider's answer to a step-up, at /callback. */
async function finishStepUp(kit: ShopKit, ctx: Context, session: Session, pending: PendingAuthorization, expired: boolean): Promise<void> {
  const order = pending.orderId ? session.orders[pending.orderId] : undefined;
  if (!order || !session.customer) throw new ShopError(400, 'This order is no longer in your session. Your cart is kept.');
  if (order.status === 'placed') return kit.seeOther(ctx, `/orders/${order.id}`);
  if (expired) return waitWith(kit, ctx, order, 'expired');
  let tokens: Awaited<ReturnType<ShopKit['provider']['finish']>>;
  try {
    // `resource` again at the token endpoint: the access token is a JWT for the invoice API (RFC 8707 §2.2).
    tokens = await kit.provider.finish(callbackUrlOf(kit, ctx), pending, { resource: kit.options.apiAudience });
  } catch (err) {
    if (err instanceof oidc.AuthorizationResponseError) {
      if (err.error === 'unmet_authentication_requirements') return invoiceUnavailable(kit, ctx, session, order, 'unmet');
      if (err.error === 'access_denied') return waitWith(kit, ctx, order, 'cancelled');
    }
    kit.log('warn', 'the step-up did not finish', { err: String(err) });
    return waitWith(kit, ctx, order, 'provider_error');
  }
  if (tokens.claims()?.sub !== session.customer.sub) return waitWith(kit, ctx, order, 'other_account');
  // The provider grants `invoice` only to accounts with the privilege (otherwise the scope is simply left out).
  if (!(tokens.scope ?? '').split(' ').includes('invoice')) return invoiceUnavailable(kit, ctx, session, order, 'not_granted');
  session.invoiceToken = { value: tokens.access_token, expiresAt: Date.now() + (tokens.expires_in ?? 0) * 1000 };
  return payByInvoice(kit, ctx, session, order, true);
}

function orderOf(session: Session, id: unknown): Order {
  const order = typeof id === 'string' && Object.hasOwn(session.orders, id) ? session.orders[id] : undefined;
  if (!order) throw new ShopError(404, 'There is no such order in your session.');
  return order;
}

export { finishStepUp };

export function checkoutRoutes(kit: ShopKit, router: Router): void {
  router.get('/checkout', async function checkout(ctx) {
    const session = kit.sessions.of(ctx);
    const lines = linesOf(session.cart);
    if (lines.length === 0) return kit.seeOther(ctx, '/cart');
    const customer = await currentCustomer(kit, session);
    if (!customer) return kit.seeOther(ctx, '/sign-in?return=/checkout');
    kit.render(ctx, 'checkout', { lines, total: totalOf(lines), invoiceOffered: customer.invoiceEligible });
  });

  router.post('/checkout', async function placeOrder(ctx) {
    const fields = kit.form(ctx);
    const session = kit.sessions.of(ctx);
    const lines = linesOf(session.cart);
    if (lines.length === 0) return kit.seeOther(ctx, '/cart');
    const customer = await currentCustomer(kit, session);
    if (!customer) return kit.seeOther(ctx, '/sign-in?return=/checkout');
    const payment = fields.payment;
    if (payment !== 'card' && payment !== 'invoice') {
      return kit.render(ctx, 'checkout', { lines, total: totalOf(lines), invoiceOffered: customer.invoiceEligible, error: 'Choose how you want to pay.' }, 400);
    }
    if (payment === 'invoice' && !customer.invoiceEligible) {
      return kit.render(ctx, 'checkout', { lines, total: totalOf(lines), invoiceOffered: false, error: 'Paying by invoice is not available for your account.' }, 403);
    }
    const order: Order = { id: randomId(12), lines, totalCents: totalOf(lines), payment, status: 'awaiting_confirmation', createdAt: Date.now() };
    session.orders[order.id] = order;
    if (payment === 'card') {
      placed(session, order, 'card'); // a real shop charges the card here
      return kit.seeOther(ctx, `/orders/${order.id}`);
    }
    return payByInvoice(kit, ctx, session, order, false);
  });

  router.get('/orders', function orders(ctx) {
    const session = kit.sessions.of(ctx);
    kit.render(ctx, 'orders', { orders: Object.values(session.orders).reverse() });
  });

  router.get('/orders/:id', function showOrder(ctx) {
    const session = kit.sessions.of(ctx);
    kit.render(ctx, 'order', { order: orderOf(session, ctx.params.id) });
  });

  router.post('/orders/:id/invoice', async function retryInvoice(ctx) {
    kit.form(ctx);
    const session = kit.sessions.of(ctx);
    const order = orderOf(session, ctx.params.id);
    if (order.status === 'placed') return kit.seeOther(ctx, `/orders/${order.id}`);
    const customer = await currentCustomer(kit, session);
    if (!customer) return kit.seeOther(ctx, `/sign-in?return=/orders/${order.id}`);
    if (!customer.invoiceEligible) return invoiceUnavailable(kit, ctx, session, order, 'not_granted');
    order.notice = undefined;
    return payByInvoice(kit, ctx, session, order, false);
  });

  router.post('/orders/:id/card', function payByCardInstead(ctx) {
    kit.form(ctx);
    const session = kit.sessions.of(ctx);
    const order = orderOf(session, ctx.params.id);
    if (order.status !== 'placed') placed(session, order, 'card');
    kit.seeOther(ctx, `/orders/${order.id}`);
  });
}
