/**
 * What a reader sees of a server-rendered page, read from its HTML without a browser: the text of the document (its
 * `<title>` and body, plus the words read out from `aria-label`, `alt`, `title` and `placeholder`), without scripts
 * and styles, entities decoded. `words` also leaves out what is data rather than words (`code`, `pre`, `kbd`, `samp`,
 * `textarea`, and elements marked `translate="no"`), as `page_words.ts` does in Chromium. Links of a page are found
 * by their `id` or their address, never by their words, so a walk works in every language.
 */
import type { Page } from './shop.ts';

/** The text of a page: everything shown (`all`), and its words without data elements (`words`). */
export interface PageText {
  readonly all: string;
  readonly words: string;
}

const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr']);
const DATA = new Set(['code', 'pre', 'kbd', 'samp', 'textarea']);
const READ_OUT = ['aria-label', 'alt', 'title', 'placeholder'];
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** `&amp;`, `&#39;`, `&#x27;`, `&nbsp;` … as the characters they stand for (unknown names stay as written). */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (entity, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
    }
    return NAMED[name.toLowerCase()] ?? entity;
  });
}

/** An element's attributes, names lower-cased, values decoded (`checked` alone: ''). */
export function attributesOf(tag: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const match of tag.matchAll(/([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
    const name = match[1]?.toLowerCase();
    if (name) attrs[name] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? '');
  }
  return attrs;
}

/** The page's text; see the file comment. */
export function pageText(html: string): PageText {
  const source = html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<![^>]*>/g, ' ')
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ');
  const all: string[] = [];
  const words: string[] = [];
  /** Open elements, each with whether it (or an ancestor) is data. */
  const open: { name: string; data: boolean }[] = [];
  const inData = (): boolean => open.at(-1)?.data === true;
  const add = (text: string): void => {
    all.push(text);
    if (!inData()) words.push(text);
  };
  let last = 0;
  for (const tag of source.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g)) {
    add(decodeEntities(source.slice(last, tag.index)));
    last = tag.index + tag[0].length;
    const name = (tag[2] as string).toLowerCase();
    // Tags are word boundaries: `<li>one</li><li>two</li>` reads "one two".
    all.push(' ');
    words.push(' ');
    if (tag[1]) {
      const at = open.map((element) => element.name).lastIndexOf(name);
      if (at >= 0) open.length = at;
      continue;
    }
    const attrs = attributesOf(tag[3] ?? '');
    const data = inData() || DATA.has(name) || attrs.translate === 'no';
    for (const attribute of READ_OUT) {
      const value = attrs[attribute];
      if (!value) continue;
      all.push(` ${value} `);
      if (!data) words.push(` ${value} `);
    }
    if (!VOID.has(name) && !/\/\s*$/.test(tag[3] ?? '')) open.push({ name, data });
  }
  add(decodeEntities(source.slice(last)));
  const squeeze = (parts: string[]): string => parts.join('').replace(/\s+/g, ' ').trim();
  return { all: squeeze(all), words: squeeze(words) };
}

/** The `<html lang>` of a page. */
export function htmlLang(html: string): string | undefined {
  const tag = /<html\b([^>]*)>/i.exec(html)?.[1];
  return tag === undefined ? undefined : attributesOf(tag).lang;
}

/** The view a page names on `<body data-page="…">` (`src/http/views.ts`). */
export function pageName(html: string): string | undefined {
  const tag = /<body\b([^>]*)>/i.exec(html)?.[1];
  return tag === undefined ? undefined : attributesOf(tag)['data-page'];
}

/** The absolute address of the first link (`<a href>`) whose attributes match `which`; throws when there is none. */
export function linkOn(page: Page, which: (attrs: Record<string, string>) => boolean, what = 'the link'): string {
  for (const tag of page.html.matchAll(/<a\b((?:[^>"']|"[^"]*"|'[^']*')*)>/gi)) {
    const attrs = attributesOf(tag[1] ?? '');
    if (attrs.href !== undefined && which(attrs)) return new URL(attrs.href, page.url).href;
  }
  throw new Error(`no ${what} on ${page.url} (status ${page.status}):\n${page.html.slice(0, 2000)}`);
}

/** The link with `id`. */
export function linkById(page: Page, id: string): string {
  return linkOn(page, (attrs) => attrs.id === id, `link #${id}`);
}

/** The first link whose address (as written, its query included) matches `href`. */
export function linkByHref(page: Page, href: RegExp): string {
  return linkOn(page, (attrs) => href.test(attrs.href ?? ''), `link to ${String(href)}`);
}
