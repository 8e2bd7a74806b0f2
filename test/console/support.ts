/**
 * Driving the account console like a browser without JavaScript: sign-in and re-authentication through the
 * provider's own pages (password, then the second factor when asked).
 */
import { expect } from 'chai';
import { createAccount } from '../../src/accounts/accounts.ts';
import type { TestServer } from '../helpers/server.ts';
import { findForm, type Browser, type Page } from '../helpers/shop.ts';
import type { FrozenClock } from '../helpers/clock.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';

export interface Customer {
  id: string;
  email: string;
  password: string;
  /** The authenticator app's base32 secret, once one is set up. */
  totpSecret?: string;
}

/** A fresh customer without any factor. */
export async function newCustomer(server: TestServer, name: string, extra: { privileges?: ['invoice']; companyId?: string } = {}): Promise<Customer> {
  const email = `${name}@example.com`;
  const password = `${name}-password-7`;
  const created = await createAccount(server.conn, { email, password, name, ...extra });
  return { id: created.id, email, password };
}

/** Whether `page` is the provider's password form. */
export function isLoginForm(page: Page): boolean {
  return page.status === 200 && /action="\/interaction\/[^"]+\/login"/.test(page.html);
}

/**
 * Completes the provider's pages from `page` (the password form, then the challenge when shown) and returns the
 * console page the browser lands on.
 */
export async function authenticate(
  browser: Browser, page: Page, customer: Customer, clock: FrozenClock, options: { code?: string } = {},
): Promise<Page> {
  expect(isLoginForm(page), `expected the password form, got ${page.status} ${page.url}:\n${page.html.slice(0, 600)}`).to.equal(true);
  let next = await browser.submit(findForm(page, '/login'), { email: customer.email, password: customer.password });
  if (isChallenge(next)) {
    const code = options.code ?? (customer.totpSecret ? await nextCode(clock, customer.totpSecret) : undefined);
    if (!code) throw new Error('the provider asks for a second factor, and the test has none');
    next = await submitCode(browser, next, code);
  }
  return next;
}

/** Opens `/account` in a browser without a console session and signs in; returns the overview. */
export async function signInConsole(server: TestServer, browser: Browser, customer: Customer, clock: FrozenClock): Promise<Page> {
  const loginPage = await browser.go(`${server.issuer}/account`);
  const overview = await authenticate(browser, loginPage, customer, clock);
  expect(overview.status, overview.html.slice(0, 800)).to.equal(200);
  expect(overview.html).to.include('Security settings');
  return overview;
}

/** Submits a console form; when the console asks for re-authentication, completes it and returns the landing page. */
export async function submitWithReauth(
  browser: Browser, page: Page, formId: string, customer: Customer, clock: FrozenClock, fields: Record<string, string> = {},
): Promise<{ page: Page; reauthenticated: boolean }> {
  const first = await browser.submit(findForm(page, formId), fields);
  if (!isLoginForm(first)) return { page: first, reauthenticated: false };
  return { page: await authenticate(browser, first, customer, clock), reauthenticated: true };
}

/** The newest 6-digit code mailed to `address` (dev outbox, newest first). */
export function lastCodeMailedTo(server: TestServer, address: string): string {
  const mail = [...(server.mailer?.outbox() ?? [])].find((entry) => entry.to.includes(address));
  const code = /\b(\d{6})\b/.exec(mail?.text ?? '')?.[1];
  if (!code) throw new Error(`no code mailed to ${address}`);
  return code;
}

/** Mails to `address`, newest first. */
export function mailsTo(server: TestServer, address: string): { subject: string; text?: string }[] {
  return [...(server.mailer?.outbox() ?? [])].filter((mail) => mail.to.includes(address));
}

/** The recovery codes listed on a page. */
export function recoveryCodesOn(page: Page): string[] {
  const list = /<ol id="recovery-codes"[^>]*>([\s\S]*?)<\/ol>/.exec(page.html)?.[1] ?? '';
  return [...list.matchAll(/<code>([^<]+)<\/code>/g)].map((match) => match[1] as string);
}

/**
 * The authorization parameters the console pushed (RFC 9126) for the `/auth?client_id=…&request_uri=…` URL `location`,
 * read from the provider's store: the browser never sees them.
 */
export async function pushedParams(server: TestServer, location: string): Promise<URLSearchParams> {
  const requestUri = new URL(location, server.issuer).searchParams.get('request_uri') ?? '';
  const id = requestUri.replace(/^urn:ietf:params:oauth:request_uri:/, '');
  const doc = await server.conn.db!.collection('oidc_pushed_authorization_requests').findOne({ _id: id as never });
  const request = (doc?.payload as { request?: string } | undefined)?.request;
  if (!request) throw new Error(`no pushed request for ${location}`);
  const claims = JSON.parse(Buffer.from(request.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  return new URLSearchParams(Object.entries(claims)
    .filter(([, value]) => typeof value === 'string' || typeof value === 'number')
    .map(([key, value]): [string, string] => [key, String(value)]));
}

/**
 * Submits a console change the way a customer does: when the console asks to sign in again first, completes it and
 * submits the form again on the page it lands on (the change it kept). Returns the page after the change.
 */
export async function changeWithReauth(
  browser: Browser, page: Page, formId: string, customer: Customer, clock: FrozenClock, fields: Record<string, string> = {},
): Promise<Page> {
  const { page: next, reauthenticated } = await submitWithReauth(browser, page, formId, customer, clock, fields);
  return reauthenticated ? browser.submit(findForm(next, formId), fields) : next;
}
