/**
 * The language of a page: the customer's own choice in this browser (the language switch on every page), then the
 * shop's `ui_locales` (OIDC Core §3.1.2.1: preferred languages, space-separated, in order), then the language stored
 * with the account, then the browser's `Accept-Language` (RFC 9110 §12.5.4), then `DEFAULT_LOCALE`. The steps that
 * know the interaction or the account name them with {@link noteLanguageHints}; the page takes the first that names
 * a language with a catalogue.
 *
 * The switch is a link to {@link LANGUAGE_PATH}: it remembers the choice in a cookie and sends the browser back to
 * the page it came from (a path of this site, never another origin), so an interaction goes on where it was.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Languages, Translator } from '../i18n/languages.ts';

/** The language switch. */
export const LANGUAGE_PATH = '/language';

/** The cookie holding the customer's choice (a language tag, nothing else). */
export const LANGUAGE_COOKIE = 'language';

/** A year: the choice is a preference, not a session. */
const CHOICE_MAX_AGE_MS = 365 * 24 * 60 * 60 * 1000;

/** What a step knows of the reader: the shop's `ui_locales`, the account's stored language and time zone. */
export interface LanguageHints {
  readonly uiLocales?: unknown;
  readonly account?: { readonly language?: string | undefined; readonly timeZone?: string | undefined } | null | undefined;
}

interface LanguageState {
  hints: LanguageHints;
  languages?: Languages;
  translator?: Translator;
  returnPath?: string;
}

function stateOf(ctx: Context): LanguageState {
  const state = ctx.state as { language?: LanguageState };
  state.language ??= { hints: {} };
  return state.language;
}

/** The catalogues of this request's pages (set once where the pages are mounted), for {@link requestLanguage}. */
export function useLanguages(ctx: Context, languages: Languages): void {
  stateOf(ctx).languages ??= languages;
}

/**
 * The language of this request's pages, for what it causes beyond the page (the mail of a security event when the
 * account chose no language); `undefined` outside the pages that {@link useLanguages}.
 */
export function requestLanguage(ctx: Context): string | undefined {
  const { languages } = stateOf(ctx);
  return languages ? languageOf(ctx, languages) : undefined;
}

/**
 * A client's name in this request's language: `client_name#<language>` when the client registered one (OpenID Connect
 * Dynamic Client Registration 1.0 §2.1), else its `client_name`; `undefined` without either.
 */
export function clientNameIn(ctx: Context, client: { readonly clientName?: string | undefined } | undefined): string | undefined {
  const language = requestLanguage(ctx);
  const localized = language && client ? (client as Record<string, unknown>)[`client_name#${language}`] : undefined;
  return typeof localized === 'string' && localized ? localized : client?.clientName;
}

/**
 * Remembers `language` as this browser's choice (the security settings' language does it too, so the pages follow
 * the setting at once); `undefined` forgets the choice.
 */
export function rememberLanguageChoice(ctx: Context, language: string | undefined): void {
  ctx.cookies.set(LANGUAGE_COOKIE, language ?? null, {
    maxAge: CHOICE_MAX_AGE_MS, httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: false, overwrite: true,
  });
}

/** Names what this request knows of the reader's language; later hints add to earlier ones. */
export function noteLanguageHints(ctx: Context, hints: LanguageHints): void {
  const state = stateOf(ctx);
  state.hints = { ...state.hints, ...Object.fromEntries(Object.entries(hints).filter(([, value]) => value !== undefined)) };
  delete state.translator;
}

/**
 * Where the language switch of a page rendered for a form post sends the browser back (a GET of the same step);
 * a page rendered for a GET returns to its own address.
 */
export function noteLanguageReturn(ctx: Context, path: string): void {
  stateOf(ctx).returnPath = path;
}

/** The first of the space-separated `ui_locales` tags that has a catalogue. */
function fromUiLocales(languages: Languages, uiLocales: unknown): string | undefined {
  if (typeof uiLocales !== 'string') return undefined;
  for (const tag of uiLocales.split(' ').slice(0, 20)) {
    const found = languages.match(tag);
    if (found) return found;
  }
  return undefined;
}

/** The language this request's page and mails are in. */
export function languageOf(ctx: Context, languages: Languages): string {
  const { hints } = stateOf(ctx);
  const choice = languages.match(ctx.cookies.get(LANGUAGE_COOKIE));
  if (choice) return choice;
  const fromShop = fromUiLocales(languages, hints.uiLocales);
  if (fromShop) return fromShop;
  const stored = languages.match(hints.account?.language);
  if (stored) return stored;
  if (ctx.get('Accept-Language')) {
    const accepted = ctx.acceptsLanguages([...languages.supported]);
    if (typeof accepted === 'string') return accepted;
  }
  return languages.defaultLanguage;
}

/** The words of this request's page: its language, and the account's time zone when known. */
export function translatorOf(ctx: Context, languages: Languages): Translator {
  const state = stateOf(ctx);
  state.translator ??= languages.translator(languageOf(ctx, languages), { timeZone: state.hints.account?.timeZone });
  return state.translator;
}

/** A path of this site to return to: one leading slash, no scheme, no host, no backslash, no control character. */
export function isLocalPath(path: unknown): path is string {
  // eslint-disable-next-line no-control-regex
  return typeof path === 'string' && path.length <= 2048 && /^\/(?![/\\])/.test(path) && !/[\\\u0000-\u001f\u007f]/.test(path);
}

/** One entry of the language switch. */
export interface LanguageLink {
  readonly language: string;
  /** The language's name in itself ("Deutsch"). */
  readonly name: string;
  readonly href: string;
  readonly current: boolean;
}

/** The switch of this page: every language, each a link back to this page (or the step's GET) in that language. */
export function languageLinks(ctx: Context, languages: Languages, current: string): LanguageLink[] {
  if (languages.supported.length < 2) return [];
  const state = stateOf(ctx);
  const back = state.returnPath ?? (ctx.method === 'GET' || ctx.method === 'HEAD' ? ctx.originalUrl : ctx.path);
  const returnPath = isLocalPath(back) ? back : '/';
  return languages.supported.map((language) => ({
    language,
    name: languages.nameOf(language),
    href: `${LANGUAGE_PATH}?${new URLSearchParams({ set: language, return: returnPath }).toString()}`,
    current: language === current,
  }));
}

/**
 * `GET /language?set=de&return=/interaction/…`: remembers the choice for this browser and returns to the page. An
 * unknown language or a return address off this site is refused (400), so the switch is no open redirect.
 */
export function languageRouter(languages: Languages): Router {
  const router = new Router();
  router.get(LANGUAGE_PATH, function chooseLanguage(ctx) {
    const language = languages.match(typeof ctx.query.set === 'string' ? ctx.query.set : undefined);
    const back = ctx.query.return;
    if (!language || !isLocalPath(back)) {
      ctx.throw(400, 'unknown language or return address');
      return;
    }
    rememberLanguageChoice(ctx, language);
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(back);
    ctx.status = 303;
  });
  return router;
}
