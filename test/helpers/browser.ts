/**
 * Headless Chromium (Debian's `chromium` package) through playwright-core, in a fresh profile per launch.
 * playwright-core's `launch()` refuses `--user-data-dir`, so a persistent context on a temporary directory it is.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface HeadlessChromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A phone-sized viewport (iPhone 12-15 CSS pixels), so screenshots show what most shoppers see. */
export const PHONE_VIEWPORT = { width: 390, height: 844 } as const;

/**
 * `locale` sets the browser's language (its `Accept-Language` and `navigator.language`), as a customer's browser in
 * that language sends it.
 */
export async function launchChromium(options: { viewport?: { width: number; height: number }; locale?: string } = {}): Promise<HeadlessChromium> {
  const profile = await mkdtemp(join(tmpdir(), 'oidc-stepup-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport: options.viewport ?? PHONE_VIEWPORT,
    ...(options.locale ? { locale: options.locale } : {}),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
