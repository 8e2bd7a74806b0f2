/**
 * The two parties of a login, as the tests see them:
 * - `Shop`: a relying party built on openid-client 6 (discovery, PKCE S256, state, nonce), like a real shop;
 * - `Browser`: a cookie-jar HTTP agent (tough-cookie + fetch, redirects followed by hand) that reads pages,
 *   finds their forms (action + hidden inputs) and submits them like a browser without JavaScript would.
 */
import * as oidc from 'openid-client';
import { CookieJar } from 'tough-cookie';
import { hookHandle } from './hook_handle.ts';
import type { TestClient, TestServer } from './server.ts';

/** One HTTP response as the browser saw it. */
export interface Page {
  url: string;
  status: number;
  headers: Headers;
  html: string;
}

/** A form found on a page: its absolute action URL, method and the fields a browser would send by default. */
export interface Form {
  id: string | undefined;
  action: string;
  method: string;
  fields: Record<string, string>;
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>', '&#x27;': "'" };

function decodeEntities(value: string): string {
  return value.replace(/&(amp|quot|#39|lt|gt|#x27);/g, (entity) => ENTITIES[entity] ?? entity);
}

function attributes(tag: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const match of tag.matchAll(/([a-zA-Z_:][\w:.-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
    const name = match[1]?.toLowerCase();
    if (!name || name === 'form' || name === 'input') continue;
    attrs[name] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? '');
  }
  return attrs;
}

/** Every form of a page, with the values of its hidden/text inputs and checked checkboxes. */
export function parseForms(page: Page): Form[] {
  const forms: Form[] = [];
  for (const match of page.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(match[1] ?? '');
    const fields: Record<string, string> = {};
    for (const input of (match[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
      const inputAttrs = attributes(input[1] ?? '');
      const name = inputAttrs.name;
      if (!name) continue;
      const type = (inputAttrs.type ?? 'text').toLowerCase();
      if ((type === 'checkbox' || type === 'radio') && !('checked' in inputAttrs)) continue;
      fields[name] = inputAttrs.value ?? (type === 'checkbox' ? 'on' : '');
    }
    forms.push({
      id: attrs.id,
      action: new URL(attrs.action ?? page.url, page.url).href,
      method: (attrs.method ?? 'get').toLowerCase(),
      fields,
    });
  }
  return forms;
}

/** The form whose action path ends with `suffix` (e.g. `/login`), or whose id is `suffix`. */
export function findForm(page: Page, suffix: string): Form {
  const form = parseForms(page).find((f) => f.id === suffix || new URL(f.action).pathname.endsWith(suffix));
  if (!form) throw new Error(`no form "${suffix}" on ${page.url} (status ${page.status}):\n${page.html.slice(0, 2000)}`);
  return form;
}

export class Browser {
  readonly jar = new CookieJar();
  /** Redirects to a URL starting with one of these are not followed (the shop's callback). */
  private readonly stopAt: string[];

  constructor(stopAt: string[] = []) {
    this.stopAt = stopAt;
  }

  /** One request, cookies in and out, no redirect following. */
  async request(url: string, init: { method?: string; body?: string | URLSearchParams; headers?: Record<string, string> } = {}): Promise<Page> {
    const headers = new Headers(init.headers);
    if (!headers.has('accept')) headers.set('accept', 'text/html,application/xhtml+xml');
    const cookie = await this.jar.getCookieString(url);
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(url, { method: init.method ?? 'GET', body: init.body ?? null, headers, redirect: 'manual' });
    for (const setCookie of response.headers.getSetCookie()) await this.jar.setCookie(setCookie, url, { ignoreError: true });
    return { url, status: response.status, headers: response.headers, html: await response.text() };
  }

  /**
   * Requests `url` and follows redirects (GET after 302/303) until a page is shown or the next hop is a
   * `stopAt` URL; then `page.url` is that URL (status 0: not fetched, like a browser leaving for the shop).
   */
  async go(url: string, init: { method?: string; body?: string | URLSearchParams; headers?: Record<string, string> } = {}): Promise<Page> {
    let page = await this.request(url, init);
    for (let hops = 0; hops < 20; hops += 1) {
      const location = page.headers.get('location');
      if (page.status < 300 || page.status >= 400 || !location) return page;
      const next = new URL(location, page.url).href;
      if (this.stopAt.some((prefix) => next.startsWith(prefix))) {
        return { url: next, status: 0, headers: new Headers(), html: '' };
      }
      page = await this.request(next);
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** Submits `form` with its default fields overridden by `fields` (undefined removes a field). */
  async submit(form: Form, fields: Record<string, string | undefined> = {}): Promise<Page> {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries({ ...form.fields, ...fields })) {
      if (value !== undefined) body.append(name, value);
    }
    if (form.method === 'get') {
      const target = new URL(form.action);
      target.search = body.toString();
      return this.go(target.href);
    }
    return this.go(form.action, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }
}

/** An authorization request in progress: the values the shop must check the response against. */
export interface PendingLogin {
  url: URL;
  codeVerifier: string;
  state: string;
  nonce: string;
}

/** A shop (relying party) on openid-client 6, registered as `client`. */
export class Shop {
  readonly client: TestClient;
  readonly config: oidc.Configuration;

  private constructor(client: TestClient, config: oidc.Configuration) {
    this.client = client;
    this.config = config;
  }

  /**
   * Discovery over plain http (the test server has no TLS); at the token endpoint `clientAuth`, by default
   * client_secret_basic with the client's secret.
   */
  static async discover(issuer: string, client: TestClient, clientAuth: oidc.ClientAuth = oidc.ClientSecretBasic(client.clientSecret)): Promise<Shop> {
    const config = await oidc.discovery(new URL(issuer), client.clientId, undefined, clientAuth, {
      execute: [oidc.allowInsecureRequests],
    });
    return new Shop(client, config);
  }

  /** Builds an authorization URL with PKCE (S256), state and nonce. */
  async startLogin(params: Record<string, string> = {}): Promise<PendingLogin> {
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(this.config, {
      redirect_uri: this.client.redirectUri,
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...params,
    });
    return { url, codeVerifier, state, nonce };
  }

  /** Exchanges the code of the callback URL (checks state, nonce, iss, PKCE and the ID token signature). */
  async finishLogin(
    pending: PendingLogin,
    callbackUrl: string,
    tokenParams: Record<string, string> = {},
  ): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
    return oidc.authorizationCodeGrant(this.config, new URL(callbackUrl), {
      pkceCodeVerifier: pending.codeVerifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
      idTokenExpected: true,
    }, tokenParams);
  }
}

/**
 * A shop of the current `describe`, discovered in its `before` hook as `server`'s `client` (default the first-party
 * one); call it after `useTestServer`, whose hook must have run first.
 */
export function useShop(server: TestServer, client: keyof TestServer['clients'] = 'firstParty'): Shop {
  const { handle, fill } = hookHandle<Shop>(`the ${client} shop`);
  before(async function () {
    fill(await Shop.discover(server.issuer, server.clients[client]));
  });
  return handle;
}

/**
 * A full password login by `browser` for `shop`: authorization request → login form → (consent, when shown
 * and `consent` is true) → the shop's callback. Returns the callback URL and what the shop needs to finish.
 */
export async function signIn(
  shop: Shop,
  browser: Browser,
  credentials: { email: string; password: string; remember?: boolean },
  options: { params?: Record<string, string>; consent?: boolean } = {},
): Promise<{ pending: PendingLogin; callbackUrl: string; sawConsent: boolean }> {
  const pending = await shop.startLogin(options.params);
  const loginPage = await browser.go(pending.url.href);
  let page = await browser.submit(findForm(loginPage, '/login'), {
    email: credentials.email,
    password: credentials.password,
    remember: credentials.remember ? 'yes' : undefined,
  });
  let sawConsent = false;
  if (page.status === 200 && page.html.includes('/confirm"')) {
    sawConsent = true;
    if (options.consent === false) return { pending, callbackUrl: page.url, sawConsent };
    page = await browser.submit(findForm(page, '/confirm'));
  }
  if (page.status !== 0) throw new Error(`expected a redirect to the shop, got ${page.status} at ${page.url}:\n${page.html.slice(0, 1500)}`);
  return { pending, callbackUrl: page.url, sawConsent };
}
