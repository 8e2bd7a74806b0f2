import { expect } from 'chai';
import { startTestServer, useTestServer, type TestServer } from '../helpers/server.ts';

async function scrape(server: TestServer, headers: Record<string, string> = {}): Promise<{ status: number; text: string; response: Response }> {
  const response = await fetch(`${server.issuer}/metrics`, { headers });
  return { status: response.status, text: await response.text(), response };
}

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics (Prometheus)', function () {
  describe('open (no METRICS_TOKEN)', function () {
    // SMTP on a closed port: every send fails fast
    const server = useTestServer('metrics', { mailer: 'config', env: { SMTP_URL: 'smtp://127.0.0.1:1' } });

    it('serves the default process metrics in the Prometheus text format', async function () {
      const { status, text, response } = await scrape(server);
      expect(status).to.equal(200);
      expect(response.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
      expect(text).to.match(/^process_cpu_user_seconds_total \d/m);
      expect(text).to.match(/^nodejs_heap_size_used_bytes \d/m);
    });

    it('after a request, its counter appears with the matched route, method and status', async function () {
      expect((await fetch(`${server.issuer}/healthz`)).status).to.equal(200);
      const { text } = await scrape(server);
      expect(sample(text, 'http_requests_total{method="GET",route="/healthz",status="200"}')).to.equal(1);
      expect(sample(text, 'http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}')).to.equal(1);
      expect(text).to.match(/^http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/healthz",status="200"\} \d/m);
    });

    it('provider endpoints are labelled by their oidc-provider name, unknown paths as unmatched: never a raw URL', async function () {
      expect((await fetch(`${server.issuer}/.well-known/openid-configuration`)).status).to.equal(200);
      expect((await fetch(`${server.issuer}/jwks`)).status).to.equal(200);
      for (const probe of ['/wp-admin/x1', '/secret-scan-8f2a', '/.env']) {
        expect((await fetch(`${server.issuer}${probe}`)).status).to.equal(404);
      }
      const { text } = await scrape(server);
      expect(sample(text, 'http_requests_total{method="GET",route="oidc:discovery",status="200"}')).to.equal(1);
      expect(sample(text, 'http_requests_total{method="GET",route="oidc:jwks",status="200"}')).to.equal(1);
      expect(sample(text, 'http_requests_total{method="GET",route="unmatched",status="404"}')).to.equal(3);
      expect(text).not.to.match(/wp-admin|secret-scan|\.env|openid-configuration/);
    });

    it('a route with a parameter is labelled by its pattern, not by the interaction id', async function () {
      const uid = 'UidThatMustNotBecomeALabel0123';
      const response = await fetch(`${server.issuer}/interaction/${uid}`, { headers: { accept: 'text/html' } });
      expect(response.status).to.be.within(400, 499);
      const { text } = await scrape(server);
      expect(text).to.match(/^http_requests_total\{method="GET",route="\/interaction\/:uid",status="4\d\d"\} 1$/m);
      expect(text).not.to.include(uid);
    });

    it('a failed mail send is counted in mail_send_failures_total', async function () {
      const { text: before } = await scrape(server);
      expect(sample(before, 'mail_send_failures_total')).to.equal(0);
      const result = await server.mailer!.send({ to: 'alice@example.com', subject: 'Your code', text: 'code 123456', html: '<p>code 123456</p>' });
      expect(result).to.deep.equal({ ok: false, code: 'mail_failed' });
      const { text: after } = await scrape(server);
      expect(sample(after, 'mail_send_failures_total')).to.equal(1);
    });

    it('each app has its own registry: another server in this process starts from zero', async function () {
      const other = await startTestServer('metrics_other');
      try {
        const { text } = await scrape(other);
        expect(text).not.to.include('route="/healthz"');
        expect(sample(text, 'mail_send_failures_total')).to.equal(0);
      } finally {
        await other.stop();
      }
    });
  });

  describe('protected by METRICS_TOKEN', function () {
    const token = 'scrape-token-0123456789abcdef';
    const server = useTestServer('metrics_token', { env: { METRICS_TOKEN: token } });

    it('without the token: 401 with a Bearer challenge, and no metrics', async function () {
      const { status, text, response } = await scrape(server);
      expect(status).to.equal(401);
      expect(response.headers.get('www-authenticate')).to.equal('Bearer realm="metrics"');
      expect(text).not.to.include('process_cpu');
    });

    it('with a wrong token: 401 invalid_token', async function () {
      const { status, text, response } = await scrape(server, { authorization: `Bearer ${token}x` });
      expect(status).to.equal(401);
      expect(response.headers.get('www-authenticate')).to.equal('Bearer realm="metrics", error="invalid_token"');
      expect(text).not.to.include('process_cpu');
    });

    it('with the token: the metrics', async function () {
      const { status, text } = await scrape(server, { authorization: `Bearer ${token}` });
      expect(status).to.equal(200);
      expect(text).to.include('http_requests_total{method="GET",route="/metrics",status="401"} 2');
    });
  });
});
