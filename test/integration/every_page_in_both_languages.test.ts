/**
 * Every page a customer, a shop's company admin or a signed-out visitor can see, walked over HTTP like a browser
 * without JavaScript, once in English (no language hint) and once in German (`Accept-Language: de` on every request).
 * The pages are the templates of `views/` (less partials, layouts, mails, the factors' parts and the development
 * pages); every page names its template on `<body data-page>`, so each response of a walk counts for its template.
 *
 * On every page of a walk: `<html lang>` is the walk's language, no message id is shown instead of its words, and the
 * words are the walk's language — in German none of `ENGLISH_WORDS` (outside `code`, `pre`, `kbd` and
 * `translate="no"`), in English none of a few common German words. A template no walk reached fails too, so a new
 * page comes with a way to reach it here. The walk finds forms and links by their address or id, never by their
 * words, and collects every problem before it fails: one run lists them all, page by page.
 */
import { readdirSync } from 'node:fs';
import { sep } from 'node:path';
import { expect } from 'chai';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createCompany } from '../../src/accounts/companies.ts';
import type { RecoveryFactor } from '../../src/factors/recovery/factor.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { VIEWS_DIR } from '../../src/http/views.ts';
import { createMailer, type Mailer, type MailMessage, type OutboxEntry } from '../../src/mail/index.ts';
import { ACR } from '../../src/policy/acr.ts';
import { newCustomer, type Customer } from '../console/support.ts';
import { enrolTotp, wrongCode } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { LanguageBrowser } from '../helpers/language_browser.ts';
import { linkByHref, linkById, linkOn, pageName, pageText, htmlLang } from '../helpers/page_text.ts';
import { ENGLISH_WORDS } from '../helpers/page_words.ts';
import { SHOP_ORIGIN, useTestServer } from '../helpers/server.ts';
import { findForm, useShop, type Page } from '../helpers/shop.ts';
import { isChallenge, manualKeyOf, nextCode } from '../helpers/step_up.ts';
import { languages } from '../helpers/words.ts';

/** Development pages: not served in production, not translated. */
const DEVELOPMENT_PAGES = new Set(['dev_mail', 'demo_shop']);

/** Words of German sentences that English text never contains. */
const GERMAN_WORDS = ['und', 'der', 'die', 'das', 'Sie', 'Ihr', 'Ihre', 'nicht', 'mit', 'für', 'oder', 'Anmeldung', 'Passwort', 'Abbrechen', 'Weiter'];

/** `words` as whole words in any case (letters, digits, `_` and `-` join words, as in `page_words.ts`). */
function wholeWords(words: readonly string[]): RegExp {
  return new RegExp(`(?<![\\p{L}\\p{N}_-])(${words.join('|')})(?![\\p{L}\\p{N}_-])`, 'giu');
}

const FOREIGN: Record<Walked, { kind: string; pattern: RegExp }> = {
  en: { kind: 'German words', pattern: wholeWords(GERMAN_WORDS) },
  de: { kind: 'English words', pattern: wholeWords(ENGLISH_WORDS) },
};
const MESSAGE_IDS = new Set(languages.messageIds);

type Walked = 'en' | 'de';

/** The page templates: `views/**\/*.pug` less partials, layouts, mails, the factors' parts and development pages. */
function pageTemplates(): string[] {
  return readdirSync(VIEWS_DIR, { recursive: true, encoding: 'utf8' })
    .map((file) => file.split(sep).join('/'))
    .filter((file) => file.endsWith('.pug') && !file.startsWith('mail/') && !file.startsWith('factors/'))
    .filter((file) => {
      const base = file.slice(file.lastIndexOf('/') + 1);
      return !base.startsWith('_') && base !== 'layout.pug';
    })
    .map((file) => file.slice(0, -'.pug'.length))
    .filter((name) => !DEVELOPMENT_PAGES.has(name))
    .sort();
}

/** The dev outbox, and a way to wait for a mail without polling: a mail sent after the response (the reset link). */
function watchedOutbox(): Mailer & { mailTo(address: string, matching: RegExp): Promise<OutboxEntry> } {
  const base = createMailer({ from: 'no-reply@shop.example', issuerName: 'oidc-stepup', production: false });
  const waiting = new Set<() => void>();
  const find = (address: string, matching: RegExp): OutboxEntry | undefined =>
    base.outbox()?.find((mail) => mail.to.includes(address) && matching.test(mail.text));
  return {
    mode: base.mode,
    outbox: () => base.outbox(),
    close: () => base.close(),
    async send(message: MailMessage) {
      const sent = await base.send(message);
      for (const wake of [...waiting]) wake();
      return sent;
    },
    async mailTo(address, matching) {
      for (;;) {
        const mail = find(address, matching);
        if (mail) return mail;
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            waiting.delete(wake);
            resolve();
          };
          waiting.add(wake);
        });
      }
    },
  };
}

/** A page's path without the ids in it (`/interaction/:uid/login`), to name where a problem showed. */
function pathOf(url: string): string {
  return new URL(url).pathname
    .replace(/^\/interaction\/[^/]+/, '/interaction/:uid')
    .replace(/^\/account\/company\/members\/[^/]+/, '/account/company/members/:id');
}

/** One walk's findings: the templates it reached, and per template what is wrong (kind → item → an example). */
class Findings {
  readonly reached = new Set<string>();
  private readonly problems = new Map<string, Map<string, Map<string, string>>>();

  constructor(readonly language: Walked) {}

  add(where: string, kind: string, item: string, example = ''): void {
    const kinds = this.problems.get(where) ?? new Map<string, Map<string, string>>();
    this.problems.set(where, kinds);
    const items = kinds.get(kind) ?? new Map<string, string>();
    kinds.set(kind, items);
    if (!items.has(item)) items.set(item, example);
  }

  /** Checks one response of the walk (pages only: HTML that is not a redirect). */
  see(page: Page, method: string): void {
    if ((page.status >= 300 && page.status < 400) || !(page.headers.get('content-type') ?? '').includes('text/html')) return;
    const view = pageName(page.html);
    if (!view) {
      this.add(`${method} ${pathOf(page.url)}`, 'an HTML page that names no template (<body data-page>)', String(page.status));
      return;
    }
    this.reached.add(view);
    const lang = htmlLang(page.html);
    if (lang !== this.language) this.add(view, 'html lang', `"${lang ?? ''}" at ${method} ${pathOf(page.url)}`);
    const text = pageText(page.html);
    for (const token of text.all.match(/[a-z0-9_]+(?:\.[a-z0-9_]+)+/g) ?? []) {
      if (MESSAGE_IDS.has(token)) this.add(view, 'message ids shown as text', token);
    }
    const foreign = FOREIGN[this.language];
    for (const match of text.words.matchAll(foreign.pattern)) {
      const at = match.index;
      this.add(view, foreign.kind, (match[1] as string).toLowerCase(), text.words.slice(Math.max(0, at - 40), at + 40));
    }
  }

  /** A part of the walk that could not go on: the problem is listed, the other parts go on. */
  async part(name: string, walk: () => Promise<void>): Promise<void> {
    try {
      await walk();
    } catch (err) {
      this.add(`(walk) ${name}`, 'stopped', (err as Error).message.split('\n').slice(0, 6).join('\n    '));
    }
  }

  /** Every problem, one line per page and kind; templates not reached are problems too. */
  report(templates: readonly string[]): string[] {
    for (const template of templates) if (!this.reached.has(template)) this.add(template, 'not reached by the walk', 'no way to reach it');
    const lines: string[] = [];
    for (const where of [...this.problems.keys()].sort()) {
      for (const [kind, items] of this.problems.get(where) ?? []) {
        lines.push(`${where} → ${kind}: ${[...items.keys()].join(', ')}`);
        const [first, example] = [...items.entries()][0] ?? [];
        if (example && kind === FOREIGN[this.language].kind) lines.push(`    e.g. "${first}" in "…${example}…"`);
      }
    }
    return lines;
  }
}

/** Throws unless `page` shows `view` (a step of the walk that did not land where it should). */
function expectView(page: Page, view: string): Page {
  const shown = pageName(page.html);
  if (shown !== view) {
    throw new Error(`expected the page ${view}, got ${shown ?? 'no page'} (status ${page.status}) at ${page.url}:\n${pageText(page.html).all.slice(0, 600)}`);
  }
  return page;
}

describe('every page in English and in German: the page’s language, its words, no message ids', function () {
  this.timeout(60_000);
  let outbox: ReturnType<typeof watchedOutbox>;
  const server = useTestServer('every_page_in_both_languages', () => {
    outbox = watchedOutbox();
    return { mailer: outbox };
  });
  const shop = useShop(server);
  const partner = useShop(server, 'thirdParty');
  const clock = useFrozenClock();
  const templates = pageTemplates();

  it('lists the page templates', function () {
    expect(templates).to.include.members(['login', 'error', 'console/overview', 'password_reset/request', 'mfa_challenge']);
    expect(templates.filter((name) => name.startsWith('mail/') || name.startsWith('factors/') || DEVELOPMENT_PAGES.has(name))).to.deep.equal([]);
  });

  /** Walks every page in `language` and returns the problems found. */
  async function walkAll(language: Walked): Promise<string[]> {
    const findings = new Findings(language);
    const browser = (): LanguageBrowser => new LanguageBrowser({
      stopAt: [SHOP_ORIGIN],
      headers: language === 'de' ? { 'accept-language': 'de' } : {},
      onResponse: (page, method) => findings.see(page, method),
    });
    const issuer = server.issuer;
    const person = (name: string, extra: Parameters<typeof newCustomer>[2] = {}): Promise<Customer> => newCustomer(server, `${name}-${language}`, extra);
    const totp = server.factors.get('totp') as TotpFactor;

    await findings.part('sign-in, consent and sign-out (a partner shop)', async () => {
      const customer = await person('rhea');
      const b = browser();
      const login = expectView(await b.go((await partner.startLogin({ scope: 'openid email profile' })).url.href), 'login');
      const wrong = expectView(await b.submit(findForm(login, '/login'), { email: customer.email, password: 'not-her-password' }), 'login');
      const consent = expectView(await b.submit(findForm(wrong, '/login'), { email: customer.email, password: customer.password }), 'consent');
      const back = await b.submit(findForm(consent, '/confirm'));
      expect(back.status, 'back at the shop').to.equal(0);
      const signOut = expectView(await b.go(`${issuer}/session/end`), 'logout');
      expectView(await b.submit(findForm(signOut, 'op.logoutForm'), { logout: 'yes' }), 'logout_success');
    });

    await findings.part('error pages (no such page, a tampered sign-in, a shop the provider does not know)', async () => {
      const b = browser();
      expectView(await b.go(`${issuer}/no-such-page`), 'error');
      const login = expectView(await b.go((await shop.startLogin()).url.href), 'login');
      const tampered = new URL(login.url);
      tampered.pathname = tampered.pathname.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'));
      expectView(await b.go(tampered.href), 'error');
      const unknownShop = new URL(`${issuer}/auth`);
      unknownShop.search = new URLSearchParams({
        client_id: 'no-such-shop', response_type: 'code', scope: 'openid', redirect_uri: `${SHOP_ORIGIN}/no-such-shop/callback`,
      }).toString();
      expectView(await b.go(unknownShop.href), 'error');
    });

    await findings.part('password reset by email, from the sign-in page', async () => {
      const customer = await person('fiona');
      const b = browser();
      const login = expectView(await b.go((await shop.startLogin()).url.href), 'login');
      const request = expectView(await b.go(linkById(login, 'forgot-password')), 'password_reset/request');
      expectView(await b.submit(findForm(request, 'reset-request'), { email: customer.email }), 'password_reset/sent');
      // The link is mailed after the page answered (the page must not tell whether the account exists).
      const mail = await outbox.mailTo(customer.email, /\/password-reset\/new\?token=/);
      const link = /https?:\/\/\S+\/password-reset\/new\?token=[A-Za-z0-9_-]+/.exec(mail.text)?.[0] as string;
      const form = expectView(await b.go(link), 'password_reset/new');
      const password = `${customer.password}-renewed`;
      const done = expectView(await b.submit(findForm(form, 'new-password-form'), { password, confirm: password }), 'password_reset/done');
      expectView(await b.go(link), 'password_reset/refused');
      expectView(await b.go(linkById(done, 'continue')), 'login');
    });

    await findings.part('the second factor: the challenge, the lockout, a recovery code and a new phone', async () => {
      const customer = await person('lena');
      const secret = await enrolTotp(totp, customer);
      const codes = await (server.factors.backup[0] as RecoveryFactor).generate(customer.id);
      const b = browser();
      const login = expectView(await b.go((await shop.startLogin({ acr_values: ACR.mfaApp })).url.href), 'login');
      let page = expectView(await b.submit(findForm(login, '/login'), { email: customer.email, password: customer.password }), 'mfa_challenge');
      for (let tries = 0; tries < 6 && page.status !== 429; tries += 1) page = await b.submit(findForm(page, '/mfa'), { code: await wrongCode(secret) });
      expectView(page, 'mfa_locked');
      const recovery = expectView(await b.go(linkOn(page, (attrs) => attrs['data-offer'] === 'recovery_code', 'recovery-code offer')), 'mfa_challenge');
      const recovered = expectView(await b.submit(findForm(recovery, '/mfa'), { code: codes[0] as string }), 'mfa_recovered');
      const replace = expectView(await b.submit(findForm(recovered, 'replace-form')), 'mfa_replace');
      const newPhone = manualKeyOf(replace);
      const newCodes = expectView(await b.submit(findForm(replace, '/replace/confirm'), { code: await nextCode(clock, newPhone) }), 'mfa_recovery_codes');
      expect((await b.submit(findForm(newCodes, '/mfa/continue'))).status, 'back at the shop').to.equal(0);
    });

    await findings.part('setting up two-factor authentication inside a sign-in (invoice, signed in before)', async () => {
      const customer = await person('nora', { privileges: ['invoice'] });
      const b = browser();
      const login = expectView(await b.go((await shop.startLogin({ scope: 'openid email' })).url.href), 'login');
      expect((await b.submit(findForm(login, '/login'), { email: customer.email, password: customer.password })).status, 'signed in').to.equal(0);
      const choice = expectView(await b.go((await shop.startLogin({ scope: 'openid email invoice' })).url.href), 'mfa_enrol_choice');
      const password = expectView(await b.submit(findForm(choice, '/enrol/method'), { method: totp.id }), 'mfa_enrol_password');
      const qr = expectView(await b.submit(findForm(password, '/enrol/password'), { password: customer.password }), 'mfa_enrol');
      const codes = expectView(await b.submit(findForm(qr, '/enrol'), { code: await nextCode(clock, manualKeyOf(qr)) }), 'mfa_recovery_codes');
      expect((await b.submit(findForm(codes, '/mfa/continue'))).status, 'back at the shop').to.equal(0);
    });

    await findings.part('the security settings and the company admin pages', async () => {
      const company = await createCompany(server.conn, { name: `Acme ${language.toUpperCase()}`, mfaPolicy: 'opt_in' });
      const admin = { email: `ada-${language}@example.com`, password: `ada-${language}-password-7` };
      await createAccount(server.conn, { ...admin, name: `Ada ${language.toUpperCase()}`, companyId: company.id, companyRole: 'admin' });
      const member = await person('mia', { companyId: company.id });
      await enrolTotp(totp, member);
      const b = browser();
      const signIn = expectView(await b.go(`${issuer}/account`), 'login');
      let overview = expectView(await b.submit(findForm(signIn, '/login'), admin), 'console/overview');
      // Adding the app asks to confirm who it is first (the password), then shows the step it kept.
      const reauth = expectView(await b.submit(findForm(overview, `/account/methods/${totp.id}/add`)), 'login');
      const add = expectView(await b.submit(findForm(reauth, '/login'), admin), 'console/add');
      const qr = expectView(await b.submit(findForm(add, `/account/methods/${totp.id}/add`)), 'console/enrol');
      const app = manualKeyOf(qr);
      expectView(await b.submit(findForm(qr, 'confirm-form'), { code: await nextCode(clock, app) }), 'console/recovery_codes');
      overview = expectView(await b.go(`${issuer}/account`), 'console/overview');
      // The language and time zone: saved in the walk's own language, back to the overview.
      const languagePage = expectView(await b.go(linkById(overview, 'language-link')), 'console/language');
      overview = expectView(await b.submit(findForm(languagePage, '/account/language'), { language, time_zone: 'Europe/Berlin' }), 'console/overview');
      expectView(await b.go(linkByHref(overview, /^\/account\/recovery-codes$/)), 'console/regenerate');
      expectView(await b.go(linkByHref(overview, new RegExp(`^/account/methods/${totp.id}/remove$`))), 'console/remove');
      // The password form: first "confirm it's you" (password and app code), then the form itself.
      const confirm = expectView(await b.go(linkById(overview, 'password-link')), 'console/password');
      const again = expectView(await b.submit(findForm(confirm, 'password-form')), 'login');
      const challenge = await b.submit(findForm(again, '/login'), admin);
      expect(isChallenge(challenge), 'the app code is asked').to.equal(true);
      expectView(await b.submit(findForm(expectView(challenge, 'mfa_challenge'), '/mfa'), { code: await nextCode(clock, app) }), 'console/password');
      // The company: the report, a member's reset, and making 2FA mandatory (confirmed on its own page).
      const companyPage = expectView(await b.go(linkById(overview, 'company-link')), 'console/company');
      const reset = expectView(await b.go(linkByHref(companyPage, /^\/account\/company\/members\/[^/]+\/reset$/)), 'console/company_reset');
      const backToCompany = expectView(await b.go(linkByHref(reset, /^\/account\/company$/)), 'console/company');
      expectView(await b.submit(findForm(backToCompany, 'policy-form'), { policy: 'forced' }), 'console/company_policy_confirm');
      expectView(await b.go(`${issuer}/account/methods/no_such_method/add`), 'console/error');
      // Signing out of the security settings goes through the provider's sign-out.
      overview = expectView(await b.go(`${issuer}/account`), 'console/overview');
      const signOut = expectView(await b.submit(findForm(overview, 'logout-form')), 'logout');
      expectView(await b.submit(findForm(signOut, 'op.logoutForm'), { logout: 'yes' }), 'login');
    });

    await findings.part('a sign-in to the security settings, cancelled', async () => {
      const b = browser();
      const signIn = expectView(await b.go(`${issuer}/account`), 'login');
      expectView(await b.submit(findForm(signIn, '/abort')), 'console/signed_out');
    });

    return findings.report(templates);
  }

  it('in English (no language hint): English pages, no German words, no message ids', async function () {
    const problems = await walkAll('en');
    expect(problems, `\n${problems.join('\n')}\n`).to.deep.equal([]);
  });

  it('in German (Accept-Language: de on every request): German pages, no English words, no message ids', async function () {
    const problems = await walkAll('de');
    expect(problems, `\n${problems.join('\n')}\n`).to.deep.equal([]);
  });
});
