/**
 * The shop's invoice API: books an order to be paid by invoice. It trusts no one's word for the customer's
 * authentication — not even the shop's own front end: every call carries a JWT access token the provider issued for
 * this API, and `requireAuthentication` (RFC 9470) accepts it only with the `invoice` scope, an `acr` of at least
 * `urn:oidc-stepup:acr:mfa` and an `auth_time` no older than 15 minutes. Anything less gets the challenge the front
 * end answers by sending the customer to the provider for a second factor (docs/ARCHITECTURE.md "The shop side").
 */
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import Koa from 'koa';
import { type JWTVerifyGetKey } from 'jose';
// In your shop: import { requireAuthentication, type StepUpState } from 'oidc-stepup/resource';
import { requireAuthentication, type StepUpState } from '../../src/resource/step_up.ts';
import { productOf, totalOf, type Line } from './catalogue.ts';
import { randomId } from './sessions.ts';

export interface InvoiceApiOptions {
  /** The provider's issuer. */
  issuer: string;
  /** This API's resource indicator: the `aud` of its tokens (the provider's `RESOURCE_SERVERS` names it). */
  audience: string;
  /** Default `urn:oidc-stepup:acr:mfa`. */
  acr?: string;
  /** Default 900 (15 minutes, as the provider's invoice step-up). */
  maxAgeSeconds?: number;
  /** Reaches the provider's discovery and keys (see `backChannelFetch`). */
  fetch?: typeof fetch;
  /** Verification keys; default: the issuer's JWKS. */
  keys?: JWTVerifyGetKey;
}

/** An order booked on invoice, and the authentication it was booked with. */
export interface Invoice {
  readonly invoiceNumber: string;
  readonly orderId: string;
  /** The customer (`sub` of the token): the API books for the token's customer, never for one named in the body. */
  readonly customer: string;
  readonly clientId: string | undefined;
  readonly lines: readonly Line[];
  readonly totalCents: number;
  readonly acr: string | undefined;
  readonly authTime: Date | undefined;
  readonly bookedAt: Date;
}

export interface InvoiceApi {
  app: Koa;
  /** What was booked, oldest first. */
  invoices(): readonly Invoice[];
}

export const INVOICE_SCOPE = 'invoice';
export const INVOICE_ACR = 'urn:oidc-stepup:acr:mfa';
export const INVOICE_MAX_AGE_SECONDS = 15 * 60;

/** The order in a request body: an id of the shop's and 1-50 lines of known products, 1-99 each. */
function orderOf(body: unknown): { orderId: string; lines: Line[] } | undefined {
  const { orderId, lines } = (body ?? {}) as { orderId?: unknown; lines?: unknown };
  if (typeof orderId !== 'string' || !/^[\w-]{8,64}$/.test(orderId) || !Array.isArray(lines) || lines.length < 1 || lines.length > 50) return undefined;
  const parsed: Line[] = [];
  for (const line of lines as unknown[]) {
    const { sku, quantity } = (line ?? {}) as { sku?: unknown; quantity?: unknown };
    const product = productOf(sku);
    if (!product || !Number.isInteger(quantity) || (quantity as number) < 1 || (quantity as number) > 99) return undefined;
    // Prices come from the catalogue, never from the caller.
    parsed.push({ sku: product.sku, name: product.name, quantity: quantity as number, priceCents: product.priceCents });
  }
  return { orderId, lines: parsed };
}

export function createInvoiceApi(options: InvoiceApiOptions): InvoiceApi {
  const booked = new Map<string, Invoice>();
  const router = new Router<Partial<StepUpState>>();

  router.post(
    '/invoice-orders',
    requireAuthentication({
      issuer: options.issuer,
      audience: options.audience,
      scope: INVOICE_SCOPE,
      acr: options.acr ?? INVOICE_ACR,
      maxAgeSeconds: options.maxAgeSeconds ?? INVOICE_MAX_AGE_SECONDS,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.keys ? { keys: options.keys } : {}),
    }),
    bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' }),
    function bookInvoiceOrder(ctx) {
      const token = ctx.state.stepUp;
      const order = orderOf(ctx.request.body);
      ctx.set('Cache-Control', 'no-store');
      if (!token || !order) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_order', error_description: 'orderId and 1-50 lines of known products (quantity 1-99) are required' };
        return;
      }
      const earlier = booked.get(order.orderId);
      if (earlier) {
        // A retry of the same order books nothing twice; someone else's order id is not theirs to see.
        ctx.status = earlier.customer === token.subject ? 200 : 409;
        ctx.body = earlier.customer === token.subject ? answerOf(earlier) : { error: 'order_exists' };
        return;
      }
      const invoice: Invoice = {
        invoiceNumber: `INV-${randomId(6).toUpperCase().replace(/[^A-Z0-9]/g, 'X')}`,
        orderId: order.orderId,
        customer: token.subject,
        clientId: token.clientId,
        lines: order.lines,
        totalCents: totalOf(order.lines),
        acr: token.acr,
        authTime: token.authTime,
        bookedAt: new Date(),
      };
      booked.set(invoice.orderId, invoice);
      ctx.status = 201;
      ctx.body = answerOf(invoice);
    },
  );

  const app = new Koa();
  app.use(router.routes());
  app.use(router.allowedMethods());
  return { app, invoices: () => [...booked.values()] };
}

function answerOf(invoice: Invoice): Record<string, unknown> {
  return { invoice_number: invoice.invoiceNumber, order_id: invoice.orderId, total_cents: invoice.totalCents };
}
