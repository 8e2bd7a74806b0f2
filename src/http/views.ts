import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import pug from 'pug';
import { loadLanguages, type Languages, type Message, type Translator } from '../i18n/languages.ts';
import type { Brand } from '../shared/brand.ts';
import { BRAND_STYLESHEET_PATH } from './assets.ts';

/** `views/` at the repository (or image) root: `src/http/` and `dist/http/` both sit two levels below it. */
export const VIEWS_DIR = fileURLToPath(new URL('../../views/', import.meta.url));

/** Locals every page receives: the page `title` (a message) and the CSP nonce of its inline `<style>`. */
export interface PageLocals {
  title: string | Message;
  cspNonce: string;
  [key: string]: unknown;
}

/**
 * A view name: lower-case letters and underscores, optionally in sub-folders (`console/overview`). Nothing else —
 * no `..`, no leading or trailing slash, no dots or backslashes — so a name can never leave the views directory.
 */
export const VIEW_NAME = /^[a-z_]+(\/[a-z_]+)*$/;

export interface Views {
  /** The languages the pages and mails speak. */
  readonly languages: Languages;
  /**
   * Renders `views/<name>.pug` to HTML (pug escapes every interpolated value); `name` matches {@link VIEW_NAME}. The
   * page gets `t` (words in `words`' language), `lang`, `formatTime` and `formatDate`.
   */
  render(name: string, locals: PageLocals, words?: Translator): string;
  /**
   * Renders a part of a page that code names: a view name as for {@link render}, or an absolute path to a `.pug`
   * file (a second factor shipped outside this package keeps its templates beside its code). The page embeds the
   * HTML as is, so the reference must come from code (the factor contract), never from a request.
   */
  renderPart(reference: string, locals: Record<string, unknown>, words?: Translator): string;
}

/** What every page shows of the deployment: the shop's brand (name, logo; its colour comes as a stylesheet). */
export interface ViewOptions {
  readonly brand?: Brand | undefined;
  /** The catalogues (default: `locales/` with English as the default language). */
  readonly languages?: Languages | undefined;
}

/** What a template gets to speak the reader's language. */
function wordLocals(words: Translator): Record<string, unknown> {
  return {
    lang: words.language,
    t: words.t,
    formatTime: words.formatTime,
    formatDate: words.formatDate,
  };
}

/** The brand a page shows when the deployment names none. */
const DEFAULT_BRAND: Brand = Object.freeze({ name: 'oidc-stepup' });

/** Compiled pug templates, cached per name (pages are small and few). */
export function createViews(dir: string = VIEWS_DIR, options: ViewOptions = {}): Views {
  const brand = {
    name: options.brand?.name ?? DEFAULT_BRAND.name,
    logoUrl: options.brand?.logoUrl,
    stylesheet: options.brand?.primaryColor ? BRAND_STYLESHEET_PATH : undefined,
  };
  const languages = options.languages ?? loadLanguages();
  const defaultWords = languages.translator(languages.defaultLanguage);
  const cache = new Map<string, pug.compileTemplate>();
  function compiled(file: string): pug.compileTemplate {
    let template = cache.get(file);
    if (!template) {
      template = pug.compileFile(file, { basedir: dir });
      cache.set(file, template);
    }
    return template;
  }
  function fileOf(name: string): string {
    if (!VIEW_NAME.test(name)) throw new Error(`invalid view name ${JSON.stringify(name)}`);
    return `${dir}${name}.pug`;
  }
  return {
    languages,
    render(name, locals, words = defaultWords) {
      return compiled(fileOf(name))({ brand, ...wordLocals(words), ...locals, pageName: name });
    },
    renderPart(reference, locals, words = defaultWords) {
      const file = isAbsolute(reference) && reference.endsWith('.pug') ? reference : fileOf(reference);
      return compiled(file)({ ...wordLocals(words), ...locals });
    },
  };
}
