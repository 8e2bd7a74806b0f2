/**
 * The whole provider on 127.0.0.1 (random port) against a fresh database, with dev keys, test shop clients and
 * test accounts — what a shop and a browser talk to in the integration and end-to-end tests.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Connection } from 'mongoose';
import type Provider from 'oidc-provider';
import { createAccount, ensureAccountIndexes } from '../../src/accounts/accounts.ts';
import { createApp } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config/index.ts';
import { demoShopRouter } from '../../src/http/demo_shop.ts';
import { countMailFailures, createMetrics, type AppMetrics } from '../../src/http/metrics.ts';
import { loadLanguages } from '../../src/i18n/languages.ts';
import { createViews } from '../../src/http/views.ts';
import { createCodeMailer, createMailer, type Mailer } from '../../src/mail/index.ts';
import { ensureAdapterIndexes } from '../../src/provider/adapter.ts';
import { saveClient } from '../../src/provider/clients.ts';
import { buildProviderConfiguration, createProvider } from '../../src/provider/configuration.ts';
import { createStepUp } from '../../src/plugin.ts';
import { loadOrCreateDevKeys } from '../../src/provider/keys.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createCompany } from '../../src/accounts/companies.ts';
import type { SecurityEvents } from '../../src/security/events.ts';
import { createDefaultFactors, createSecretBox, generateKey, type Factor, type FactorRegistry, type TotpFactor } from '../../src/factors/index.ts';
import { connectFreshDb } from './db.ts';
import { hookHandle } from './hook_handle.ts';
import { enrolTotp } from '../factors/support.ts';

/** A registered test shop. */
export interface TestClient {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  postLogoutRedirectUri: string;
}

export interface TestAccount {
  id: string;
  email: string;
  password: string;
  name: string;
}

export interface TestServer {
  issuer: string;
  config: Config;
  conn: Connection;
  provider: Provider;
  /** `firstParty` skips consent; `thirdParty` gets the consent page. */
  clients: { firstParty: TestClient; thirdParty: TestClient };
  accounts: { alice: TestAccount; bob: TestAccount };
  /**
   * Step-up accounts: `carol` has an authenticator app; `ivan` has the invoice privilege and an authenticator app;
   * `nina` has the invoice privilege and no factor; `fred` belongs to a company with the `forced` 2FA policy and has
   * an authenticator app; `gina` is in that company without a factor. `totpSecrets` holds the apps' base32 secrets
   * (their enrolment consumed the time step current at start: compute codes at a later step).
   */
  mfaAccounts: { carol: TestAccount; ivan: TestAccount; nina: TestAccount; fred: TestAccount; gina: TestAccount };
  totpSecrets: Record<'carol' | 'ivan' | 'fred', string>;
  /** The second factors the app uses. */
  factors: FactorRegistry;
  /** The app's security events (audit, and mail when the server has a mailer). */
  events: SecurityEvents;
  /** The API configured in RESOURCE_SERVERS (JWT access tokens, scope `invoice orders:read`). */
  api: { resource: string; scope: string };
  /** The app's mailer (counted in `metrics`), when the `mailer` option asked for one. */
  mailer?: Mailer;
  /** The app's metrics registry (served at /metrics). */
  metrics: AppMetrics;
  stop(): Promise<void>;
}

/**
 * Default origin of the shops' redirect URIs: nothing listens there, the test browser stops at them and hands the
 * URL to the shop. A real browser needs a real page: pass `shopOrigin`.
 */
export const SHOP_ORIGIN = 'http://localhost:7777';
const API_RESOURCE = 'https://api.shop.test';

export interface TestServerOptions {
  /** Extra environment for `loadConfig` (e.g. `LOG_LEVEL`). */
  env?: Record<string, string>;
  /** Origin of the shops' redirect URIs; default {@link SHOP_ORIGIN}. */
  shopOrigin?: string;
  /** Also serve the dev demo shop at /demo-shop (its client `demo-shop` is registered for it). */
  demoShop?: boolean;
  /**
   * Give the app a mailer: `'config'` builds it from the loaded config as main.ts does (no `SMTP_URL` → the dev
   * outbox), or pass one. Either way it is wrapped to count failures in `metrics`. Default: no mailer.
   */
  mailer?: 'config' | Mailer;
  /** Second factors of the test's own, registered beside the built-in ones (`DefaultFactorOptions.extraFactors`). */
  extraFactors?: readonly Factor[];
  /** Turn on the driver's command monitoring on `conn` (count commands with `recordCommands`). Default: off. */
  monitorCommands?: boolean;
}

export async function startTestServer(label: string, options: TestServerOptions = {}): Promise<TestServer> {
  const shopOrigin = options.shopOrigin ?? SHOP_ORIGIN;
  const conn = await connectFreshDb(label, { monitorCommands: options.monitorCommands ?? false });
  const server: Server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    ISSUER: issuer,
    LOG_LEVEL: 'silent',
    DEV_SEED: 'false',
    RESOURCE_SERVERS: JSON.stringify({ [API_RESOURCE]: { scope: 'invoice orders:read' } }),
    ...options.env,
  });
  const logger = createLogger(config.logLevel);
  const [keys] = await Promise.all([loadOrCreateDevKeys(conn), ensureAdapterIndexes(conn), ensureAccountIndexes(conn)]);

  const client = async (clientId: string, firstParty: boolean): Promise<TestClient> => {
    const redirectUri = `${shopOrigin}/${clientId}/callback`;
    const postLogoutRedirectUri = `${shopOrigin}/${clientId}/signed-out`;
    const saved = await saveClient(conn, {
      clientId,
      name: firstParty ? 'First Shop' : 'Partner Shop',
      redirectUris: [redirectUri],
      postLogoutRedirectUris: [postLogoutRedirectUri],
      firstParty,
    });
    return { clientId, clientSecret: saved.clientSecret as string, redirectUri, postLogoutRedirectUri };
  };
  const account = async (email: string, password: string, name: string): Promise<TestAccount> => {
    const created = await createAccount(conn, { email, password, name });
    return { id: created.id, email, password, name };
  };
  const [firstParty, thirdParty, alice, bob] = await Promise.all([
    client('first-shop', true),
    client('partner-shop', false),
    account('alice@example.com', 'alice-password-1', 'Alice Example'),
    account('bob@example.com', 'bob-password-22', 'Bob Example'),
  ]);

  const metrics = createMetrics();
  let mailer: Mailer | undefined;
  if (options.mailer) {
    const base = options.mailer === 'config'
      ? createMailer({ smtpUrl: config.mail.smtpUrl, from: config.mail.from, issuerName: config.issuerName, production: config.production, logger })
      : options.mailer;
    mailer = countMailFailures(base, metrics);
  }
  // With a mailer the email-code factor is registered too (as main.ts does).
  const { registry: factors } = createDefaultFactors({
    conn,
    secretBox: createSecretBox({ activeKeyId: 'test', keys: { test: generateKey() } }),
    issuer: config.issuerName,
    recoveryPepper: generateKey(),
    ...(options.extraFactors ? { extraFactors: options.extraFactors } : {}),
    ...(mailer ? {
      codeMailer: createCodeMailer({
        mailer, issuerName: config.issuerName, logger, look: { logoUrl: config.brand.logoUrl, primaryColor: config.brand.primaryColor, support: config.support },
      }),
      emailCodePepper: generateKey(),
    } : {}),
  });
  const company = await createCompany(conn, { name: `Forced ${label}`, mfaPolicy: 'forced' });
  const mfaAccount = async (email: string, name: string, extra: { privileges?: ['invoice']; companyId?: string }): Promise<TestAccount> => {
    const password = `${name.toLowerCase().replace(/\W/g, '')}-password-3`;
    const created = await createAccount(conn, { email, password, name, ...extra });
    return { id: created.id, email, password, name };
  };
  const [carol, ivan, nina, fred, gina] = await Promise.all([
    mfaAccount('carol@example.com', 'Carol Example', {}),
    mfaAccount('ivan@example.com', 'Ivan Invoice', { privileges: ['invoice'] }),
    mfaAccount('nina@example.com', 'Nina Newcomer', { privileges: ['invoice'] }),
    mfaAccount('fred@example.com', 'Fred Forced', { companyId: company.id }),
    mfaAccount('gina@example.com', 'Gina Forced', { companyId: company.id }),
  ]);
  const totp = factors.all.find((factor) => factor.enrol && !factor.challenge && factor.role === 'primary') as TotpFactor;
  const totpSecrets = {
    carol: await enrolTotp(totp, carol),
    ivan: await enrolTotp(totp, ivan),
    fred: await enrolTotp(totp, fred),
  };

  const views = createViews(undefined, { brand: config.brand, languages: loadLanguages({ defaultLanguage: config.defaultLocale }) });
  const stepUp = createStepUp({ conn, issuer, issuerName: config.issuerName, factors, views, logger, support: config.support, brand: config.brand, ...(mailer ? { mailer } : {}) });
  await stepUp.ensureIndexes(); // as main.ts: every TTL index in place before the first request
  const provider = createProvider({ config, logger }, stepUp.configure(buildProviderConfiguration({ config, conn, keys, views })));
  const extraRouters = [];
  if (options.demoShop) {
    const demo = await saveClient(conn, {
      clientId: 'demo-shop',
      name: 'Demo Shop',
      redirectUris: [`${issuer}/demo-shop/callback`],
      postLogoutRedirectUris: [`${issuer}/demo-shop`],
      firstParty: true,
    });
    extraRouters.push(demoShopRouter({ issuer, clientId: demo.clientId, clientSecret: demo.clientSecret as string, views, logger }));
  }
  const app = createApp({ config, conn, provider, logger, views, extraRouters, metrics, stepUp, ...(mailer ? { mailer } : {}) });
  const handle = app.callback();
  server.on('request', (req, res) => {
    void handle(req, res);
  });

  return {
    issuer,
    config,
    conn,
    provider,
    clients: { firstParty, thirdParty },
    accounts: { alice, bob },
    mfaAccounts: { carol, ivan, nina, fred, gina },
    totpSecrets,
    factors,
    events: stepUp.events,
    api: { resource: API_RESOURCE, scope: 'invoice orders:read' },
    ...(mailer ? { mailer } : {}),
    metrics,
    async stop() {
      await mailer?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await conn.dropDatabase().catch(() => undefined);
      await conn.close();
    },
  };
}

/**
 * The test server of the current `describe`: started in its `before` hook (with `options`, or what the function
 * returns then, for values an earlier hook creates) and stopped in its `after` hook. The handle is the started server.
 */
export function useTestServer(label: string, options: TestServerOptions | (() => TestServerOptions) = {}): TestServer {
  const { handle, fill } = hookHandle<TestServer>(`the test server "${label}"`);
  let started: TestServer | undefined;
  before(async function () {
    started = await startTestServer(label, typeof options === 'function' ? options() : options);
    fill(started);
  });
  after(async function () {
    await started?.stop();
  });
  return handle;
}
