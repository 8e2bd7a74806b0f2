import { expect } from 'chai';
import { createCodeMailer } from '../../src/mail/code_mailer.ts';
import {
  EMAIL_CODE_PURPOSES, NOTIFICATION_KINDS, mailWords, renderEmailCode, renderNotification, renderPasswordResetLink,
  type NotificationData, type NotificationKind, type RenderedMail,
} from '../../src/mail/templates.ts';
import { createMailer } from '../../src/mail/transport.ts';
import { loadLanguages, type Translator } from '../../src/i18n/languages.ts';
import { languages } from '../helpers/words.ts';

/**
 * Every mail in every language: the email code in each wording, every security notification, the reset link. A
 * German mail holds no English words (subject, text part, the HTML part's visible text), and every value is placed:
 * the name, the issuer, the code, the company, the address and device, counts, and times in the reader's time zone.
 */
const ISSUER = 'Keys Express';
const NAME = 'Max Mustermann';
const COMPANY = 'Muster GmbH';
const CODE = '582031';
const IP = '203.0.113.9';
const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0';
const AT = new Date('2026-11-25T19:20:00Z');
const UNTIL = new Date('2026-11-25T19:35:00Z');
const RESET_LINK = 'https://id.keys.example/password-reset/new?token=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde';
const CONTEXT = {
  issuerName: ISSUER, name: NAME, at: AT, ip: IP, userAgent: FIREFOX_WINDOWS,
  accountUrl: 'https://id.keys.example/account', resetUrl: 'https://id.keys.example/password-reset',
  look: { support: { url: 'https://help.keys.example/', email: 'help@keys.example' } },
};

/** The facts of each kind, with the values the mail must show. */
const FACTS: { [K in NotificationKind]: NotificationData<K> } = {
  factor_added: { ...CONTEXT, method: 'factors.totp.label' },
  factor_removed: { ...CONTEXT, method: 'factors.email.label' },
  factors_reset: { ...CONTEXT, by: 'admin' },
  recovery_code_used: { ...CONTEXT, remaining: 7 },
  recovery_codes_regenerated: { ...CONTEXT },
  account_locked: { ...CONTEXT, until: UNTIL, failures: 5 },
  password_changed: { ...CONTEXT },
  password_reset: { ...CONTEXT, otherBrowser: true },
  company_policy_forced: { ...CONTEXT, company: COMPANY, enrolled: false },
};

/** Words of the English mails that a German reader must never meet (whole words, as written). */
const ENGLISH_WORDS = [
  'Hello', 'your', 'you', 'the', 'and', 'wasn', 'If', 'code', 'codes', 'sign-in', 'sign', 'password', 'account', 'When',
  'Device', 'Method', 'Failed', 'Locked', 'Reset', 'recovery', 'Recovery', 'settings', 'support', 'administrator', 'minutes',
  'minute', 'browser', 'Need', 'help', 'Company', 'Changed', 'IP address', 'address', 'valid', 'only', 'once', 'This', 'on',
];

/** What a reader sees of a mail: its subject, the text part and the HTML part without tags, entities or addresses. */
function visibleWords(mail: RenderedMail): string {
  const html = mail.html.replace(/<style[\s\S]*?<\/style>/g, ' ').replace(/<[^>]*>/g, ' ')
    .replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  return [mail.subject, mail.text, html].join('\n').replace(/https?:\/\/\S+|mailto:\S+|[\w.+-]+@[\w.-]+/g, ' ');
}

function expectNoEnglish(mail: RenderedMail, what: string): void {
  const seen = visibleWords(mail);
  for (const word of ENGLISH_WORDS) {
    expect(seen, `${what}: the English "${word}"`).to.not.match(new RegExp(`(^|[^\\p{L}-])${word}(?![\\p{L}-])`, 'u'));
  }
}

/** `value` in the subject or both parts (the HTML part escapes it). */
function expectInBody(mail: RenderedMail, value: string, what: string): void {
  expect(mail.text, `${what}: text part`).to.include(value);
  expect(mail.html.replace(/&amp;/g, '&'), `${what}: HTML part`).to.include(value);
}

/** Every mail kind rendered for `words`. */
function everyMail(words: Translator): Array<{ what: string; mail: RenderedMail }> {
  return [
    ...EMAIL_CODE_PURPOSES.map((purpose) => ({
      what: `email code (${purpose})`,
      mail: renderEmailCode({ ...CONTEXT, code: CODE, validMinutes: 10, purpose }, words),
    })),
    ...NOTIFICATION_KINDS.map((kind) => ({
      what: `notification ${kind}`,
      mail: renderNotification(kind, FACTS[kind] as NotificationData<typeof kind>, words),
    })),
    { what: 'reset link', mail: renderPasswordResetLink({ ...CONTEXT, url: RESET_LINK, validMinutes: 30 }, words) },
  ];
}

describe('mails in the reader\'s language', () => {
  const german = languages.translator('de', { timeZone: 'Europe/Berlin' });
  const english = languages.translator('en', { timeZone: 'Europe/Berlin' });

  for (const [language, words] of [['German', german], ['English', english]] as const) {
    it(`${language}: every mail places its values, times in the reader's zone, in both parts`, () => {
      for (const { what, mail } of everyMail(words)) {
        expect(mail.subject, `${what}: subject`).to.include(ISSUER);
        expect(mail.html, what).to.include(`<html lang="${words.language}">`);
        expectInBody(mail, NAME, what);
        expectInBody(mail, ISSUER, what);
        expectInBody(mail, words.formatTime(AT), what);
        expectInBody(mail, IP, what);
      }
      const [confirm] = everyMail(words);
      expectInBody(confirm!.mail, CODE, 'email code');
      const locked = renderNotification('account_locked', FACTS.account_locked, words);
      expectInBody(locked, words.formatTime(UNTIL), 'account_locked');
      expect(locked.text).to.match(/: 5\n/);
      const forced = renderNotification('company_policy_forced', FACTS.company_policy_forced, words);
      expectInBody(forced, COMPANY, 'company_policy_forced');
      expect(renderNotification('recovery_code_used', FACTS.recovery_code_used, words).text).to.match(/: 7\n/);
      expectInBody(renderPasswordResetLink({ ...CONTEXT, url: RESET_LINK, validMinutes: 30 }, words), RESET_LINK, 'reset link');
    });
  }

  it('German: times in Europe/Berlin are written the German way, as MEZ', () => {
    expect(german.formatTime(AT)).to.equal('25. November 2026 um 20:20 MEZ');
    const mail = renderNotification('account_locked', FACTS.account_locked, german);
    expect(mail.text).to.include('Zeitpunkt: 25. November 2026 um 20:20 MEZ').and.include('Gesperrt bis: 25. November 2026 um 20:35 MEZ');
    expect(mail.html).to.include('<time datetime="2026-11-25T19:20:00.000Z">25. November 2026 um 20:20 MEZ</time>');
  });

  it('German: no English word in any subject, text part or HTML part', () => {
    for (const { what, mail } of everyMail(german)) expectNoEnglish(mail, what);
    // and the other branches of the words: the support's reset, a permanent lock, no codes left, one code left,
    // the same browser, a member already enrolled, a device only known by its system
    const more: Array<[NotificationKind, Record<string, unknown>]> = [
      ['factors_reset', { by: 'support' }],
      ['account_locked', { until: undefined, failures: 100 }],
      ['recovery_code_used', { remaining: 0 }],
      ['recovery_code_used', { remaining: 1 }],
      ['password_reset', { otherBrowser: false }],
      ['company_policy_forced', { enrolled: true }],
      ['factor_added', { userAgent: 'curl/8.5.0' }],
    ];
    for (const [kind, extra] of more) {
      expectNoEnglish(renderNotification(kind, { ...FACTS[kind], ...extra } as NotificationData<typeof kind>, german), `${kind} ${JSON.stringify(extra)}`);
    }
    expectNoEnglish(renderEmailCode({ issuerName: ISSUER, code: CODE, validMinutes: 1 }, german), 'email code, one minute, no name');
  });

  it('German: the words a German reader expects', () => {
    const code = renderEmailCode({ ...CONTEXT, code: CODE, validMinutes: 10, purpose: 'sign_in' }, german);
    expect(code.subject).to.equal('Ihr Anmeldecode für Keys Express');
    expect(code.text).to.include('Hallo Max Mustermann,').and.include('Der Code ist 10 Minuten lang gültig').and.include('Gerät: Firefox unter Windows');
    expect(renderEmailCode({ issuerName: ISSUER, code: CODE, validMinutes: 1 }, german).text).to.include('Hallo,').and.include('1 Minute lang gültig');
    const added = renderNotification('factor_added', FACTS.factor_added, german);
    expect(added.text).to.include('Die Methode „Authenticator-App“ wurde hinzugefügt').and.include('Methode: Authenticator-App');
    const reset = renderNotification('factors_reset', { ...FACTS.factors_reset, by: 'support' }, german);
    expect(reset.text).to.include('vom Support von Keys Express entfernt').and.include('Zurückgesetzt von: Support von Keys Express');
    const left = (remaining: number) => renderNotification('recovery_code_used', { ...FACTS.recovery_code_used, remaining }, german).text;
    expect(left(0)).to.include('Sie haben keine Wiederherstellungscodes mehr');
    expect(left(1)).to.include('Sie haben noch 1 Wiederherstellungscode:');
    expect(left(7)).to.include('Sie haben noch 7 Wiederherstellungscodes.');
    expect(renderPasswordResetLink({ ...CONTEXT, url: RESET_LINK, validMinutes: 30 }, german).subject).to.equal('Passwort für Keys Express zurücksetzen');
  });

  it('English: the words of today, in the reader\'s time zone (CET in Berlin, UTC by default)', () => {
    expect(english.formatTime(AT)).to.equal('25 November 2026 at 20:20 CET');
    const mail = renderNotification('factor_added', FACTS.factor_added, languages.translator('en'));
    expect(mail.subject).to.equal('A sign-in method was added to your Keys Express account');
    expect(mail.text).to.include('Hello Max Mustermann,').and.include('When: 25 November 2026 at 19:20 UTC')
      .and.include('Authenticator app was added as a way to confirm your sign-ins to Keys Express.');
  });

  describe('which language a mail speaks', () => {
    it('the account\'s, else the page\'s that caused it, else the deployment\'s default; times in the account\'s zone', () => {
      expect(mailWords(languages, { language: 'de' }, 'en').language).to.equal('de');
      expect(mailWords(languages, { language: 'de-AT' }).language).to.equal('de');
      expect(mailWords(languages, {}, 'de').language).to.equal('de');
      expect(mailWords(languages, { language: 'fr' }, 'de-CH').language).to.equal('de');
      expect(mailWords(languages, undefined, undefined).language).to.equal('en');
      expect(mailWords(loadLanguages({ defaultLanguage: 'de' }), { language: 'fr' }).language).to.equal('de');
      expect(mailWords(languages, { language: 'de', timeZone: 'Europe/Berlin' }).timeZone).to.equal('Europe/Berlin');
      expect(mailWords(languages, { timeZone: 'Not/AZone' }).timeZone).to.equal('UTC');
    });

    it('the email code goes out in the language it is sent for', async () => {
      const mailer = createMailer({ from: 'no-reply@keys.example', issuerName: ISSUER, production: false });
      const codes = createCodeMailer({ mailer, issuerName: ISSUER, languages, purpose: 'sign_in' });
      expect(await codes.sendCode({ email: 'max@example.com', name: 'Max', language: 'de' }, CODE, 10)).to.deep.equal({ ok: true });
      expect(await codes.sendCode({ email: 'eve@example.com', name: 'Eve' }, CODE, 10)).to.deep.equal({ ok: true });
      const [toEve, toMax] = mailer.outbox() ?? [];
      expect(toMax?.subject).to.equal('Ihr Anmeldecode für Keys Express');
      expect(toMax?.text).to.include('Hallo Max,');
      expect(toEve?.subject).to.equal('Your Keys Express sign-in code');
    });
  });
});
