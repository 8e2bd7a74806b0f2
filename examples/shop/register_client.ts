/**
 * Development convenience: the example shop registers itself with the provider on its first start, with the functions
 * behind `npm run cli -- client add` (a real shop gets its client id and secret from the provider's operator:
 * `npm run cli -- client add --id example-shop --first-party --redirect-uri http://localhost:8080/callback
 * --post-logout-redirect-uri http://localhost:8080/`, then `SHOP_CLIENT_ID` and `SHOP_CLIENT_SECRET`).
 *
 * The secret is kept in a file of the shop's own (`.data/example-shop-client.json`, mode 600); the provider keeps only
 * its copy. A lost file gets a new secret (`client rotate-secret`); a changed shop URL is added to the redirect URIs.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Connection } from 'mongoose';
import {
  clientInputOf, createClient, DEFAULT_CLIENT_SCOPE, findClient, rotateClientSecret, updateClient,
} from '../../src/provider/clients.ts';

export const EXAMPLE_SHOP_CLIENT_ID = 'example-shop';

export interface ShopClientRegistration {
  clientId: string;
  clientSecret: string;
  /** What was done: `created` on the first start, `rotated` when the saved secret was lost, else `kept`. */
  outcome: 'created' | 'rotated' | 'kept';
}

async function readSaved(file: string): Promise<{ clientId?: unknown; clientSecret?: unknown } | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as { clientId?: unknown; clientSecret?: unknown };
  } catch {
    return undefined;
  }
}

async function save(file: string, clientId: string, clientSecret: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify({ clientId, clientSecret }, null, 2)}\n`, { mode: 0o600 });
}

function union(...lists: readonly (readonly string[] | undefined)[]): string[] {
  return [...new Set(lists.flatMap((list) => [...(list ?? [])]))];
}

/** Registers the example shop's client on `conn` (the provider's database) unless it is, and returns its credentials. */
export async function ensureShopClient(conn: Connection, options: { shopUrl: string; secretFile: string }): Promise<ShopClientRegistration> {
  const clientId = EXAMPLE_SHOP_CLIENT_ID;
  const redirectUris = [`${options.shopUrl}/callback`];
  const postLogoutRedirectUris = [`${options.shopUrl}/`];
  const saved = await readSaved(options.secretFile);
  const savedSecret = saved?.clientId === clientId && typeof saved.clientSecret === 'string' ? saved.clientSecret : undefined;
  const existing = await findClient(conn, clientId);
  if (!existing) {
    const clientSecret = savedSecret ?? randomBytes(32).toString('base64url');
    await createClient(conn, { clientId, clientSecret, name: 'Example Shop', redirectUris, postLogoutRedirectUris, firstParty: true });
    await save(options.secretFile, clientId, clientSecret);
    return { clientId, clientSecret, outcome: 'created' };
  }
  const input = clientInputOf(existing);
  const scopes = (input.scope ?? DEFAULT_CLIENT_SCOPE).split(' ');
  const needs = DEFAULT_CLIENT_SCOPE.split(' ');
  if (!redirectUris.every((uri) => input.redirectUris.includes(uri)) || !needs.every((scope) => scopes.includes(scope))) {
    await updateClient(conn, {
      ...input,
      redirectUris: union(input.redirectUris, redirectUris),
      postLogoutRedirectUris: union(input.postLogoutRedirectUris, postLogoutRedirectUris),
      scope: union(scopes, needs).join(' '),
    });
  }
  if (savedSecret !== undefined && savedSecret === existing.clientSecret) return { clientId, clientSecret: savedSecret, outcome: 'kept' };
  const { clientSecret } = await rotateClientSecret(conn, clientId);
  await save(options.secretFile, clientId, clientSecret);
  return { clientId, clientSecret, outcome: 'rotated' };
}
