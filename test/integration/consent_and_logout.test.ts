import { expect } from 'chai';
import { Browser, findForm, signIn, useShop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { freezeClock } from '../helpers/clock.ts';

describe('consent for third-party shops, sessions and RP-initiated logout', function () {
  const server = useTestServer('consent_logout');
  const partner = useShop(server, 'thirdParty');
  const firstParty = useShop(server);

  const newBrowser = (): Browser => new Browser(['http://localhost:7777/']);

  it('a third-party shop gets a consent page naming it and what it asks for; allowing it ends with tokens', async function () {
    const browser = newBrowser();
    const { pending, callbackUrl, sawConsent } = await signIn(partner, browser, server.accounts.alice, {
      params: { scope: 'openid email profile' },
      consent: false,
    });
    expect(sawConsent).to.equal(true);
    // callbackUrl is the consent page's URL here: read it again to check its text
    const consentPage = await browser.go(callbackUrl);
    expect(consentPage.status).to.equal(200);
    expect(consentPage.html).to.include('Allow Partner Shop?');
    expect(consentPage.html, 'Enter alone does not grant: Allow is not focused').to.not.match(/<button[^>]*autofocus[^>]*>Allow/);
    expect(consentPage.html).to.include('See your email address');
    expect(consentPage.html).to.include('See your name');
    expect(consentPage.html).to.include('alice@example.com');

    const afterConsent = await browser.submit(findForm(consentPage, '/confirm'));
    expect(afterConsent.url.startsWith(server.clients.thirdParty.redirectUri)).to.equal(true);
    const tokens = await partner.finishLogin(pending, afterConsent.url);
    expect(tokens.claims()?.sub).to.equal(server.accounts.alice.id);
    expect(tokens.claims()?.email).to.equal(undefined); // email is for userinfo, not the ID token of a code flow
    expect(tokens.scope?.split(' ')).to.include.members(['openid', 'email', 'profile']);

    // the same browser signs in to the same shop again: no login form, no consent page
    const again = await partner.startLogin({ scope: 'openid email' });
    const page = await browser.go(again.url.href);
    expect(page.status, page.html.slice(0, 300)).to.equal(0);
    expect(page.url.startsWith(server.clients.thirdParty.redirectUri)).to.equal(true);
  });

  it('denying consent sends the shop access_denied', async function () {
    const browser = newBrowser();
    const { pending, callbackUrl } = await signIn(partner, browser, server.accounts.bob, { consent: false });
    const consentPage = await browser.go(callbackUrl);
    const denied = await browser.submit(findForm(consentPage, '/abort'));
    const callback = new URL(denied.url);
    expect(callback.searchParams.get('error')).to.equal('access_denied');
    expect(callback.searchParams.get('state')).to.equal(pending.state);
  });

  it('cancelling on the login page sends the shop access_denied', async function () {
    const browser = newBrowser();
    const pending = await firstParty.startLogin();
    const loginPage = await browser.go(pending.url.href);
    const cancelled = await browser.submit(findForm(loginPage, '/abort'));
    expect(new URL(cancelled.url).searchParams.get('error')).to.equal('access_denied');
  });

  it('without "keep me signed in" the session cookie ends with the browser; with it, it persists', async function () {
    const transient = newBrowser();
    await signIn(firstParty, transient, server.accounts.alice);
    const transientCookie = (await transient.jar.getCookies(server.issuer)).find((c) => c.key === '_session');
    expect(transientCookie, 'session cookie').to.not.equal(undefined);
    expect(transientCookie?.expires).to.equal('Infinity');

    const remembered = newBrowser();
    await signIn(firstParty, remembered, { ...server.accounts.alice, remember: true });
    const rememberedCookie = (await remembered.jar.getCookies(server.issuer)).find((c) => c.key === '_session');
    expect(rememberedCookie?.expires).to.be.instanceOf(Date);
    expect((rememberedCookie?.expires as Date).getTime()).to.be.greaterThan(Date.now() + 24 * 3600 * 1000);
  });

  it('RP-initiated logout shows our sign-out page, ends the session and returns to the shop', async function () {
    const browser = newBrowser();
    const { pending, callbackUrl } = await signIn(firstParty, browser, server.accounts.bob);
    const tokens = await firstParty.finishLogin(pending, callbackUrl);

    const endSession = new URL(`${server.issuer}/session/end`);
    endSession.search = new URLSearchParams({
      id_token_hint: tokens.id_token as string,
      post_logout_redirect_uri: server.clients.firstParty.postLogoutRedirectUri,
      state: 'bye',
    }).toString();
    const confirmPage = await browser.go(endSession.href);
    expect(confirmPage.status).to.equal(200);
    // The shop's request names the signed-in customer: no question, the page confirms itself (one script, allowed by
    // its hash), with a button when scripts do not run.
    expect(confirmPage.html).to.include('Signing you out').and.include('First Shop asked to sign you out').and.not.include('Sign out?');
    expect(confirmPage.html).to.include('<noscript>');
    const csp = confirmPage.headers.get('content-security-policy') ?? '';
    expect(csp).to.include('form-action').and.include('http://localhost:7777');
    expect(csp).to.match(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);

    const done = await browser.submit(findForm(confirmPage, 'op.logoutForm'), { logout: 'yes' });
    expect(done.url.startsWith(server.clients.firstParty.postLogoutRedirectUri)).to.equal(true);
    expect(new URL(done.url).searchParams.get('state')).to.equal('bye');

    // the browser is signed out: a silent login attempt now needs a login
    const silent = await firstParty.startLogin({ prompt: 'none' });
    const answer = await browser.go(silent.url.href);
    expect(new URL(answer.url).searchParams.get('error')).to.equal('login_required');
  });

  it('an expired ID token as id_token_hint (an old or leaked one) gets the question, not a silent sign-out', async function () {
    const browser = newBrowser();
    const { pending, callbackUrl } = await signIn(firstParty, browser, server.accounts.bob);
    const tokens = await firstParty.finishLogin(pending, callbackUrl);
    const clock = freezeClock(Date.now() + 2 * 3_600_000); // ID tokens live an hour
    try {
      const endSession = new URL(`${server.issuer}/session/end`);
      endSession.search = new URLSearchParams({ id_token_hint: tokens.id_token as string }).toString();
      const page = await browser.go(endSession.href);
      expect(page.status).to.equal(200);
      expect(page.html).to.include('Sign out?').and.not.include('Signing you out');
    } finally {
      clock.uninstall();
    }
  });

  it('RP-initiated logout naming another customer than the signed-in one asks first', async function () {
    const other = await signIn(firstParty, newBrowser(), server.accounts.alice);
    const aliceTokens = await firstParty.finishLogin(other.pending, other.callbackUrl);
    const browser = newBrowser();
    await signIn(firstParty, browser, server.accounts.bob);
    const endSession = new URL(`${server.issuer}/session/end`);
    endSession.search = new URLSearchParams({ id_token_hint: aliceTokens.id_token as string }).toString();
    const page = await browser.go(endSession.href);
    expect(page.status).to.equal(200);
    expect(page.html).to.include('Sign out?').and.not.include('Signing you out');
    expect(page.headers.get('content-security-policy')).to.not.include('sha256-');
  });

  it('logout without a return address ends on our "signed out" page', async function () {
    const browser = newBrowser();
    await signIn(firstParty, browser, server.accounts.alice);
    const confirmPage = await browser.go(`${server.issuer}/session/end`);
    const done = await browser.submit(findForm(confirmPage, 'op.logoutForm'), { logout: 'yes' });
    expect(done.status).to.equal(200);
    expect(done.html).to.include('You are signed out');
  });
});
