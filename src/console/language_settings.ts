/**
 * The language and time zone of the customer's pages and mails (`GET|POST /account/language`): a language with a
 * catalogue, or none (the browser's, RFC 9110 §12.5.4 `Accept-Language`), and an IANA time zone, or none (UTC). Not
 * a security change — it grants nothing and hides nothing — so it needs no re-authentication and is no security
 * event; the form carries the console's CSRF token like every other. The choice is stored with the account (the
 * pages of any browser it signs in with and its mails follow it) and remembered for this browser at once.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { setAccountLanguage } from '../accounts/accounts.ts';
import { field, requireForm } from '../http/forms.ts';
import { rememberLanguageChoice } from '../http/language.ts';
import { ACCOUNT_PATH } from './client.ts';
import type { ConsoleKit, Signed } from './kit.ts';

export const LANGUAGE_SETTINGS_PATH = `${ACCOUNT_PATH}/language`;

/** The time zones offered: every IANA zone this runtime knows (ECMA-402 `Intl.supportedValuesOf`), in its order. */
const TIME_ZONES: readonly string[] = Intl.supportedValuesOf('timeZone');
const KNOWN_ZONES: ReadonlySet<string> = new Set(TIME_ZONES);

/** A choice as the form posts it: `''` is "no choice" (the browser's language, UTC). */
interface Choice {
  readonly language: string;
  readonly timeZone: string;
}

export function languageSettingsRoutes(router: Router, kit: ConsoleKit): void {
  router.get('/language', async function showLanguageSettings(ctx) {
    const signed = await kit.requireSignIn(ctx, LANGUAGE_SETTINGS_PATH);
    if (!signed) return;
    renderForm(ctx, kit, signed);
  });

  router.post('/language', requireForm(), kit.parseForm, async function saveLanguageSettings(ctx) {
    const signed = await kit.postContext(ctx);
    const choice = validChoice(kit, { language: field(ctx, 'language'), timeZone: field(ctx, 'time_zone') });
    if (!choice) {
      renderForm(ctx, kit, signed, true);
      return;
    }
    await setAccountLanguage(kit.deps.conn, signed.account.id, {
      language: choice.language || undefined,
      timeZone: choice.timeZone || undefined,
    });
    // This browser follows the new language at once (its own earlier choice would otherwise win over the account's);
    // "the browser's language" forgets that choice.
    rememberLanguageChoice(ctx, choice.language || undefined);
    kit.deps.logger.info(
      { event: 'account.language_changed', accountId: signed.account.id, language: choice.language, timeZone: choice.timeZone },
      'language and time zone saved in the console',
    );
    kit.seeOther(ctx, `${ACCOUNT_PATH}?done=language_saved`);
  });
}

/** The posted choice when both fields name something offered (or nothing); otherwise `undefined`. */
function validChoice(kit: ConsoleKit, posted: { language: string | undefined; timeZone: string | undefined }): Choice | undefined {
  const { language, timeZone } = posted;
  if (language === undefined || timeZone === undefined) return undefined;
  if (language !== '' && !kit.deps.views.languages.supported.includes(language)) return undefined;
  if (timeZone !== '' && !KNOWN_ZONES.has(timeZone)) return undefined;
  return { language, timeZone };
}

/** The form, with the stored choice selected; after a refused post, with the error (400, nothing was written). */
function renderForm(ctx: Context, kit: ConsoleKit, signed: Signed, refused = false): void {
  const { languages } = kit.deps.views;
  const { account } = signed;
  const stored: Choice = {
    language: account.language && languages.supported.includes(account.language) ? account.language : '',
    timeZone: account.timeZone && KNOWN_ZONES.has(account.timeZone) ? account.timeZone : '',
  };
  kit.render(ctx, 'language', {
    title: 'console.language.title',
    csrf: kit.csrf.tokenFor(signed.session.id),
    action: LANGUAGE_SETTINGS_PATH,
    error: refused ? 'console.language.invalid' : undefined,
    languages: languages.supported.map((code) => ({ code, name: languages.nameOf(code), selected: code === stored.language })),
    zones: TIME_ZONES.map((zone) => ({ zone, name: zone.replace(/_/g, ' '), selected: zone === stored.timeZone })),
    stored,
  }, refused ? 400 : 200);
}
