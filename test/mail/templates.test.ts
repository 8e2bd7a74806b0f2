import { expect } from 'chai';
import {
  NOTIFICATIONS, NOTIFICATION_KINDS, maskEmail, renderEmailCode, renderNotification, summarizeUserAgent, type NotificationData,
  type NotificationKind, type RenderedMail,
} from '../../src/mail/templates.ts';
import { english, languages } from '../helpers/words.ts';
import { occurrences } from './support.ts';

const ISSUER = 'Keys Express';
const AT = new Date('2026-11-25T19:20:00Z');
const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';

/** Minimal valid data per kind, for the checks that hold for every notification. */
const SAMPLE: { [K in NotificationKind]: NotificationData<K> } = {
  factor_added: { issuerName: ISSUER, at: AT, method: 'factors.totp.label' },
  factor_removed: { issuerName: ISSUER, at: AT, method: 'factors.email.label' },
  factors_reset: { issuerName: ISSUER, at: AT, by: 'support' },
  recovery_code_used: { issuerName: ISSUER, at: AT, remaining: 7 },
  recovery_codes_regenerated: { issuerName: ISSUER, at: AT },
  account_locked: { issuerName: ISSUER, at: AT, until: new Date('2026-11-25T19:35:00Z'), failures: 5 },
  password_changed: { issuerName: ISSUER, at: AT },
  password_reset: { issuerName: ISSUER, at: AT, otherBrowser: false },
  company_policy_forced: { issuerName: ISSUER, at: AT, company: 'Acme GmbH', enrolled: false },
};

function render(kind: NotificationKind, extra: Record<string, unknown> = {}): RenderedMail {
  return renderNotification(kind, { ...SAMPLE[kind], ...extra } as NotificationData<typeof kind>, english);
}

describe('mail templates: the email code', () => {
  it('names the issuer, the code once per part, its validity and what to do if it was not you', () => {
    const mail = renderEmailCode({ issuerName: ISSUER, code: '582031', validMinutes: 10, name: 'Max' }, english);
    expect(mail.subject).to.equal('Your Keys Express authentication code');
    for (const part of [mail.text, mail.html]) {
      expect(occurrences(part, '582031')).to.equal(1);
      expect(part).to.include(ISSUER);
      expect(part).to.include('valid for 10 minutes');
      expect(part).to.include('If this wasn');
      expect(part).to.include('Hello Max,');
    }
  });

  it('has a wording for sign-in challenges', () => {
    const mail = renderEmailCode({ issuerName: ISSUER, code: '582031', validMinutes: 10, purpose: 'sign_in' }, english);
    expect(mail.subject).to.equal('Your Keys Express sign-in code');
    expect(mail.text).to.include('Enter this code to finish signing in to Keys Express:');
  });

  it('has a wording for confirming the address and says "1 minute" in the singular', () => {
    const mail = renderEmailCode({ issuerName: ISSUER, code: '582031', validMinutes: 1, purpose: 'verify' }, english);
    expect(mail.subject).to.equal('Confirm your email address for Keys Express');
    expect(mail.text).to.include('valid for 1 minute and').and.include('Hello,');
  });

  it('refuses what is not a code rather than mailing it', () => {
    expect(() => renderEmailCode({ issuerName: ISSUER, code: '<b>1</b>', validMinutes: 10 }, english)).to.throw(TypeError);
    expect(() => renderEmailCode({ issuerName: ISSUER, code: '123456', validMinutes: 0 }, english)).to.throw(TypeError);
  });

  it('escapes every value in the HTML part and writes it as is in the plain-text part', () => {
    const mail = renderEmailCode({ issuerName: 'Keys & Co', code: '582031', validMinutes: 10, name: '<script>alert(1)</script>' }, english);
    expect(mail.html).to.not.include('<script>');
    expect(mail.html).to.include('&lt;script&gt;').and.include('Keys &amp; Co');
    expect(mail.text).to.include('Hello <script>alert(1)</script>,').and.include('Keys & Co').and.not.include('&amp;');
  });
});

describe('mail templates: security notifications', () => {
  it('has one table row, and a subject and advice message in the catalogue, for every kind', () => {
    expect(Object.keys(NOTIFICATIONS).sort()).to.deep.equal([...NOTIFICATION_KINDS].sort());
    for (const kind of NOTIFICATION_KINDS) {
      expect(languages.messageIds).to.include(NOTIFICATIONS[kind].subject);
      expect(languages.messageIds).to.include(NOTIFICATIONS[kind].advice);
    }
  });

  it('shows a factor\'s own words (a factor shipped without catalogue entries) as they are', () => {
    expect(render('factor_added', { method: 'Security key' }).text).to.include('Security key was added').and.include('Method: Security key');
  });

  for (const kind of NOTIFICATION_KINDS) {
    it(`${kind}: distinct subject with the issuer, the time, IP and device, and what to do if it was not them`, () => {
      const mail = render(kind, { ip: '203.0.113.9', userAgent: FIREFOX_WINDOWS, name: 'Max Muster' });
      expect(mail.subject).to.include(ISSUER);
      for (const part of [mail.text, mail.html]) {
        expect(part).to.include('Hello Max Muster,');
        expect(part).to.include('25 November 2026 at 19:20 UTC');
        expect(part).to.include('203.0.113.9');
        expect(part).to.include('Firefox on Windows');
        expect(part).to.match(/If this wasn(?:'|&#39;)t you|If these attempts weren(?:'|&#39;)t yours|If you did not ask|If you have questions about this policy/);
      }
      expect(mail.html).to.include('<time datetime="2026-11-25T19:20:00.000Z">');
      expect(mail.html).to.not.match(/<img|https?:/i);
      expect(mail.text).to.not.match(/https?:/i);
    });
  }

  it('gives every kind its own subject', () => {
    const subjects = NOTIFICATION_KINDS.map((kind) => render(kind).subject);
    expect(new Set(subjects).size).to.equal(NOTIFICATION_KINDS.length);
  });

  it('leaves out the IP and device lines when they are unknown, and drops an IP that is not an address', () => {
    const mail = render('factor_added', { ip: '<script>', userAgent: undefined });
    expect(mail.text).to.not.include('IP address').and.not.include('Device');
    expect(mail.html).to.not.include('script');
    expect(render('factor_added', { ip: '::ffff:198.51.100.4' }).text).to.include('IP address: 198.51.100.4\n');
    expect(render('factor_added', { ip: '2001:db8::1' }).text).to.include('IP address: 2001:db8::1\n');
  });

  it('factor_added / factor_removed name the method', () => {
    expect(render('factor_added').text).to.include('Authenticator app was added').and.include('Method: Authenticator app');
    expect(render('factor_removed').text).to.include('Email code was removed').and.include('Method: Email code');
  });

  it('factors_reset says who reset them', () => {
    expect(render('factors_reset').text).to.include('removed by Keys Express support').and.include('Reset by: Keys Express support');
    expect(render('factors_reset', { by: 'admin' }).text).to.include('removed by your company administrator');
  });

  it('recovery_code_used gives the remaining count, and urges new codes when few or none are left', () => {
    const seven = render('recovery_code_used').text;
    expect(seven).to.include('You have 7 recovery codes left.').and.include('Recovery codes left: 7');
    expect(render('recovery_code_used', { remaining: 1 }).text).to.include('You have 1 recovery code left');
    expect(render('recovery_code_used', { remaining: 0 }).text).to.include('You have no recovery codes left').and.include('Recovery codes left: 0');
    expect(() => render('recovery_code_used', { remaining: -1 })).to.throw(TypeError);
  });

  it('recovery_codes_regenerated says the earlier codes no longer work', () => {
    expect(render('recovery_codes_regenerated').text).to.include('Your earlier recovery codes no longer work.');
  });

  it('account_locked gives the failed attempts and until when, or how a permanent lock ends', () => {
    const temporary = render('account_locked');
    expect(temporary.text).to.include('Failed attempts: 5').and.include('Locked until: 25 November 2026 at 19:35 UTC');
    expect(temporary.html).to.include('<time datetime="2026-11-25T19:35:00.000Z">');
    const permanent = render('account_locked', { until: undefined, failures: 100 });
    expect(permanent.text).to.include('Failed attempts: 100').and.include('Locked until: support unlocks it, or you sign in with a recovery code');
  });

  it('company_policy_forced names the company and asks to set up a method, or for a code at every sign-in when one exists', () => {
    const setUp = render('company_policy_forced');
    expect(setUp.subject).to.equal('Your company now requires two-factor authentication for Keys Express');
    expect(setUp.text).to.include('Acme GmbH now requires two-factor authentication: at your next sign-in you will be asked to set up an authenticator app or email codes.')
      .and.include('Company: Acme GmbH').and.include('Changed by: your company administrator');
    const enrolled = render('company_policy_forced', { enrolled: true, company: '  Keys <b>&</b>\n Co ' });
    expect(enrolled.text).to.include('Keys <b>&</b> Co now requires two-factor authentication: you will be asked for a code at every sign-in.')
      .and.not.include('set up an authenticator app');
    expect(enrolled.html).to.include('Keys &lt;b&gt;&amp;&lt;/b&gt; Co').and.not.include('<b>');
    expect(() => render('company_policy_forced', { company: ' ' })).to.throw(TypeError);
  });

  it('links the security settings only when an account URL is given, and only that URL', () => {
    const mail = render('factor_removed', { accountUrl: 'https://id.keys.example/account/security' });
    expect(mail.html).to.include('<a href="https://id.keys.example/account/security"');
    expect(mail.text).to.include('Review your security settings: https://id.keys.example/account/security');
    expect(mail.html.match(/https?:\/\/[^"<\s]+/g)).to.deep.equal(['https://id.keys.example/account/security']);
    expect(() => render('factor_removed', { accountUrl: 'javascript:alert(1)' })).to.throw(TypeError);
  });
});

describe('mail templates: helpers', () => {
  it('maskEmail keeps the first character and the domain', () => {
    expect(maskEmail('max@example.com')).to.equal('m•••@example.com');
    expect(maskEmail('m@example.com')).to.equal('m•••@example.com');
    expect(maskEmail('😀x@example.com')).to.equal('😀•••@example.com');
    expect(maskEmail('no-at-sign')).to.equal('•••');
    expect(maskEmail('@example.com')).to.equal('•••');
  });

  it('spells out times in UTC when the reader chose no time zone, and refuses an invalid one', () => {
    expect(english.formatTime(AT)).to.equal('25 November 2026 at 19:20 UTC');
    expect(() => render('factor_added', { at: new Date('nope') })).to.throw(TypeError);
  });

  it('summarizeUserAgent names browser and system', () => {
    expect(summarizeUserAgent(FIREFOX_WINDOWS, english)).to.equal('Firefox on Windows');
    expect(summarizeUserAgent(SAFARI_IPHONE, english)).to.equal('Safari on iOS');
    expect(summarizeUserAgent('curl/8.5.0', english)).to.equal('Unrecognised browser or app');
  });
});
