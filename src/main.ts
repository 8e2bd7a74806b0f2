/**
 * The composition root and the only place with side effects: configuration → store → mailer → keys and MFA
 * secrets → indexes → dev seed → factors → app → listen, and a graceful shutdown on SIGINT/SIGTERM.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import type Router from '@koa/router';
import { createApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config/index.ts';
import { resolveMfaSecrets } from './provider/mfa_secrets.ts';
import { DEV_MAIL_PATH } from './http/dev_mail.ts';
import { METRICS_PATH, countMailFailures, createMetrics } from './http/metrics.ts';
import { loadLanguages } from './i18n/languages.ts';
import { createViews } from './http/views.ts';
import { createMailer, type Mailer } from './mail/index.ts';
import { ensureAdapterIndexes } from './provider/adapter.ts';
import { buildProviderConfiguration, createProvider } from './provider/configuration.ts';
import { loadOrCreateDevKeys, type ProviderKeys } from './provider/keys.ts';
import { createStepUp } from './plugin.ts';
import { EXAMPLE_SHOP_URL, seedDevData, withExampleShopApi, type DevSeed } from './seed/dev_seed.ts';
import { createLogger, type Logger } from './shared/logger.ts';
import { connectStore, type Store } from './store/connect.ts';

/** File through which the CLI finds a running dev server's embedded engine (`src/cli/database.ts`). */
const ENGINE_URI_FILE = 'embedded-mongo.uri';
/** How long open connections may take to finish after a shutdown signal. */
const SHUTDOWN_GRACE_MS = 5000;
/** A fixed PKCE verifier for the printed try-it URL (development only; a real shop makes a fresh one per login). */
const DEMO_CODE_VERIFIER = 'oidc-stepup-demo-verifier-0123456789-abcdefghij';

function readConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`oidc-stepup cannot start: the configuration has ${err.problems.length} problem(s):\n`);
    for (const problem of err.problems) process.stderr.write(`  - ${problem}\n`);
    process.stderr.write('See config/example.env for every setting and its default.\n');
    process.exit(1);
  }
}

async function loadKeys(config: Config, store: Store, logger: Logger): Promise<ProviderKeys> {
  if (config.keys) return config.keys;
  const keys = await loadOrCreateDevKeys(store.conn);
  logger.warn(
    'DEVELOPMENT KEYS IN USE: signing and cookie keys were generated and are stored in the database. '
    + 'Never use them in production: set JWKS and COOKIE_KEYS (see README, Production).',
  );
  return keys;
}

function startBanner(config: Config, seed: DevSeed | undefined, store: Store, mailer: Mailer): string {
  const lines = [
    '',
    `  ${config.issuerName === 'oidc-stepup' ? 'oidc-stepup' : `${config.issuerName} (oidc-stepup)`} is running`,
    `    issuer:      ${config.issuer}`,
    `    discovery:   ${config.issuer}/.well-known/openid-configuration`,
    `    security:    ${config.issuer}/account (customers' security settings)`,
    `    database:    ${store.engine ? `embedded engine (${config.embeddedDbSnapshot ? `saved to ${config.embeddedDbSnapshot}` : 'in memory only'})` : 'MongoDB (MONGODB_URI)'}`,
    `    mail:        ${mailer.mode === 'outbox' ? `not sent: captured in this process, read it at ${config.issuer}${DEV_MAIL_PATH}` : 'SMTP (SMTP_URL)'}`,
    `    metrics:     ${config.issuer}${METRICS_PATH}${config.metricsToken ? ' (Bearer METRICS_TOKEN)' : ''}`,
  ];
  if (seed) {
    lines.push(
      '',
      `  Demo shop (try the whole flow in a browser): ${config.issuer}/demo-shop`,
      `  Example shop with a pay-by-invoice checkout: \`npm run shop\` in another terminal, then ${EXAMPLE_SHOP_URL}`,
      '',
      '  Demo shop client (confidential, first-party; PKCE S256 required):',
      `    client_id:     ${seed.client.clientId}`,
      `    client_secret: ${seed.client.clientSecret}`,
      `    redirect_uris: ${seed.client.redirectUris.join(' ')}`,
      '',
      '  Demo logins (development data, public passwords):',
      ...seed.users.map((user) => `    ${user.email.padEnd(30)} ${user.password.padEnd(20)} ${user.description}`),
      '',
      '  Try it: open this URL in a browser and sign in; it ends on the redirect URI with a code',
      `  (exchange it at ${config.issuer}/token with code_verifier=${DEMO_CODE_VERIFIER}):`,
      `    ${config.issuer}/auth?client_id=${encodeURIComponent(seed.client.clientId)}&response_type=code&scope=openid%20email`
        + `&redirect_uri=${encodeURIComponent(seed.client.redirectUris.at(-1) ?? '')}`
        + `&code_challenge=${createHash('sha256').update(DEMO_CODE_VERIFIER).digest('base64url')}&code_challenge_method=S256`,
    );
  }
  lines.push('', '  Stop with Ctrl+C.', '');
  return lines.join('\n');
}

/** The loopback address that reaches a server listening on `host` (a wildcard host listens on loopback too). */
function loopbackHost(host: string): string {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** Development only: says loudly which MFA secrets were generated instead of configured. */
function warnGeneratedSecrets(generated: readonly string[], logger: Logger): void {
  if (generated.length === 0) return;
  logger.warn(
    { generated },
    `DEVELOPMENT MFA SECRETS IN USE: ${generated.join(' and ')} ${generated.length > 1 ? 'were' : 'was'} generated and stored in the `
    + 'database (dev_secrets), so TOTP enrolments and recovery codes survive a restart. Never use them in production: '
    + 'set FACTOR_KEYS and MFA_PEPPER (`npm run cli -- keys generate`; see README, Production).',
  );
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
  const metrics = createMetrics();
  let mailer: Mailer;
  try {
    mailer = countMailFailures(createMailer({
      smtpUrl: config.mail.smtpUrl,
      from: config.mail.from,
      issuerName: config.issuerName,
      production: config.production,
      logger: logger.child({ component: 'mail' }),
    }), metrics);
  } catch (err) {
    logger.fatal({ err }, 'cannot set up mail');
    process.exit(1);
  }
  if (config.production && !config.metricsToken) {
    logger.warn(`${METRICS_PATH} is open to anyone who can reach this server: set METRICS_TOKEN or restrict it at the network`);
  }
  let store: Store;
  try {
    store = await connectStore(config, logger);
  } catch (err) {
    logger.fatal({ err }, config.mongodbUri ? 'cannot connect to MONGODB_URI' : 'cannot start the embedded MongoDB-wire engine');
    process.exit(1);
  }
  const uriFile = resolve(config.dataDir, ENGINE_URI_FILE);
  // Only the process that wrote the URI file removes it (a second dev server failing on a busy port must not).
  let wroteUriFile = false;
  const removeUriFile = async (): Promise<void> => {
    if (wroteUriFile) await rm(uriFile, { force: true });
  };

  let server: Server | undefined;
  let stopping = false;
  async function shutdown(signal: string): Promise<void> {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    if (server) {
      const closed = once(server, 'close');
      server.close();
      server.closeIdleConnections();
      const force = setTimeout(() => server?.closeAllConnections(), SHUTDOWN_GRACE_MS);
      force.unref();
      await closed;
    }
    await removeUriFile();
    await mailer.close();
    await store.close();
    logger.info('stopped');
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      shutdown(signal).then(() => process.exit(0), (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
    });
  }

  try {
    const keys = await loadKeys(config, store, logger);
    const secrets = await resolveMfaSecrets(config, store.conn);
    warnGeneratedSecrets(secrets.generated, logger);
    // The ready server is built on the plugin API, as an existing deployment would use it.
    const views = createViews(undefined, { brand: config.brand, languages: loadLanguages({ defaultLanguage: config.defaultLocale }) });
    const stepUp = createStepUp({
      conn: store.conn, issuer: config.issuer, issuerName: config.issuerName, secrets, mailer, views, logger, support: config.support,
      brand: config.brand,
      // The console calls the token endpoint of this very process, never through the public issuer URL.
      tokenEndpoint: `http://${loopbackHost(config.host)}:${config.port}/token`,
    });
    await Promise.all([ensureAdapterIndexes(store.conn), stepUp.ensureIndexes({ retentionDays: config.auditRetentionDays })]);
    const seed = config.devSeed
      ? await seedDevData(store.conn, {
        shopRedirectUris: [`${config.issuer}/demo-shop/callback`, 'http://localhost:8080/callback'],
        shopPostLogoutRedirectUris: [`${config.issuer}/demo-shop`, 'http://localhost:8080/'],
      })
      : undefined;

    // With the dev seed, the example shop's invoice API gets JWT access tokens too (`npm run shop`).
    const providerConfig = seed ? { ...config, resourceServers: withExampleShopApi(config.resourceServers) } : config;
    // The step-up layer over the server's own configuration, as a plugin user writes it (README "plugin").
    const provider = createProvider(
      { config: providerConfig, logger },
      stepUp.configure(buildProviderConfiguration({ config: providerConfig, conn: store.conn, keys, views })),
    );
    const extraRouters: Router[] = [];
    if (seed) {
      // openid-client is a dev dependency: load the demo shop only when the dev seed runs.
      const { demoShopRouter } = await import('./http/demo_shop.ts');
      extraRouters.push(demoShopRouter({ issuer: config.issuer, ...seed.client, views, logger }));
    }
    const app = createApp({ config, conn: store.conn, provider, logger, views, extraRouters, mailer, stepUp, metrics });
    server = app.listen(config.port, config.host);
    await once(server, 'listening');
    if (store.engine) {
      await mkdir(config.dataDir, { recursive: true });
      await writeFile(uriFile, `${store.uri}\n`, { mode: 0o600 });
      wroteUriFile = true;
    }
    logger.info({ issuer: config.issuer, host: config.host, port: config.port }, 'listening');
    process.stdout.write(startBanner(config, seed, store, mailer));
  } catch (err) {
    const busy = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
    logger.fatal({ err }, busy ? `port ${config.port} is in use: stop the other server or set PORT` : 'start-up failed');
    await removeUriFile();
    await mailer.close();
    await store.close();
    process.exit(1);
  }
}

await main();
