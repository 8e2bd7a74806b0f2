/** The catalogues as the tests read them: a page's or mail's words in English and German, by message id. */
import { loadLanguages } from '../../src/i18n/languages.ts';

export const languages = loadLanguages();
export const english = languages.translator('en');
export const german = languages.translator('de');
