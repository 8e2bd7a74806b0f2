/**
 * The languages of the pages and mails: one message catalogue per language in `locales/<language>.json` (stable
 * message ids, nested by page group), rendered by i18next with ICU MessageFormat (`{count, plural, one {…} other
 * {…}}`, CLDR plural rules). English is the source language: every id exists there, and a message missing from
 * another catalogue falls back to it. Adding a language is adding its catalogue file (docs/OPERATIONS.md
 * "Languages").
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import i18next, { type i18n as I18next, type Resource } from 'i18next';
import ICU from 'i18next-icu';

/** `locales/` at the repository (or image) root: `src/i18n/` and `dist/i18n/` both sit two levels below it. */
export const LOCALES_DIR = fileURLToPath(new URL('../../locales/', import.meta.url));

/** The catalogue every other one is translated from; it holds every message id. */
export const SOURCE_LANGUAGE = 'en';

/** A value placed into a message: text, a number (plurals) or a time. */
export type MessageValue = string | number | Date;

/** A message by id with its values, for code that names words without knowing the reader's language. */
export interface Message {
  readonly id: string;
  readonly values?: Readonly<Record<string, MessageValue>> | undefined;
}

/** A message to show later, in the reader's language (`msg('login.error.invalid_credentials')`). */
export function msg(id: string, values?: Readonly<Record<string, MessageValue>>): Message {
  return values === undefined ? { id } : { id, values };
}

/** True for a {@link Message} (as opposed to text already in a language). */
export function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && typeof (value as Message).id === 'string';
}

/** Words in one language, and times as that language writes them. */
export interface Translator {
  /** A BCP 47 language tag of a catalogue (`en`, `de`). */
  readonly language: string;
  /** The time zone times are written in (IANA name); `UTC` when the reader's zone is not known. */
  readonly timeZone: string;
  /**
   * The message `id` (or a {@link Message}) in this language, with `values` placed in; an unknown id throws, and text
   * that is no id ({@link MESSAGE_ID}: words of a factor shipped without catalogue entries) is returned as it is.
   */
  t(message: string | Message, values?: Readonly<Record<string, MessageValue>>): string;
  /** A date and time as this language writes it, in {@link timeZone} ("4. Dezember 2026 um 09:20 UTC"). */
  formatTime(date: Date): string;
  /** A date alone ("4 December 2026"). */
  formatDate(date: Date): string;
}

/** The catalogues of one deployment. */
export interface Languages {
  /** The languages with a catalogue, the source language first. */
  readonly supported: readonly string[];
  /** The language when nothing else names one (`DEFAULT_LOCALE`). */
  readonly defaultLanguage: string;
  /** A catalogue's language for a BCP 47 tag (`de-CH` → `de`, `EN` → `en`); `undefined` when none fits. */
  match(tag: string | undefined): string | undefined;
  /** Words in `language` (a supported one; anything else gets the default language). */
  translator(language: string, options?: { timeZone?: string | undefined }): Translator;
  /** A language's name in itself ("Deutsch"), for the language switch. */
  nameOf(language: string): string;
  /** The ids of the source catalogue, flattened (`login.title`). */
  readonly messageIds: readonly string[];
}

type Catalogue = { [key: string]: string | Catalogue };

/** A message id: lower_snake_case parts joined by dots (`login.error.invalid_credentials`). */
export const MESSAGE_ID = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;

/** Every message id of a nested catalogue, dot-joined, and the problems of its shape. */
export function flattenCatalogue(catalogue: Catalogue, prefix = ''): string[] {
  const ids: string[] = [];
  for (const [key, value] of Object.entries(catalogue)) {
    if (!/^[a-z0-9_]+$/.test(key)) throw new Error(`message id part ${JSON.stringify(prefix + key)} is not lower_snake_case`);
    if (typeof value === 'string') ids.push(prefix + key);
    else if (typeof value === 'object' && value !== null && !Array.isArray(value)) ids.push(...flattenCatalogue(value, `${prefix}${key}.`));
    else throw new Error(`message ${prefix + key} is neither text nor a group`);
  }
  return ids;
}

/** The catalogue files of `dir`: `<language>.json`, the language a BCP 47 tag in lower case (`de`, `pt-br`). */
export function readCatalogues(dir: string = LOCALES_DIR): Record<string, Catalogue> {
  const catalogues: Record<string, Catalogue> = {};
  for (const file of readdirSync(dir).sort()) {
    const found = /^([a-z]{2,3}(?:-[a-z0-9]{2,8})*)\.json$/.exec(file);
    if (!found) continue;
    const parsed: unknown = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file} is not a message catalogue`);
    catalogues[found[1]!] = parsed as Catalogue;
  }
  if (!catalogues[SOURCE_LANGUAGE]) throw new Error(`no ${SOURCE_LANGUAGE}.json in ${dir}: the source catalogue is required`);
  return catalogues;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Loads the catalogues of `dir` once (synchronously, at start-up). `defaultLanguage` must be one of them; a start
 * with an unknown one fails, listing the languages there are.
 */
export function loadLanguages(options: { dir?: string; defaultLanguage?: string } = {}): Languages {
  const catalogues = readCatalogues(options.dir);
  const supported = [SOURCE_LANGUAGE, ...Object.keys(catalogues).filter((language) => language !== SOURCE_LANGUAGE)];
  const defaultLanguage = (options.defaultLanguage ?? SOURCE_LANGUAGE).toLowerCase();
  if (!supported.includes(defaultLanguage)) {
    throw new Error(`DEFAULT_LOCALE ${JSON.stringify(options.defaultLanguage)} has no catalogue; there are: ${supported.join(', ')}`);
  }
  const messageIds = flattenCatalogue(catalogues[SOURCE_LANGUAGE]!);
  const known = new Set(messageIds);
  const resources: Resource = {};
  for (const [language, catalogue] of Object.entries(catalogues)) {
    for (const id of flattenCatalogue(catalogue)) {
      if (!known.has(id)) throw new Error(`locales/${language}.json has ${id}, which ${SOURCE_LANGUAGE}.json lacks`);
    }
    resources[language] = { translation: catalogue };
  }
  const engine: I18next = i18next.createInstance();
  void engine.use(ICU).init({
    initAsync: false,
    resources,
    lng: defaultLanguage,
    supportedLngs: supported,
    fallbackLng: SOURCE_LANGUAGE,
    // Values are placed as text; pug escapes the page, the mail's text part is plain.
    interpolation: { escapeValue: false },
    returnNull: false,
  });

  function match(tag: string | undefined): string | undefined {
    if (!tag) return undefined;
    const lower = tag.trim().toLowerCase().replace(/_/g, '-');
    if (!/^[a-z]{1,8}(-[a-z0-9]{1,8})*$/.test(lower)) return undefined;
    if (supported.includes(lower)) return lower;
    const parts = lower.split('-');
    while (parts.length > 1) {
      parts.pop();
      const broader = parts.join('-');
      if (supported.includes(broader)) return broader;
    }
    return undefined;
  }

  const translators = new Map<string, Translator>();
  /** The languages' names in themselves, made once (an `Intl.DisplayNames` is costly to build per page). */
  const names = new Map<string, string>();
  function translator(requested: string, translatorOptions: { timeZone?: string | undefined } = {}): Translator {
    const language = supported.includes(requested) ? requested : defaultLanguage;
    const timeZone = translatorOptions.timeZone && isTimeZone(translatorOptions.timeZone) ? translatorOptions.timeZone : 'UTC';
    const cacheKey = `${language} ${timeZone}`;
    const cached = translators.get(cacheKey);
    if (cached) return cached;
    const fixed = engine.getFixedT(language);
    // A catalogue names the locale its dates are written in (`meta.date_locale`: `en-GB` writes "4 December 2026,
    // 09:20", as the shops' customers in Europe read English dates).
    const dateLocale = Intl.DateTimeFormat.supportedLocalesOf([fixed('meta.date_locale'), language])[0] ?? language;
    const timeFormat = new Intl.DateTimeFormat(dateLocale, {
      year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short', timeZone,
    });
    const dateFormat = new Intl.DateTimeFormat(dateLocale, { dateStyle: 'long', timeZone });
    const made: Translator = Object.freeze({
      language,
      timeZone,
      t(message: string | Message, values?: Readonly<Record<string, MessageValue>>) {
        const id = typeof message === 'string' ? message : message.id;
        if (!known.has(id)) {
          // Text that is no id (words of a factor shipped without catalogue entries) is shown as it is; an id that
          // is in no catalogue is a programmer error.
          if (!MESSAGE_ID.test(id)) return id;
          throw new Error(`unknown message id ${JSON.stringify(id)}`);
        }
        const merged = typeof message === 'string' ? values : { ...message.values, ...values };
        return merged ? fixed(id, { ...merged }) : fixed(id);
      },
      formatTime(date: Date) {
        return timeFormat.format(date);
      },
      formatDate(date: Date) {
        return dateFormat.format(date);
      },
    });
    translators.set(cacheKey, made);
    return made;
  }

  return Object.freeze({
    supported,
    defaultLanguage,
    match,
    translator,
    nameOf(language: string) {
      let name = names.get(language);
      if (name === undefined) {
        const own = new Intl.DisplayNames([language], { type: 'language' }).of(language) ?? language;
        name = own.charAt(0).toLocaleUpperCase(language) + own.slice(1);
        if (supported.includes(language)) names.set(language, name);
      }
      return name;
    },
    messageIds,
  });
}
