/**
 * The message catalogues against the code that uses them: every id the pages, mails and code name exists in every
 * catalogue, every id of the catalogues is named somewhere, every message is valid ICU MessageFormat with the same
 * values in every language, and no German message is left in English.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isStructurallySame, parse } from '@formatjs/icu-messageformat-parser';
import { expect } from 'chai';
import { LOCALES_DIR, MESSAGE_ID, SOURCE_LANGUAGE, flattenCatalogue, loadLanguages, readCatalogues } from '../../src/i18n/languages.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function filesUnder(dir: string, extension: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith(extension))
    .map((file) => join(ROOT, dir, file));
}

type Catalogue = Parameters<typeof flattenCatalogue>[0];

function messagesOf(catalogue: Catalogue): Map<string, string> {
  const messages = new Map<string, string>();
  const walk = (node: Catalogue, prefix: string) => {
    for (const [key, value] of Object.entries(node)) {
      if (typeof value === 'string') messages.set(prefix + key, value);
      else walk(value, `${prefix}${key}.`);
    }
  };
  walk(catalogue, '');
  return messages;
}

const catalogues = readCatalogues();
const source = messagesOf(catalogues[SOURCE_LANGUAGE]!);
const sections = new Set([...source.keys()].map((id) => id.split('.')[0]!));

/**
 * What the source names: quoted ids (`'login.title'`, `"mfa.error.expired"`) whose first part is a catalogue section,
 * and prefixes of computed ids (`` `mfa.error.${code}` `` names every id under `mfa.error.`).
 */
/** Quoted dotted names in the source that are no message ids: stored field paths and option names. */
const NOT_MESSAGES = new Set(['login.state', 'support.url']);

function namedIn(files: readonly string[]): { ids: Map<string, string>; prefixes: Map<string, string> } {
  const ids = new Map<string, string>();
  const prefixes = new Map<string, string>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const where = relative(ROOT, file);
    // Log lines' event names (`event: 'mfa.failed'`) and file names (`'mfa.ts'`) are no messages.
    for (const found of text.matchAll(/(?<!event:\s*)['"`]([a-z0-9_]+(?:\.[a-z0-9_]+)+)['"`]/g)) {
      const id = found[1]!;
      if (/\.(ts|js|pug|json)$/.test(id)) continue;
      if (sections.has(id.split('.')[0]!) && MESSAGE_ID.test(id) && !NOT_MESSAGES.has(id)) ids.set(id, where);
    }
    for (const found of text.matchAll(/`([a-z0-9_]+(?:\.[a-z0-9_]+)*\.)\$\{/g)) {
      const prefix = found[1]!;
      if (sections.has(prefix.split('.')[0]!)) prefixes.set(prefix, where);
    }
  }
  return { ids, prefixes };
}

describe('message catalogues (locales/*.json)', function () {
  const code = namedIn([...filesUnder('src', '.ts'), ...filesUnder('views', '.pug')]);

  it('there are English and German catalogues, and they load', function () {
    const languages = loadLanguages();
    expect(languages.supported).to.include.members(['en', 'de']);
    expect(languages.messageIds.length).to.equal(source.size);
  });

  it('every catalogue has every message of the English one (none missing, none extra)', function () {
    for (const [language, catalogue] of Object.entries(catalogues)) {
      const ids = new Set(flattenCatalogue(catalogue));
      const missing = [...source.keys()].filter((id) => !ids.has(id));
      const extra = [...ids].filter((id) => !source.has(id));
      expect(missing, `${language}.json lacks`).to.deep.equal([]);
      expect(extra, `${language}.json has more than en.json`).to.deep.equal([]);
    }
  });

  it('every message is ICU MessageFormat with the same values, plurals and selects in every language', function () {
    const problems: string[] = [];
    for (const [language, catalogue] of Object.entries(catalogues)) {
      for (const [id, text] of messagesOf(catalogue)) {
        let parsed;
        try {
          parsed = parse(text, { requiresOtherClause: true });
        } catch (err) {
          problems.push(`${language} ${id}: ${(err as Error).message}`);
          continue;
        }
        const english = source.get(id);
        if (language === SOURCE_LANGUAGE || english === undefined) continue;
        const same = isStructurallySame(parse(english), parsed);
        if (!same.success) problems.push(`${language} ${id}: ${same.error?.message}`);
      }
    }
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('every id the code and the templates name is in the catalogues', function () {
    const unknown = [...code.ids].filter(([id]) => !source.has(id)).map(([id, where]) => `${id} (${where})`);
    expect(unknown, unknown.join('\n')).to.deep.equal([]);
    const emptyPrefixes = [...code.prefixes].filter(([prefix]) => ![...source.keys()].some((id) => id.startsWith(prefix)));
    expect(emptyPrefixes.map(([prefix, where]) => `${prefix}* (${where})`)).to.deep.equal([]);
  });

  it('every message of the catalogues is used (named as an id, or under a computed id’s prefix)', function () {
    const unused = [...source.keys()].filter((id) => !code.ids.has(id) && ![...code.prefixes.keys()].some((prefix) => id.startsWith(prefix)));
    expect(unused, `unused message ids:\n${unused.join('\n')}`).to.deep.equal([]);
  });

  it('no German message is the English one left untranslated (words that are the same in German are listed here)', function () {
    // Identical in both languages on purpose: borrowed words and formats.
    const same = new Set(['Support', 'Browser', 'Shop', 'Code', 'Details', 'OK', 'Name', 'Status', 'Admin', 'App', 'Login', 'Start', 'Team', 'Version', 'UTC']);
    const german = messagesOf(catalogues.de!);
    const leftovers = [...german].filter(([id, text]) => {
      const english = source.get(id);
      const words = text.replace(/[^\p{L}\s-]/gu, '').trim();
      return english !== undefined && text === english && /[a-z]{3}/i.test(text) && !same.has(words) && !id.startsWith('meta.');
    }).map(([id, text]) => `${id}: ${text}`);
    expect(leftovers, leftovers.join('\n')).to.deep.equal([]);
  });

  it('a catalogue file with a message the English one lacks, or a DEFAULT_LOCALE without a catalogue, is refused at start-up', function () {
    expect(() => loadLanguages({ defaultLanguage: 'fr' })).to.throw(/DEFAULT_LOCALE "fr" has no catalogue; there are: en, de/);
    expect(LOCALES_DIR.endsWith('/locales/')).to.equal(true);
  });
});
