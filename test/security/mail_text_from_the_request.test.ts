/**
 * A mail anyone can cause (a reset link needs only an address) must not carry words the requester wrote. The mail
 * names the device that asked, from its User-Agent: a made-up "browser name" there ("Security team: call … or sign
 * in at https://evil.example/…") would arrive in a genuine mail from the shop, its link made clickable by mail
 * programs. Only browser and system names the parser knows are shown; anything else is "an unrecognised browser".
 */
import { expect } from 'chai';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm } from '../helpers/shop.ts';
import { english } from '../helpers/words.ts';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../mail/support.ts';

const PHISHING_AGENT = 'Security team: your account is compromised - call +49 30 1234567 or sign in at https://evil.example/verify now/1.0 (x)';
const CHROME_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

describe('mails never carry text the requester wrote into its User-Agent', function () {
  let smtp: TestSmtp;
  before(async function () {
    smtp = await startSmtp();
  });
  after(async function () {
    await smtp?.close();
  });
  const server = useTestServer('mail_text_from_the_request', () => ({ env: { SMTP_URL: smtp.url }, mailer: 'config' }));

  async function resetMailFor(email: string, userAgent: string, count: number): Promise<ReceivedMail> {
    const browser = new Browser();
    const form = await browser.request(`${server.issuer}/password-reset`, { headers: { 'user-agent': userAgent } });
    const body = new URLSearchParams({ ...findForm(form, 'reset-request').fields as Record<string, string>, email });
    const sent = await browser.request(findForm(form, 'reset-request').action, {
      method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': userAgent },
    });
    expect(sent.status).to.equal(200);
    const to = () => smtp.received.filter((mail) => mail.envelopeTo.includes(email));
    while (to().length < count) await smtp.next();
    return to()[count - 1] as ReceivedMail;
  }

  it('a made-up browser name in the User-Agent becomes "an unrecognised browser" in the reset mail', async function () {
    const mail = await resetMailFor(server.accounts.bob.email, PHISHING_AGENT, 1);
    for (const part of [mail.parsed.text ?? '', String(mail.parsed.html)]) {
      expect(part).to.not.include('evil.example').and.not.include('Security team').and.not.include('1234567');
      expect(part).to.include(english.t('mail.device.unknown'));
    }
  });

  it('a real browser is still named', async function () {
    const mail = await resetMailFor(server.accounts.alice.email, CHROME_ON_LINUX, 1);
    expect(mail.parsed.text).to.include(english.t('mail.device.browser_on_os', { browser: 'Chrome', os: 'Linux' }));
  });
});
