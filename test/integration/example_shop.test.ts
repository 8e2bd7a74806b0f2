/**
 * The example shop (`examples/shop/`) as customers meet it, driven like a browser without JavaScript across the shop
 * and the provider: checkout by card and by invoice, the RFC 9470 round trip (the invoice API's challenge, the
 * step-up, the retry), and every other way the detour to the provider can end.
 */
import { expect } from 'chai';
import { ACR } from '../../src/policy/acr.ts';
import { setPrivilege } from '../../src/accounts/accounts.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { followToCallback, locationOf, placeOrder, shopperWithCart, useExampleShop } from '../helpers/example_shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { findForm } from '../helpers/shop.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';

describe('the example shop: checkout by card and by invoice through the step-up API', function () {
  const server = useTestServer('example_shop', { mailer: 'config' });
  const shop = useExampleShop(server);
  const clock = useFrozenClock();

  it('a plain customer never sees the invoice option; posting it anyway is refused; paying by card places the order', async function () {
    const browser = await shopperWithCart(shop, server.accounts.alice);
    const checkout = await browser.go(`${shop.url}/checkout`);
    expect(checkout.html).to.include('Alice Example');
    expect(checkout.html).to.include('Pay by card');
    expect(checkout.html).to.not.include('Pay by invoice');
    expect(checkout.html).to.not.include('value="invoice"');

    const forced = await placeOrder(browser, shop, 'invoice');
    expect(forced.status).to.equal(403);
    expect(forced.html).to.include('Paying by invoice is not available for your account.');
    expect(shop.invoiceApi.invoices().filter((invoice) => invoice.customer === server.accounts.alice.id)).to.deep.equal([]);

    const order = await browser.go(locationOf(await placeOrder(browser, shop, 'card')).href);
    expect(order.html).to.include('Thank you — order placed');
    expect(order.html).to.include('Paid by card.');
    expect((await browser.go(`${shop.url}/cart`)).html).to.include('Your cart is empty.');
  });

  it('an invoice customer with an app: invoice sends them to the provider (invoice scope, the API, acr mfa), asks only the code, books through the API', async function () {
    const customer = server.mfaAccounts.ivan;
    const browser = await shopperWithCart(shop, customer);
    expect((await browser.go(`${shop.url}/checkout`)).html).to.include('Pay by invoice');

    const toProvider = locationOf(await placeOrder(browser, shop, 'invoice'));
    expect(toProvider.origin).to.equal(server.issuer);
    expect(toProvider.searchParams.get('scope')).to.equal('openid invoice');
    expect(toProvider.searchParams.get('acr_values')).to.equal(ACR.mfa);
    expect(toProvider.searchParams.get('resource')).to.equal(shop.apiAudience);
    expect(toProvider.searchParams.has('max_age')).to.equal(false);
    expect((await browser.go(`${shop.url}/cart`)).html, 'the cart is kept across the detour').to.include('Antivirus Pro');

    const codePage = await browser.go(toProvider.href);
    expect(isChallenge(codePage)).to.equal(true);
    expect(codePage.html, 'signed in already: no password asked').to.not.include('type="password"');
    const order = await submitCode(browser, codePage, await nextCode(clock, server.totpSecrets.ivan));
    expect(order.url).to.match(new RegExp(`^${shop.url}/orders/`));
    expect(order.html).to.include('Paid by invoice');
    const [invoice] = shop.invoiceApi.invoices().filter((item) => item.customer === customer.id);
    expect(order.html).to.include(invoice?.invoiceNumber);
    expect(invoice).to.deep.include({ acr: ACR.mfa, clientId: shop.clientId, totalCents: 3990 });
    expect((await browser.go(`${shop.url}/cart`)).html).to.include('Your cart is empty.');
  });

  it('RFC 9470 round trip: an expired invoice token means a new step-up; a token whose auth_time is too old gets the API\'s challenge, sent to the provider as acr_values and max_age, and the retry succeeds', async function () {
    const customer = server.mfaAccounts.ivan;
    const booked = (): number => shop.invoiceApi.invoices().filter((item) => item.customer === customer.id).length;
    const before = booked();
    const browser = await shopperWithCart(shop, customer);
    const first = await browser.go(locationOf(await placeOrder(browser, shop, 'invoice')).href);
    const placed = await submitCode(browser, first, await nextCode(clock, server.totpSecrets.ivan));
    expect(placed.html).to.include('Paid by invoice');
    const steppedUpAt = Math.floor(Date.now() / 1000);

    // 12 minutes on: the invoice token (10 minutes) expired; the second factor (15 minutes) still counts at the provider.
    clock.tick(12 * 60_000);
    await browser.submit(findForm(await browser.go(`${shop.url}/`), '/cart/add'), { sku: 'vpn-2y' });
    const again = locationOf(await placeOrder(browser, shop, 'invoice'));
    expect(again.origin).to.equal(server.issuer);
    expect(again.searchParams.has('max_age')).to.equal(false);
    const silent = await browser.go(again.href);
    expect(silent.html, 'no code asked within 15 minutes').to.include('Paid by invoice');
    expect(booked()).to.equal(before + 2);
    expect(shop.invoiceApi.invoices().at(-1)?.authTime?.getTime()).to.equal(steppedUpAt * 1000);

    // 4 minutes more: that token is valid for 6 more minutes, but its auth_time is 16 minutes old.
    clock.tick(4 * 60_000);
    await browser.submit(findForm(await browser.go(`${shop.url}/`), '/cart/add'), { sku: 'os-pro' });
    const challenged = locationOf(await placeOrder(browser, shop, 'invoice'));
    expect(shop.logs.at(-1)).to.include(JSON.stringify(
      'Bearer error="insufficient_user_authentication", error_description="A more recent authentication is required", acr_values="urn:oidc-stepup:acr:mfa", max_age="900"',
    ));
    expect(challenged.origin).to.equal(server.issuer);
    expect(challenged.searchParams.get('acr_values')).to.equal(ACR.mfa);
    expect(challenged.searchParams.get('max_age')).to.equal('900');
    // max_age (OIDC Core §3.1.2.1): the customer authenticates anew, password and code.
    const login = await browser.go(challenged.href);
    const codePage = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
    const retried = await submitCode(browser, codePage, await nextCode(clock, server.totpSecrets.ivan));
    expect(retried.html).to.include('Paid by invoice');
    expect(booked()).to.equal(before + 3);
    expect(shop.invoiceApi.invoices().at(-1)?.authTime?.getTime()).to.equal(Math.floor(Date.now() / 1000) * 1000);
  });

  it('cancel on the provider\'s page: the order waits ("you cancelled"), the cart is kept, paying by card instead places it', async function () {
    const browser = await shopperWithCart(shop, server.mfaAccounts.ivan);
    const codePage = await browser.go(locationOf(await placeOrder(browser, shop, 'invoice')).href);
    expect(isChallenge(codePage)).to.equal(true);
    const waiting = await browser.submit(findForm(codePage, '/abort'));
    expect(waiting.url).to.match(new RegExp(`^${shop.url}/orders/`));
    expect(waiting.html).to.include('Your order is waiting');
    expect(waiting.html).to.include('You cancelled confirming with your second factor');
    expect((await browser.go(`${shop.url}/cart`)).html).to.include('Antivirus Pro');

    const paid = await browser.submit(findForm(waiting, '/card'));
    expect(paid.html).to.include('Paid by card.');
    expect((await browser.go(`${shop.url}/cart`)).html).to.include('Your cart is empty.');
  });

  it('an answer used twice, or the provider\'s page left open too long: a clear page, the order still waiting, and trying again works', async function () {
    const customer = server.mfaAccounts.ivan;
    const browser = await shopperWithCart(shop, customer);
    const codePage = await browser.go(locationOf(await placeOrder(browser, shop, 'invoice')).href);
    clock.tick(31 * 60_000); // the provider's sign-in interaction lives 30 minutes
    const late = await browser.submit(findForm(codePage, '/mfa'), { code: await nextCode(clock, server.totpSecrets.ivan) });
    expect(late.url.startsWith(server.issuer), 'the provider answers itself').to.equal(true);
    expect(late.status).to.be.within(400, 499);
    expect(late.html).to.not.match(/at \w+ \(/);
    expect(late.html).to.include('Go back to the shop and start the sign-in again.');

    const waiting = await browser.go(`${shop.url}/orders`);
    const orderPath = /href="(\/orders\/[\w-]+)"/.exec(waiting.html)?.[1] as string;
    const order = await browser.go(`${shop.url}${orderPath}`);
    expect(order.html).to.include('Your order is waiting');
    const retry = await browser.submit(findForm(order, '/invoice'));
    const mfa = findForm(retry, '/mfa');
    const { callbackUrl, page: done } = await followToCallback(browser, await browser.request(mfa.action, {
      method: 'POST',
      body: new URLSearchParams({ ...mfa.fields, code: await nextCode(clock, server.totpSecrets.ivan) }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }), shop);
    expect(done.html).to.include('Paid by invoice');
    const replay = await browser.go(callbackUrl);
    expect(replay.status).to.equal(400);
    expect(replay.html).to.include('This answer from the sign-in has expired');
    expect(replay.html).to.include('Nothing was paid; your cart is kept.');
  });

  it('unmet_authentication_requirements (the privilege withdrawn after sign-in, no factor): a "pay by card instead" page', async function () {
    const customer = server.accounts.bob;
    await setPrivilege(server.conn, customer.id, 'invoice', true);
    const browser = await shopperWithCart(shop, customer);
    expect((await browser.go(`${shop.url}/checkout`)).html).to.include('Pay by invoice');
    await setPrivilege(server.conn, customer.id, 'invoice', false);
    const page = await browser.go(locationOf(await placeOrder(browser, shop, 'invoice')).href);
    expect(page.url.startsWith(`${shop.url}/callback`)).to.equal(true);
    expect(page.html).to.include('Paying by invoice is not available');
    expect(page.html).to.include('it has no second factor');
    const paid = await browser.submit(findForm(page, '/card'));
    expect(paid.html).to.include('Paid by card.');
    expect((await browser.go(`${shop.url}/checkout`)).status, 'the cart is empty: back to the cart').to.equal(200);
  });

  it('the invoice scope not granted (a customer with an app whose privilege was withdrawn): the code, then "pay by card instead"', async function () {
    const customer = server.mfaAccounts.carol;
    await setPrivilege(server.conn, customer.id, 'invoice', true);
    const browser = await shopperWithCart(shop, customer);
    await setPrivilege(server.conn, customer.id, 'invoice', false);
    const codePage = await browser.go(locationOf(await placeOrder(browser, shop, 'invoice')).href);
    const page = await submitCode(browser, codePage, await nextCode(clock, server.totpSecrets.carol));
    expect(page.html).to.include('Paying by invoice is not available');
    expect(page.html).to.include('the privilege is missing or was withdrawn');
    expect(shop.invoiceApi.invoices().filter((invoice) => invoice.customer === customer.id)).to.deep.equal([]);
    expect((await browser.go(`${shop.url}/checkout`)).html, 'the checkout no longer offers it').to.not.include('Pay by invoice');
  });

  it('the checkout reads the profile again through the refresh token: a privilege granted meanwhile shows; signing out ends both sessions', async function () {
    const customer = server.accounts.alice;
    const browser = await shopperWithCart(shop, customer);
    expect((await browser.go(`${shop.url}/checkout`)).html).to.not.include('Pay by invoice');
    await setPrivilege(server.conn, customer.id, 'invoice', true);
    try {
      clock.tick(11 * 60_000); // past the profile's 5 minutes and the access token's 10: refreshed, then userinfo
      expect((await browser.go(`${shop.url}/checkout`)).html).to.include('Pay by invoice');
    } finally {
      await setPrivilege(server.conn, customer.id, 'invoice', false);
    }
    const home = await browser.go(`${shop.url}/`);
    const confirm = await browser.submit(findForm(home, '/sign-out'));
    expect(confirm.url.startsWith(server.issuer)).to.equal(true);
    const back = await browser.submit(findForm(confirm, 'op.logoutForm'), { logout: 'yes' });
    expect(back.url).to.equal(`${shop.url}/`);
    expect(back.html).to.include('Sign in');
    expect(back.html).to.not.include('Alice Example');
  });
});
