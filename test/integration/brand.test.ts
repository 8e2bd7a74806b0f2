/**
 * The shop's brand on the pages and in the mails: `BRAND_NAME`, `BRAND_LOGO_URL`, `BRAND_PRIMARY_COLOR` (served as a
 * stylesheet from the provider's origin: the CSP keeps styles to 'self' and nonces) and the support contact; the
 * authenticator app shows `BRAND_NAME:email`; a colour too light for white button text is refused at start-up.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { expect } from 'chai';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import type { OutboxEntry } from '../../src/mail/transport.ts';
import { loadConfig } from '../../src/config/index.ts';
import { newCustomer } from '../console/support.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, Shop, findForm, useShop } from '../helpers/shop.ts';
import { clientInputOf, findClient, saveClient, validateClient, type ShopClient } from '../../src/provider/clients.ts';

const BRAND = {
  BRAND_NAME: 'Keks Shop',
  BRAND_LOGO_URL: 'https://cdn.keks.example/logo.svg',
  BRAND_PRIMARY_COLOR: '#7A1F5C',
  SUPPORT_URL: 'https://keks.example/help',
};

describe('the shop\'s brand on pages and mails', function () {
  const server = useTestServer('brand', { env: BRAND, mailer: 'config' });
  const shop = useShop(server);

  it('the pages show the name and the logo, load the colour as a stylesheet, and allow the logo\'s origin', async function () {
    const browser = new Browser();
    const login = await browser.go((await shop.startLogin()).url.href);
    expect(login.html).to.include('<title>Sign in · Keks Shop</title>');
    expect(login.html).to.include('<img src="https://cdn.keks.example/logo.svg" alt="Keks Shop">');
    expect(login.html).to.include('<link rel="stylesheet" href="/assets/brand.css">').and.not.include('oidc-stepup');
    const csp = login.headers.get('content-security-policy') ?? '';
    expect(csp).to.include("img-src 'self' data: https://cdn.keks.example").and.match(/style-src 'self' 'nonce-/);
    const css = await browser.request(`${server.issuer}/assets/brand.css`);
    expect(css.headers.get('content-type')).to.match(/^text\/css/);
    expect(css.html).to.match(/--accent:#7a1f5c;--accent-dark:#[0-9a-f]{6}/);
    const error = await browser.go(`${server.issuer}/interaction/not-a-real-one`);
    expect(error.html).to.include('alt="Keks Shop"').and.include('href="https://keks.example/help"');
  });

  it('the authenticator app shows "Keks Shop:email" (Key URI Format issuer the same)', async function () {
    const customer = await newCustomer(server, 'keks-app');
    const begun = await (server.factors.get('totp') as TotpFactor).enrol.begin(customer);
    expect(begun.ok).to.equal(true);
    const uri = new URL((begun as { view: { otpauthUri: string } }).view.otpauthUri);
    expect(uri.host).to.equal("totp");
    expect(decodeURIComponent(uri.pathname)).to.equal(`/Keks Shop:${customer.email}`);
    expect(uri.searchParams.get('issuer')).to.equal('Keks Shop');
  });

  it('the mails carry the name, the logo, the colour and the support address', async function () {
    const customer = await newCustomer(server, 'keks-mail');
    const browser = new Browser();
    const form = await browser.go(`${server.issuer}/password-reset`);
    await browser.submit(findForm(form, 'reset-request'), { email: customer.email });
    // The link is mailed after the page is answered: wait for it to reach the outbox.
    let mail: OutboxEntry | undefined;
    for (let i = 0; i < 200 && !mail; i += 1) {
      mail = server.mailer?.outbox()?.find((entry) => entry.to.includes(customer.email));
      if (!mail) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(mail?.subject).to.equal('Reset your Keks Shop password');
    expect(mail?.html).to.include('<img src="https://cdn.keks.example/logo.svg" alt="Keks Shop"');
    expect(mail?.html).to.include('background:#7a1f5c').and.include('href="https://keks.example/help"');
    expect(mail?.text).to.include('Need help? Contact support: https://keks.example/help');
  });

  it("the consent page shows the shop's own name, logo and registered pages; its logo's origin is allowed only there", async function () {
    const partner = server.clients.thirdParty;
    const stored = await findClient(server.conn, partner.clientId);
    const withPages = {
      ...clientInputOf(stored as ShopClient),
      logoUri: 'https://partner.example/logo.png', policyUri: 'https://partner.example/privacy', tosUri: 'https://partner.example/terms',
    };
    expect(await validateClient({ ...withPages, logoUri: 'http://partner.example/logo.png' })).to.deep.equal(['logo_uri must be https (http only on localhost)']);
    await saveClient(server.conn, withPages);
    const partnerShop = await Shop.discover(server.issuer, partner);
    const browser = new Browser();
    const login = await browser.go((await partnerShop.startLogin({ scope: 'openid email' })).url.href);
    const consent = await browser.submit(findForm(login, '/login'), { email: server.accounts.bob.email, password: server.accounts.bob.password });
    expect(consent.html).to.include('Allow Partner Shop?').and.include('<img class="client-logo" src="https://partner.example/logo.png" alt="Partner Shop logo"');
    expect(consent.html).to.include('href="https://partner.example/privacy"').and.include('href="https://partner.example/terms"');
    expect(consent.headers.get('content-security-policy')).to.match(/img-src [^;]*https:\/\/partner\.example/);
    expect(login.headers.get('content-security-policy')).to.not.include('partner.example');
  });

  it('a primary colour too light for white button text is refused at start-up, saying why', async function () {
    const child = spawn(process.execPath, ['--import', 'tsx', join(process.cwd(), 'src', 'main.ts')], {
      cwd: process.cwd(),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), PORT: '0', DATA_DIR: join(tmpdir(), 'brand-refused'), BRAND_PRIMARY_COLOR: '#FFD700' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const [code] = await once(child, 'exit') as [number];
    expect(code).to.not.equal(0);
    expect(output).to.include('BRAND_PRIMARY_COLOR: #ffd700 has a contrast of').and.include('WCAG AA needs at least 4.5:1');
  });
});

describe('the brand logo as a file in DATA_DIR', function () {
  const dataDir = join(tmpdir(), `brand-logo-${process.pid}`);
  const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
  before(async function () {
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, 'shop-logo.png'), png);
  });
  after(async function () {
    await rm(dataDir, { recursive: true, force: true });
  });
  const server = useTestServer('brand_logo_file', () => ({ env: { DATA_DIR: dataDir, BRAND_LOGO_URL: 'shop-logo.png', BRAND_NAME: 'Datei Shop' } }));
  const shop = useShop(server);

  it('is served by the provider itself and shown on the pages; a path outside DATA_DIR is refused', async function () {
    const browser = new Browser();
    const login = await browser.go((await shop.startLogin()).url.href);
    expect(login.html).to.include(`<img src="${server.issuer}/assets/brand-logo.png" alt="Datei Shop">`);
    const logo = await fetch(`${server.issuer}/assets/brand-logo.png`);
    expect(logo.headers.get('content-type')).to.equal('image/png');
    expect(Buffer.from(await logo.arrayBuffer()).equals(png)).to.equal(true);
    for (const value of ['../etc/passwd.png', 'dir/logo.png', 'logo.exe']) {
      expect(() => loadConfig({ BRAND_LOGO_URL: value }), value).to.throw(/BRAND_LOGO_URL: must be an http\(s\) URL of an image/);
    }
  });
});
