/**
 * Threat: an app registered with `--require-acr mfa` (its `default_acr_values`) relies on the provider for its second
 * factor; the customer — or anyone holding just the password — edits the authorization URL in the browser to name a
 * weaker `acr_values` (or an `acr` claim) and gets in with the password alone. Rule: a client's required level is a
 * floor; what a request names can only raise it (docs/SECURITY.md). Over HTTP with openid-client as the app.
 */
import { expect } from 'chai';
import { ACR } from '../../src/policy/acr.ts';
import { saveClient } from '../../src/provider/clients.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, Shop, findForm } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';

const APP = 'http://localhost:7777/staff-app/';

describe('a weaker acr edited into the request does not lower an app\'s required level', function () {
  const server = useTestServer('acr_downgrade');
  const clock = useFrozenClock();
  let app: Shop;

  before(async function () {
    const saved = await saveClient(server.conn, {
      clientId: 'staff-app', name: 'Staff App', redirectUris: [`${APP}callback`], postLogoutRedirectUris: [`${APP}out`],
      firstParty: true, defaultAcrValues: [ACR.mfa],
    });
    app = await Shop.discover(server.issuer, { clientId: 'staff-app', clientSecret: saved.clientSecret as string, redirectUri: `${APP}callback`, postLogoutRedirectUri: `${APP}out` });
  });

  // The answer follows the request (OIDC Core §5.5.1.1: an essential request gets one of its values), so an edited
  // essential request gets `pwd` in a token the app refuses anyway; what matters is that the code was asked.
  for (const [what, params, answer] of [
    ['acr_values=…:pwd', { acr_values: ACR.pwd }, ACR.mfa],
    ['an essential acr claim naming pwd', { claims: JSON.stringify({ id_token: { acr: { essential: true, values: [ACR.pwd] } } }) }, ACR.pwd],
  ] as const) {
    it(`${what}: the code page still comes; the token says what was done`, async function () {
      const customer = server.mfaAccounts.carol;
      const browser = new Browser([APP]);
      const pending = await app.startLogin(params);
      const login = await browser.go(pending.url.href);
      const page = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
      expect(isChallenge(page), `the password alone must not be enough (got ${page.status} at ${page.url})`).to.equal(true);
      const done = await submitCode(browser, page, await nextCode(clock, server.totpSecrets.carol));
      expect(done.status).to.equal(0);
      const claims = (await app.finishLogin(pending, done.url)).claims();
      expect(claims?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
      expect(claims?.acr).to.equal(answer);
    });
  }
});
