/**
 * The example shop: a catalogue, a cart, sign-in with the provider, and a checkout that pays by card or — for
 * customers allowed to — by invoice, through the shop's own invoice API guarded by a step-up (RFC 9470).
 * `createShopApp` builds it; `main.ts` runs it against the dev provider (`npm run shop`).
 */
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import Koa from 'koa';
import mount from 'koa-mount';
import { accountRoutes } from './account.ts';
import { CATALOGUE, linesOf, productOf, totalOf } from './catalogue.ts';
import { checkoutRoutes, finishStepUp } from './checkout.ts';
import { createInvoiceApi, INVOICE_ACR, type InvoiceApi } from './invoice_api.ts';
import { createKit, ShopError, type ShopKit, type ShopOptions } from './kit.ts';
import { backChannelFetch, createProviderClient } from './provider.ts';
import { createSessionStore } from './sessions.ts';

export type { ShopOptions } from './kit.ts';

export interface ExampleShop {
  app: Koa;
  /** The invoice API served at `/api` (its bookings, for a look behind the counter). */
  invoiceApi: InvoiceApi;
}

/** One error page for everything a route throws: the customer reads what to do, never a stack trace. */
function errorPages(kit: ShopKit): Koa.Middleware {
  return async function shopErrors(ctx, next) {
    try {
      await next();
    } catch (err) {
      const known = err instanceof ShopError;
      if (!known) kit.log('error', 'request failed', { err: err instanceof Error ? err.stack : String(err), path: ctx.path });
      const status = known ? err.status : (err as { status?: number }).status ?? 500;
      const unreachable = !known && /fetch failed|ECONNREFUSED|discovery/i.test(String((err as Error)?.message ?? err));
      kit.render(ctx, 'problem', {
        heading: known ? 'That did not work' : unreachable ? 'Sign-in is not available right now' : 'Something went wrong',
        message: known ? err.message : unreachable ? 'The sign-in service cannot be reached. Please try again in a moment; your cart is kept.' : 'Please try again. Your cart is kept.',
      }, unreachable ? 503 : status >= 400 && status < 600 ? status : 500);
    }
  };
}

function shopRoutes(kit: ShopKit, router: Router): void {
  router.get('/', function catalogue(ctx) {
    kit.render(ctx, 'catalogue', { products: CATALOGUE });
  });

  router.get('/cart', function cart(ctx) {
    const lines = linesOf(kit.sessions.of(ctx).cart);
    kit.render(ctx, 'cart', { lines, total: totalOf(lines) });
  });

  router.post('/cart/add', function addToCart(ctx) {
    const fields = kit.form(ctx);
    const product = productOf(fields.sku);
    if (!product) throw new ShopError(400, 'We do not sell that.');
    const session = kit.sessions.of(ctx);
    session.cart[product.sku] = Math.min(99, (session.cart[product.sku] ?? 0) + 1);
    session.flash = `${product.name} is in your cart.`;
    kit.seeOther(ctx, '/');
  });

  router.post('/cart/remove', function removeFromCart(ctx) {
    const fields = kit.form(ctx);
    const session = kit.sessions.of(ctx);
    if (typeof fields.sku === 'string') delete session.cart[fields.sku];
    kit.seeOther(ctx, '/cart');
  });
}

export function createShopApp(options: ShopOptions): ExampleShop {
  const shopUrl = options.shopUrl.replace(/\/$/, '');
  const providerFetch = options.providerFetch ?? backChannelFetch(options.issuer, undefined);
  const log = options.log ?? ((level, message, details) => console[level === 'info' ? 'log' : level](`[shop] ${message}`, details ?? ''));
  const invoiceAcr = options.invoiceAcr ?? INVOICE_ACR;
  const kit = createKit({
    options: { issuer: options.issuer, shopUrl, apiAudience: options.apiAudience, apiUrl: options.apiUrl ?? `${shopUrl}/api`, invoiceAcr },
    provider: createProviderClient({
      issuer: options.issuer,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      redirectUri: `${shopUrl}/callback`,
      postLogoutRedirectUri: `${shopUrl}/`,
      fetch: providerFetch,
    }),
    sessions: createSessionStore({ secure: shopUrl.startsWith('https:') }),
    log,
  });
  const invoiceApi = createInvoiceApi({ issuer: options.issuer, audience: options.apiAudience, acr: invoiceAcr, fetch: providerFetch as typeof fetch });

  const router = new Router();
  shopRoutes(kit, router);
  accountRoutes(kit, router, (ctx, session, pending, expired) => finishStepUp(kit, ctx, session, pending, expired));
  checkoutRoutes(kit, router);

  const app = new Koa();
  app.keys = options.cookieKeys ?? [randomBytes(32).toString('base64url')];
  app.silent = true;
  app.use(mount('/api', invoiceApi.app));
  app.use(errorPages(kit));
  app.use(bodyParser({ enableTypes: ['form'], formLimit: '16kb' }));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return { app, invoiceApi };
}
