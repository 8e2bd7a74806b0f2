/**
 * How a shop learns whether to offer paying by invoice: the `invoice_eligible` claim of the `invoice_eligibility`
 * scope, read from userinfo. It only decides what the checkout shows; the `invoice` scope and its step-up decide
 * whether the customer may actually pay so.
 */
import { expect } from 'chai';
import * as oidc from 'openid-client';
import { setPrivilege } from '../../src/accounts/accounts.ts';
import { Browser, signIn, useShop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

describe('the invoice_eligible claim (scope invoice_eligibility)', function () {
  const server = useTestServer('invoice_eligibility_claim');
  const shop = useShop(server);

  async function userinfoOf(customer: { id: string; email: string; password: string }, scope: string): Promise<oidc.UserInfoResponse> {
    const { pending, callbackUrl } = await signIn(shop, new Browser(['http://localhost:7777/']), customer, { params: { scope } });
    const tokens = await shop.finishLogin(pending, callbackUrl);
    return oidc.fetchUserInfo(shop.config, tokens.access_token, customer.id);
  }

  it('discovery lists the scope and the claim', function () {
    const metadata = shop.config.serverMetadata();
    expect(metadata.scopes_supported).to.include('invoice_eligibility');
    expect(metadata.claims_supported).to.include('invoice_eligible');
  });

  it('is true for a customer with the invoice privilege and false for a plain customer, with a password sign-in alone', async function () {
    expect(await userinfoOf(server.mfaAccounts.ivan, 'openid profile invoice_eligibility')).to.include({ name: 'Ivan Invoice', invoice_eligible: true });
    expect(await userinfoOf(server.accounts.alice, 'openid profile invoice_eligibility')).to.include({ name: 'Alice Example', invoice_eligible: false });
  });

  it('is not handed out without the scope, and follows the privilege at the next read', async function () {
    expect(await userinfoOf(server.mfaAccounts.nina, 'openid profile')).to.not.have.property('invoice_eligible');
    await setPrivilege(server.conn, server.accounts.bob.id, 'invoice', true);
    try {
      expect(await userinfoOf(server.accounts.bob, 'openid invoice_eligibility')).to.include({ invoice_eligible: true });
    } finally {
      await setPrivilege(server.conn, server.accounts.bob.id, 'invoice', false);
    }
    expect(await userinfoOf(server.accounts.bob, 'openid invoice_eligibility')).to.include({ invoice_eligible: false });
  });
});
