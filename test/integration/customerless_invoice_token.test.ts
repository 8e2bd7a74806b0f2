/**
 * Threat: a shop obtains an `invoice` token with no customer behind it, through the `client_credentials` grant
 * (the step-up scope stands for a customer who proved a second factor, docs/ARCHITECTURE.md "The step-up decision").
 */
import { expect } from 'chai';
import { createClient } from '../../src/provider/clients.ts';
import { useTestServer } from '../helpers/server.ts';

describe('customerless invoice token (client credentials)', function () {
  const server = useTestServer('customerless_invoice');
  let caller: { clientId: string; clientSecret: string };

  before(async function () {
    const saved = await createClient(server.conn, {
      clientId: 'api-caller',
      redirectUris: ['http://localhost:7777/api-caller/callback'],
      clientCredentials: true,
    });
    caller = { clientId: saved.clientId, clientSecret: saved.clientSecret as string };
  });

  async function clientCredentials(
    client: { clientId: string; clientSecret: string },
    params: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('a shop that did not opt in cannot use client credentials at all', async function () {
    const result = await clientCredentials(server.clients.firstParty, { scope: 'invoice' });
    expect(result.status, JSON.stringify(result.body)).to.equal(400);
    // oidc-provider's answer to a grant type the client is not registered for.
    expect(result.body.error).to.equal('invalid_request');
    expect(result.body.error_description).to.equal('requested grant type is not allowed for this client');
    expect(result.body).to.not.have.property('access_token');
  });

  it('an opted-in shop never gets an invoice token through client credentials', async function () {
    const result = await clientCredentials(caller, { scope: 'invoice' });
    expect(result.status, JSON.stringify(result.body)).to.equal(400);
    expect(result.body.error).to.equal('invalid_scope');
    expect(result.body).to.not.have.property('access_token');
  });

  it('an opted-in shop never gets an invoice token for an API through client credentials', async function () {
    const result = await clientCredentials(caller, { scope: 'invoice orders:read', resource: server.api.resource });
    expect(result.status, JSON.stringify(result.body)).to.equal(400);
    expect(result.body.error).to.equal('invalid_scope');
    expect(result.body).to.not.have.property('access_token');
  });

  it('an opted-in shop still gets a token for the scopes that need no customer', async function () {
    const result = await clientCredentials(caller, { scope: 'orders:read', resource: server.api.resource });
    expect(result.status, JSON.stringify(result.body)).to.equal(200);
    expect(result.body.scope).to.equal('orders:read');
  });
});
