import { expect } from 'chai';
import { startTestServer } from '../helpers/server.ts';

describe('running behind a TLS-terminating proxy (TRUST_PROXY)', function () {
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'id.shop.example' };

  it('with TRUST_PROXY=true the endpoints shops discover are the public https ones', async function () {
    const server = await startTestServer('proxy_on', { env: { TRUST_PROXY: 'true', ISSUER: 'https://id.shop.example' } });
    try {
      const metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`, { headers: forwarded })).json()) as Record<string, string>;
      expect(metadata.issuer).to.equal('https://id.shop.example');
      expect(metadata.token_endpoint).to.equal('https://id.shop.example/token');
      expect(metadata.authorization_endpoint).to.equal('https://id.shop.example/auth');
    } finally {
      await server.stop();
    }
  });

  it('without it, forwarded headers from anyone are ignored (no spoofed endpoint URLs)', async function () {
    const server = await startTestServer('proxy_off');
    try {
      const metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`, { headers: forwarded })).json()) as Record<string, string>;
      expect(metadata.token_endpoint).to.equal(`${server.issuer}/token`);
    } finally {
      await server.stop();
    }
  });
});
