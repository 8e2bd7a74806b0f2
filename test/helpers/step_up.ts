/**
 * Step-up helpers for integration tests: authenticator codes on the frozen clock (`clock.ts`), and the second-factor
 * pages driven like a browser without JavaScript.
 */
import { expect } from 'chai';
import { appCode } from '../factors/support.ts';
import type { FrozenClock } from './clock.ts';
import { findForm, type Browser, type Page } from './shop.ts';

/** Moves to the next 30 s time step and returns the code an authenticator app shows then. */
export async function nextCode(clock: FrozenClock, secret: string): Promise<string> {
  clock.tick(30_000);
  return appCode(secret);
}

/** Whether `page` is the second-factor challenge. */
export function isChallenge(page: Page): boolean {
  return page.status >= 200 && page.status < 500 && page.html.includes('/mfa"') && page.html.includes('autocomplete="one-time-code"');
}

/** Submits `code` on the challenge page. */
export async function submitCode(browser: Browser, page: Page, code: string): Promise<Page> {
  expect(isChallenge(page) || page.html.includes('Recovery code'), `expected the challenge page, got ${page.status}:\n${page.html.slice(0, 800)}`).to.equal(true);
  return browser.submit(findForm(page, '/mfa'), { code });
}

/** The manual key shown on the enrolment page (spaces removed). */
export function manualKeyOf(page: Page): string {
  const match = /data-key="([A-Z2-7 ]+)"/.exec(page.html);
  if (!match?.[1]) throw new Error(`no manual key on the page:\n${page.html.slice(0, 800)}`);
  return match[1].replace(/\s+/g, '');
}
