import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { createCodeMailer, createMailer } from '../../src/mail/index.ts';
import { startTestServer, useTestServer, type TestServer } from '../helpers/server.ts';

/** Everything NODE_ENV=production requires (the database itself comes from the test helper). */
function productionEnv(): Record<string, string> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    NODE_ENV: 'production',
    MONGODB_URI: 'mongodb://mongo.invalid:27017/oidc_stepup',
    JWKS: JSON.stringify({ keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' }] }),
    COOKIE_KEYS: randomBytes(32).toString('base64url'),
    SMTP_URL: 'smtp://127.0.0.1:1',
    MAIL_FROM: 'Shop Login <no-reply@id.shop.example>',
    FACTOR_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    MFA_PEPPER: randomBytes(32).toString('base64'),
  };
}

async function getPage(server: TestServer): Promise<{ status: number; html: string; csp: string }> {
  const response = await fetch(`${server.issuer}/dev/mail`, { headers: { accept: 'text/html' } });
  return { status: response.status, html: await response.text(), csp: response.headers.get('content-security-policy') ?? '' };
}

describe('/dev/mail: the dev outbox page', function () {
  describe('development, no SMTP_URL (the outbox)', function () {
    const server = useTestServer('dev_mail', { mailer: 'config', env: { ISSUER_NAME: 'Keys Express' } });

    it('says so when nothing was sent yet', async function () {
      const page = await getPage(server);
      expect(page.status).to.equal(200);
      expect(page.html).to.include('No mail has been sent yet.');
    });

    it('a mail sent through the app\'s mailer appears, newest first, with its code readable in the text part', async function () {
      const codes = createCodeMailer({ mailer: server.mailer!, issuerName: server.config.issuerName });
      expect(await codes.sendCode({ email: 'alice@example.com', name: 'Alice' }, '123456', 10)).to.deep.equal({ ok: true });
      expect((await server.mailer!.send({ to: 'bob@example.com', subject: 'Second mail', text: 'Plain body', html: '<p>Rich body</p>' })).ok).to.equal(true);

      const page = await getPage(server);
      expect(page.status).to.equal(200);
      expect(page.html.indexOf('bob@example.com')).to.be.greaterThan(-1);
      expect(page.html.indexOf('bob@example.com')).to.be.lessThan(page.html.indexOf('alice@example.com'));
      expect(page.html).to.include('Second mail');
      expect(page.html).to.match(/<pre class="mail-text">[^<]*123456/);
      expect(page.html).to.include('&quot;Keys Express&quot; &lt;no-reply@localhost&gt;');
      expect(page.html).to.match(/<time datetime="\d{4}-\d\d-\d\dT/);
    });

    it('shows an HTML part only inside a sandboxed srcdoc iframe, escaped, and allows no script', async function () {
      await server.mailer!.send({
        to: 'carol@example.com',
        subject: 'Hostile <b>subject</b>',
        text: 'text with <script>alert(1)</script>',
        html: '<p style="color:red" onclick="alert(2)">hi</p><script>alert(3)</script>"quoted"',
      });
      const page = await getPage(server);
      expect(page.html).not.to.include('<script>');
      expect(page.html).not.to.include('<b>subject</b>');
      expect(page.html).to.include('Hostile &lt;b&gt;subject&lt;/b&gt;');
      expect(page.html).to.include('text with &lt;script&gt;alert(1)&lt;/script&gt;');
      const iframe = /<iframe[^>]*>/.exec(page.html)?.[0] ?? '';
      expect(iframe).to.include('sandbox=""');
      expect(iframe).to.include('srcdoc="&lt;p style=&quot;color:red&quot; onclick=&quot;alert(2)&quot;&gt;hi&lt;/p&gt;&lt;script&gt;alert(3)&lt;/script&gt;&quot;quoted&quot;"');
      expect(page.csp).to.match(/script-src 'self'/);
      expect(page.csp).not.to.match(/unsafe-eval|script-src[^;]*unsafe-inline/);
    });

    it('is not cached', async function () {
      const response = await fetch(`${server.issuer}/dev/mail`);
      expect(response.headers.get('cache-control')).to.equal('no-store');
    });
  });

  describe('anywhere else it does not exist', function () {
    it('production: 404, even if an outbox mailer is handed to the app', async function () {
      const server = await startTestServer('dev_mail_prod', {
        env: productionEnv(),
        mailer: createMailer({ from: 'no-reply@localhost', issuerName: 'oidc-stepup', production: false }),
      });
      try {
        expect(server.config.production).to.equal(true);
        expect(server.mailer?.mode).to.equal('outbox');
        const page = await getPage(server);
        expect(page.status).to.equal(404);
        expect(page.html).not.to.include('Dev mail');
      } finally {
        await server.stop();
      }
    });

    it('production with its SMTP mailer built from config: 404', async function () {
      const server = await startTestServer('dev_mail_prod_smtp', { env: productionEnv(), mailer: 'config' });
      try {
        expect(server.mailer?.mode).to.equal('smtp');
        expect((await getPage(server)).status).to.equal(404);
      } finally {
        await server.stop();
      }
    });

    it('development with SMTP_URL set: 404 (mail really goes out)', async function () {
      const server = await startTestServer('dev_mail_smtp', { env: { SMTP_URL: 'smtp://127.0.0.1:1' }, mailer: 'config' });
      try {
        expect((await getPage(server)).status).to.equal(404);
      } finally {
        await server.stop();
      }
    });
  });
});
