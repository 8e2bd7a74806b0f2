/**
 * What a page in German must not show: English words left over, and message ids shown instead of their text. Read
 * from the page's visible text in Chromium, without what is data rather than words (`code`, `pre`, `kbd`, inputs,
 * and elements marked `translate="no"`).
 */
import type { Page } from 'playwright-core';
import { languages } from './words.ts';

/** Words of English sentences that German text never contains (whole words, any case). */
export const ENGLISH_WORDS = [
  'the', 'and', 'your', 'you', 'with', 'this', 'that', 'enter', 'sign', 'cancel', 'continue', 'password', 'settings',
  'recovery', 'security', 'remove', 'verify', 'back', 'help', 'need', 'wrong', 'invalid', 'again', 'account',
  'company', 'method', 'email', 'allow', 'deny', 'save', 'change', 'new', 'not', 'will', 'are', 'is', 'of', 'to',
] as const;

const ENGLISH = new RegExp(`(?<![\\p{L}\\p{N}_-])(${ENGLISH_WORDS.join('|')})(?![\\p{L}\\p{N}_-])`, 'giu');

/** The page's words: visible text nodes outside data elements. */
export async function visibleWords(page: Page): Promise<string> {
  return page.evaluate(`(() => {
    const skip = 'code, pre, kbd, samp, script, style, noscript, [translate="no"], input, textarea';
    const parts = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const element = node.parentElement;
      if (!element || element.closest(skip)) continue;
      const style = getComputedStyle(element);
      if (style.display === 'none' || style.visibility === 'hidden') continue;
      parts.push(node.textContent);
    }
    for (const element of document.querySelectorAll('[aria-label], [alt], [title], [placeholder]')) {
      if (element.closest(skip.replace(', input, textarea', ''))) continue;
      for (const name of ['aria-label', 'alt', 'title', 'placeholder']) {
        const value = element.getAttribute(name);
        if (value) parts.push(value);
      }
    }
    parts.push(document.title);
    return parts.join(' ').replace(/\\s+/g, ' ');
  })()`);
}

/** English words found in a German page's words (`label` names the page in the problem). */
export function englishLeftovers(words: string, label: string): string[] {
  const found = [...new Set([...words.matchAll(ENGLISH)].map((match) => match[1]!.toLowerCase()))];
  return found.length ? [`${label}: English words in the German page: ${found.join(', ')} — in: ${words.slice(0, 400)}`] : [];
}

/** Message ids shown as text (a message missing from the catalogues, or an id passed where text was expected). */
export function shownIds(words: string, label: string): string[] {
  const ids = new Set(languages.messageIds);
  const found = [...words.matchAll(/[a-z0-9_]+(?:\.[a-z0-9_]+)+/g)].map((match) => match[0]).filter((token) => ids.has(token));
  return found.length ? [`${label}: message ids shown as text: ${found.join(', ')}`] : [];
}
