/**
 * What the browser tests check on every page a customer sees: axe-core's WCAG 2.1 A/AA and best-practice rules (a
 * `serious` or `critical` violation is a failure), and screenshots at a phone's and a desktop's width, kept in
 * `test-artifacts/` (ignored by git) for a person to look at.
 *
 * axe gets in through the DevTools protocol (`page.evaluate(source)`): our CSP blocks an inline script tag, and
 * Runtime.evaluate is not governed by CSP.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { AxeResults, RunOptions } from 'axe-core';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { PHONE_VIEWPORT } from './browser.ts';

const AXE_OPTIONS: RunOptions = {
  runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  resultTypes: ['violations'],
};
const BLOCKING = new Set(['serious', 'critical']);

/** Where the screenshots go: `test-artifacts/<folder>/`. */
export function artifactsDir(folder: string): string {
  return resolve(import.meta.dirname, '../../test-artifacts', folder);
}

/** A desktop viewport, beside {@link PHONE_VIEWPORT}. */
export const DESKTOP_VIEWPORT = { width: 1280, height: 900 } as const;

let axeSource: Promise<string> | undefined;

/** axe-core's source, read once. */
export function loadAxe(): Promise<string> {
  axeSource ??= readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  return axeSource;
}

/** Runs axe on the page as it is now; one line per blocking violation (rule, impact, elements, help). */
export async function axeProblems(page: Page, label: string): Promise<string[]> {
  await page.evaluate(await loadAxe());
  const results = await page.evaluate<AxeResults>(`axe.run(document, ${JSON.stringify(AXE_OPTIONS)})`);
  expect(results.passes.length, `${label}: axe checked nothing`).to.be.greaterThan(0);
  return results.violations
    .filter((violation) => BLOCKING.has(violation.impact ?? ''))
    .map((violation) => `${label}: ${violation.id} (${violation.impact}) at ${violation.nodes.map((node) => JSON.stringify(node.target)).join(', ')} — ${violation.help}`);
}

/**
 * Screenshots of the page at 390 px and 1280 px (`<dir>/<name>-390.png`, `-1280.png`), full length; the page must not
 * scroll sideways on the phone. The viewport is the phone's again afterwards.
 */
export async function screenshotWidths(page: Page, dir: string, name: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await page.setViewportSize(PHONE_VIEWPORT);
  expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), `${name} scrolls sideways on a phone`).to.equal(true);
  await page.screenshot({ path: resolve(dir, `${name}-390.png`), fullPage: true });
  await page.setViewportSize(DESKTOP_VIEWPORT);
  await page.screenshot({ path: resolve(dir, `${name}-1280.png`), fullPage: true });
  await page.setViewportSize(PHONE_VIEWPORT);
}
