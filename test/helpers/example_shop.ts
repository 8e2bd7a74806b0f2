/**
 * The example shop (`examples/shop/`) in this process, against a test server: registered on the server's database the
 * way `npm run shop` registers itself (`ensureShopClient`), its invoice API on the server's test API (`server.api`).
 * One process, one clock: a frozen or moved `Date` is the provider's, the shop's and the API's time alike.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createShopApp } from '../../examples/shop/app.ts';
import type { InvoiceApi } from '../../examples/shop/invoice_api.ts';
import { ensureShopClient } from '../../examples/shop/register_client.ts';
import { expect } from 'chai';
import { hookHandle } from './hook_handle.ts';
import type { TestAccount, TestServer } from './server.ts';
import { Browser, findForm, type Page } from './shop.ts';

export interface TestShop {
  /** The shop's public URL, `http://localhost:PORT` (another site than the provider's 127.0.0.1). */
  url: string;
  clientId: string;
  clientSecret: string;
  /** The invoice API's resource indicator (`server.api.resource`). */
  apiAudience: string;
  /** Where the API is served: `${url}/api`. */
  apiUrl: string;
  invoiceApi: InvoiceApi;
  /** What the shop logged, as `level message details` lines. */
  logs: string[];
  stop(): Promise<void>;
}

export async function startExampleShop(server: TestServer): Promise<TestShop> {
  const listener: Server = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as AddressInfo;
  const url = `http://localhost:${port}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'oidc-stepup-shop-'));
  const client = await ensureShopClient(server.conn, { shopUrl: url, secretFile: join(dataDir, 'example-shop-client.json') });
  const logs: string[] = [];
  const apiUrl = `http://127.0.0.1:${port}/api`;
  const { app, invoiceApi } = createShopApp({
    issuer: server.issuer,
    shopUrl: url,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    apiAudience: server.api.resource,
    apiUrl,
    log: (level, message, details) => logs.push(`${level} ${message} ${JSON.stringify(details ?? {})}`),
  });
  const handle = app.callback();
  listener.on('request', (req, res) => {
    void handle(req, res);
  });
  return {
    url, clientId: client.clientId, clientSecret: client.clientSecret, apiAudience: server.api.resource, apiUrl, invoiceApi, logs,
    async stop() {
      listener.closeAllConnections();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The example shop of the current `describe`, started after `server` (call it after `useTestServer`). */
export function useExampleShop(server: TestServer): TestShop {
  const { handle, fill } = hookHandle<TestShop>('the example shop');
  let started: TestShop | undefined;
  before(async function () {
    started = await startExampleShop(server);
    fill(started);
  });
  after(async function () {
    await started?.stop();
  });
  return handle;
}

/** Signs `customer` in at the shop (password only) and puts one `sku` in the cart. */
export async function shopperWithCart(shop: TestShop, customer: Pick<TestAccount, 'email' | 'password'>, sku = 'antivirus-pro-1y'): Promise<Browser> {
  const browser = new Browser();
  const login = await browser.go(`${shop.url}/sign-in?return=/`);
  const home = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
  expect(home.url, home.html.slice(0, 500)).to.equal(`${shop.url}/`);
  const added = await browser.submit(findForm(home, '/cart/add'), { sku });
  expect(added.html).to.include('is in your cart');
  return browser;
}

/** Submits the checkout with `payment` without following the answer: the shop's redirect (or page) as it came. */
export async function placeOrder(browser: Browser, shop: TestShop, payment: 'card' | 'invoice'): Promise<Page> {
  const checkout = await browser.go(`${shop.url}/checkout`);
  expect(checkout.status, checkout.html.slice(0, 500)).to.equal(200);
  const form = findForm(checkout, '/checkout');
  return browser.request(form.action, {
    method: 'POST',
    body: new URLSearchParams({ ...form.fields, payment }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

/** Follows redirects from `page` like `Browser.go`, noting the shop's callback URL on the way. */
export async function followToCallback(browser: Browser, page: Page, shop: TestShop): Promise<{ callbackUrl: string; page: Page }> {
  let hop = page;
  let callbackUrl = '';
  while (hop.status >= 300 && hop.status < 400) {
    const next = new URL(hop.headers.get('location') as string, hop.url).href;
    if (next.startsWith(`${shop.url}/callback`)) callbackUrl = next;
    hop = await browser.request(next);
  }
  return { callbackUrl, page: hop };
}

export function locationOf(page: Page): URL {
  const location = page.headers.get('location');
  expect(page.status, `expected a redirect, got ${page.status}:\n${page.html.slice(0, 800)}`).to.be.within(300, 399);
  return new URL(location as string, page.url);
}
