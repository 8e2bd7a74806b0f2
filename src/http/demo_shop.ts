/**
 * Development only: a tiny shop at `/demo-shop` that signs in against this very provider with openid-client
 * (authorization code + PKCE, state, nonce), so a newcomer sees the whole flow and the ID token it ends with.
 * openid-client is a dev dependency: main.ts imports this module dynamically, and only with the dev seed on.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import * as oidc from 'openid-client';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Views } from './views.ts';

export const DEMO_SHOP_PATH = '/demo-shop';
const COOKIE = 'demo_shop';

/** What the demo shop offers, each a different authorization request. */
const INTENTS = {
  signin: { label: 'Sign in', scope: 'openid email profile' },
  invoice: { label: 'Pay by invoice', scope: 'openid email invoice' },
} as const;
type Intent = keyof typeof INTENTS;

interface PendingState {
  intent: Intent;
  verifier: string;
  state: string;
  nonce: string;
}

export interface DemoShopOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  views: Views;
  logger: Logger;
}

function readCookie(ctx: Context): Record<string, unknown> | undefined {
  const raw = ctx.cookies.get(COOKIE, { signed: true });
  if (!raw) return undefined;
  try {
    return JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function writeCookie(ctx: Context, value: Record<string, unknown> | null): void {
  ctx.cookies.set(COOKIE, value ? Buffer.from(JSON.stringify(value)).toString('base64url') : null, {
    signed: true,
    httpOnly: true,
    sameSite: 'lax',
    path: DEMO_SHOP_PATH,
    overwrite: true,
  });
}

/** The demo shop's routes; the client must be registered with `${issuer}/demo-shop/callback`. */
export function demoShopRouter(options: DemoShopOptions): Router {
  const { issuer, clientId, clientSecret, views } = options;
  const log = options.logger.child({ component: 'demo_shop' });
  const redirectUri = `${issuer}${DEMO_SHOP_PATH}/callback`;
  let configuration: Promise<oidc.Configuration> | undefined;
  // Discovery over HTTP against ourselves, once, on first use (the server is listening by then).
  const discover = (): Promise<oidc.Configuration> => {
    configuration ??= oidc.discovery(new URL(issuer), clientId, undefined, oidc.ClientSecretBasic(clientSecret), {
      ...(issuer.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : {}),
    }).catch((err: unknown) => {
      configuration = undefined;
      throw err;
    });
    return configuration;
  };

  const render = (ctx: Context, locals: Record<string, unknown>, status = 200): void => {
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = views.render('demo_shop', {
      title: 'Demo Shop',
      cspNonce: String(ctx.state.cspNonce ?? ''),
      base: DEMO_SHOP_PATH,
      intents: Object.entries(INTENTS).map(([id, intent]) => ({ id, ...intent })),
      ...locals,
    });
  };

  const router = new Router({ prefix: DEMO_SHOP_PATH });

  router.get('/', function shopHome(ctx) {
    const session = readCookie(ctx);
    render(ctx, { signedIn: typeof session?.idToken === 'string' });
  });

  router.get('/login', async function shopLogin(ctx) {
    const intent = String(ctx.query.intent ?? 'signin');
    if (!(intent in INTENTS)) throw new AppError('unknown_intent', 'The demo shop does not offer that.', { status: 400 });
    const config = await discover();
    const pending: PendingState = {
      intent: intent as Intent,
      verifier: oidc.randomPKCECodeVerifier(),
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
    };
    writeCookie(ctx, { ...pending });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: INTENTS[pending.intent].scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    ctx.redirect(url.href);
  });

  router.get('/callback', async function shopCallback(ctx) {
    const pending = readCookie(ctx);
    if (!pending || typeof pending.verifier !== 'string' || typeof pending.state !== 'string' || typeof pending.nonce !== 'string') {
      render(ctx, { error: 'This sign-in was not started here (or the demo shop cookie expired). Start again.' }, 400);
      return;
    }
    if (typeof ctx.query.error === 'string') {
      writeCookie(ctx, null);
      render(ctx, { error: `The provider answered ${ctx.query.error}: ${String(ctx.query.error_description ?? '')}` }, 400);
      return;
    }
    const config = await discover();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, new URL(ctx.originalUrl, issuer), {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      log.warn({ err }, 'demo shop token exchange failed');
      writeCookie(ctx, null);
      render(ctx, { error: `The code could not be exchanged: ${(err as Error).message}` }, 400);
      return;
    }
    const claims = tokens.claims() ?? {};
    const idToken = tokens.id_token as string;
    writeCookie(ctx, { idToken });
    const intent = pending.intent === 'invoice' ? 'invoice' : 'signin';
    const scopes = (tokens.scope ?? '').split(' ').filter(Boolean);
    render(ctx, {
      signedIn: true,
      result: {
        intent: INTENTS[intent].label,
        scopes: scopes.join(' '),
        invoiceGranted: scopes.includes('invoice'),
        askedForInvoice: intent === 'invoice',
        claims: JSON.stringify(claims, null, 2),
      },
    });
  });

  router.get('/logout', async function shopLogout(ctx) {
    const session = readCookie(ctx);
    writeCookie(ctx, null);
    const config = await discover();
    const url = oidc.buildEndSessionUrl(config, {
      post_logout_redirect_uri: `${issuer}${DEMO_SHOP_PATH}`,
      ...(typeof session?.idToken === 'string' ? { id_token_hint: session.idToken } : {}),
    });
    ctx.redirect(url.href);
  });

  return router;
}
