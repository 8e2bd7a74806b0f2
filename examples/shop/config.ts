/**
 * The example shop's settings, from the environment (`npm run shop`, docker compose). Every problem is listed at once.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `ISSUER` | `http://localhost:3000` | the provider's public URL (as the browser reaches it) |
 * | `PROVIDER_INTERNAL_URL` | unset | where the shop's server reaches the provider when `ISSUER` does not (a container) |
 * | `SHOP_PORT` / `SHOP_HOST` | `8080` / `127.0.0.1` | where the shop listens |
 * | `SHOP_URL` | `http://localhost:${SHOP_PORT}` | the shop's public URL (its redirect URI is `${SHOP_URL}/callback`) |
 * | `SHOP_API_AUDIENCE` | `${SHOP_URL}/api` | the invoice API's resource indicator, as the provider's `RESOURCE_SERVERS` names it |
 * | `SHOP_API_URL` | `http://127.0.0.1:${SHOP_PORT}/api` | where the front end calls the invoice API |
 * | `SHOP_INVOICE_ACR` | `urn:oidc-stepup:acr:mfa` | the acr the invoice API requires |
 * | `SHOP_CLIENT_ID`, `SHOP_CLIENT_SECRET` | unset: registered on first start | the shop's client at the provider |
 * | `DATA_DIR` | `.data` | where the registered client's secret is kept (`example-shop-client.json`) |
 */
import { resolve } from 'node:path';

export interface ShopConfig {
  issuer: string;
  providerInternalUrl: string | undefined;
  port: number;
  host: string;
  shopUrl: string;
  apiAudience: string;
  apiUrl: string;
  invoiceAcr: string;
  client: { clientId: string; clientSecret: string } | undefined;
  secretFile: string;
}

export class ShopConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`the example shop's configuration has ${problems.length} problem(s): ${problems.join('; ')}`);
    this.problems = problems;
  }
}

export function readShopConfig(env: Readonly<Record<string, string | undefined>>, cwd = process.cwd()): ShopConfig {
  const problems: string[] = [];
  const value = (name: string): string | undefined => env[name]?.trim() || undefined;
  const url = (name: string, fallback: string): string => {
    const raw = (value(name) ?? fallback).replace(/\/$/, '');
    if (!/^https?:\/\//.test(raw) || !URL.canParse(raw)) problems.push(`${name} must be an absolute http(s) URL`);
    return raw;
  };
  const issuer = url('ISSUER', 'http://localhost:3000');
  let port = Number(value('SHOP_PORT') ?? '8080');
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    problems.push('SHOP_PORT must be a port number');
    port = 8080; // the URLs derived from it are not reported again
  }
  const shopUrl = url('SHOP_URL', `http://localhost:${port}`);
  const internal = value('PROVIDER_INTERNAL_URL');
  const clientId = value('SHOP_CLIENT_ID');
  const clientSecret = value('SHOP_CLIENT_SECRET');
  if ((clientId === undefined) !== (clientSecret === undefined)) problems.push('set SHOP_CLIENT_ID and SHOP_CLIENT_SECRET together');
  const config: ShopConfig = {
    issuer,
    providerInternalUrl: internal === undefined ? undefined : url('PROVIDER_INTERNAL_URL', internal),
    port,
    host: value('SHOP_HOST') ?? '127.0.0.1',
    shopUrl,
    apiAudience: value('SHOP_API_AUDIENCE') ?? `${shopUrl}/api`,
    apiUrl: url('SHOP_API_URL', `http://127.0.0.1:${port}/api`),
    invoiceAcr: value('SHOP_INVOICE_ACR') ?? 'urn:oidc-stepup:acr:mfa',
    client: clientId && clientSecret ? { clientId, clientSecret } : undefined,
    secretFile: resolve(cwd, value('DATA_DIR') ?? '.data', 'example-shop-client.json'),
  };
  if (problems.length > 0) throw new ShopConfigError(problems);
  return config;
}
