/**
 * `npm run shop`: the example shop on http://localhost:8080 against the dev provider (`npm start` in another
 * terminal). On its first start it registers its client in the provider's database (`ensureShopClient`); see
 * `config.ts` for the settings and the README ("The example shop") for the journey to try.
 */
import { once } from 'node:events';
import { resolveDatabase, connectDatabase } from '../../src/cli/database.ts';
import { CliFailure } from '../../src/cli/io.ts';
import { createShopApp } from './app.ts';
import { readShopConfig, ShopConfigError, type ShopConfig } from './config.ts';
import { backChannelFetch } from './provider.ts';
import { ensureShopClient } from './register_client.ts';

async function shopClient(config: ShopConfig): Promise<{ clientId: string; clientSecret: string }> {
  if (config.client) return config.client;
  const conn = await connectDatabase(await resolveDatabase(process.env, process.cwd()));
  try {
    const registered = await ensureShopClient(conn, { shopUrl: config.shopUrl, secretFile: config.secretFile });
    if (registered.outcome !== 'kept') {
      process.stdout.write(`  Registered the client "${registered.clientId}" with the provider (${registered.outcome}); its secret is in ${config.secretFile}\n`);
    }
    return registered;
  } finally {
    await conn.close();
  }
}

async function main(): Promise<void> {
  let config: ShopConfig;
  try {
    config = readShopConfig(process.env);
  } catch (err) {
    if (!(err instanceof ShopConfigError)) throw err;
    process.stderr.write(`The example shop cannot start:\n${err.problems.map((problem) => `  - ${problem}\n`).join('')}`);
    process.exit(1);
  }
  let client: { clientId: string; clientSecret: string };
  try {
    client = await shopClient(config);
  } catch (err) {
    if (!(err instanceof CliFailure)) throw err;
    process.stderr.write(`The example shop cannot register itself: ${err.message}\n`
      + 'Start the provider first (npm start), or set SHOP_CLIENT_ID and SHOP_CLIENT_SECRET.\n');
    process.exit(1);
  }
  const { app } = createShopApp({
    issuer: config.issuer,
    shopUrl: config.shopUrl,
    ...client,
    apiAudience: config.apiAudience,
    apiUrl: config.apiUrl,
    invoiceAcr: config.invoiceAcr,
    providerFetch: backChannelFetch(config.issuer, config.providerInternalUrl),
  });
  const server = app.listen(config.port, config.host);
  await once(server, 'listening');
  process.stdout.write([
    '',
    `  Example shop: ${config.shopUrl}  (provider: ${config.issuer})`,
    `    invoice API: ${config.shopUrl}/api/invoice-orders (audience ${config.apiAudience})`,
    '    pay by invoice as invoice@example.com / demo-invoice; a plain customer: customer@example.com / demo-customer',
    '  Stop with Ctrl+C.',
    '',
  ].join('\n'));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      server.close(() => process.exit(0));
      server.closeIdleConnections();
      setTimeout(() => process.exit(0), 3000).unref();
    });
  }
}

await main();
