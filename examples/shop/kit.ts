/** What every page of the example shop shares: options, the provider client, sessions, forms, rendering. */
import { fileURLToPath } from 'node:url';
import type { Context } from 'koa';
import pug from 'pug';
import { formatPrice, linesOf } from './catalogue.ts';
import type { ProviderClient } from './provider.ts';
import type { Session, SessionStore } from './sessions.ts';

export interface ShopLog {
  (level: 'info' | 'warn' | 'error', message: string, details?: Record<string, unknown>): void;
}

/** The example shop's settings (see `config.ts` for the environment that sets them). */
export interface ShopOptions {
  /** The provider's issuer (public URL). */
  issuer: string;
  /** This shop's public base URL: its redirect URI is `${shopUrl}/callback`. */
  shopUrl: string;
  clientId: string;
  clientSecret: string;
  /** The invoice API's resource indicator (the provider's `RESOURCE_SERVERS` names it; `aud` of its tokens). */
  apiAudience: string;
  /** Where the front end reaches the invoice API; default `${shopUrl}/api` (served by this app). */
  apiUrl?: string;
  /** The acr the invoice API requires; default `urn:oidc-stepup:acr:mfa`. */
  invoiceAcr?: string;
  /** Back-channel fetch to the provider (see `backChannelFetch`); default: fetch. */
  providerFetch?: (url: string, init?: RequestInit) => Promise<Response>;
  /** Cookie signing keys; default: random ones (sessions live in memory anyway). */
  cookieKeys?: string[];
  log?: ShopLog;
}

export interface ShopKit {
  readonly options: Required<Pick<ShopOptions, 'issuer' | 'shopUrl' | 'apiAudience' | 'apiUrl' | 'invoiceAcr'>>;
  readonly provider: ProviderClient;
  readonly sessions: SessionStore;
  readonly log: ShopLog;
  render(ctx: Context, view: string, locals?: Record<string, unknown>, status?: number): void;
  /** The posted form's string fields, after checking its CSRF token (403 otherwise). */
  form(ctx: Context): Record<string, string>;
  /** 303 to a path of this shop. */
  seeOther(ctx: Context, path: string): void;
}

const VIEWS_DIR = fileURLToPath(new URL('./views/', import.meta.url));

const TITLES: Record<string, string> = {
  catalogue: 'Licence keys', cart: 'Cart', checkout: 'Checkout', order: 'Order', orders: 'Orders',
  invoice_unavailable: 'Pay by card instead', problem: 'Something went wrong',
};

export class ShopError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export function createKit(base: Omit<ShopKit, 'render' | 'form' | 'seeOther'>): ShopKit {
  const templates = new Map<string, pug.compileTemplate>();
  const template = (view: string): pug.compileTemplate => {
    let compiled = templates.get(view);
    if (!compiled) {
      compiled = pug.compileFile(`${VIEWS_DIR}${view}.pug`, { basedir: VIEWS_DIR });
      templates.set(view, compiled);
    }
    return compiled;
  };
  return {
    ...base,
    render(ctx, view, locals = {}, status = 200) {
      const session: Session = base.sessions.of(ctx);
      const flash = session.flash;
      session.flash = undefined;
      ctx.status = status;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = template(view)({
        customer: session.customer,
        cartCount: linesOf(session.cart).reduce((sum, line) => sum + line.quantity, 0),
        csrf: session.csrf,
        flash,
        formatPrice,
        title: TITLES[view] ?? 'Example Shop',
        ...locals,
      });
    },
    form(ctx) {
      const body = (ctx.request as { body?: unknown }).body;
      const fields: Record<string, string> = {};
      for (const [name, value] of Object.entries(body && typeof body === 'object' ? body : {})) {
        if (typeof value === 'string') fields[name] = value;
      }
      if (fields.csrf !== base.sessions.of(ctx).csrf) throw new ShopError(403, 'This form has expired. Go back, reload the page and try again.');
      return fields;
    },
    seeOther(ctx, path) {
      ctx.status = 303;
      ctx.redirect(path);
    },
  };
}
