/**
 * The baseline of `npm run bench:flows`: plain oidc-provider 9 as its own documentation sets it up — a login page that
 * checks the password, no step-up, no second factor — on the same database (the same adapter, `MONGODB_URI`) with the
 * same password hash and the same accounts and shop client as the product. Listens on `PORT` and prints
 * `listening` when ready.
 *
 * `PLAIN_ADAPTER=memory`: oidc-provider's own in-memory adapter instead (what its documentation starts with, and the
 * cost of oidc-provider without a database); the accounts are still read from MongoDB and the shop's client is
 * read from it once, at the start. Its store holds a million entries instead of the quick start's thousand, which the
 * bench's sign-ins would overflow, evicting the refresh tokens of the refresh flow.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import mount from 'koa-mount';
import mongoose from 'mongoose';
import Provider, { type Adapter, type ClientMetadata, type Configuration } from 'oidc-provider';
import { findAccountById, verifyLogin } from '../../src/accounts/accounts.ts';
import { createMongoAdapter } from '../../src/provider/adapter.ts';
import { loadOrCreateDevKeys } from '../../src/provider/keys.ts';

const issuer = process.env.ISSUER as string;
const conn = await mongoose.createConnection(process.env.MONGODB_URI as string).asPromise();
const keys = await loadOrCreateDevKeys(conn);

const inMemory = process.env.PLAIN_ADAPTER === 'memory';
const shopClients = inMemory ? await conn.db?.collection<{ payload: ClientMetadata }>('oidc_clients').find().toArray() ?? [] : [];

/** oidc-provider's memory adapter (`lib/adapters/memory_adapter.js`) on its own LRU store, given a larger bound. */
async function largeMemoryAdapter(): Promise<(model: string) => Adapter> {
  type MemoryAdapterClass = new (model: string, store: unknown, clockTolerance: number) => Adapter;
  type LruClass = new (options: { maxSize: number }) => unknown;
  const adapterModule: string = 'oidc-provider/lib/adapters/memory_adapter.js';
  const lruModule: string = 'oidc-provider/lib/helpers/lru.js';
  const { default: MemoryAdapter } = await import(adapterModule) as { default: MemoryAdapterClass };
  const { default: Lru } = await import(lruModule) as { default: LruClass };
  const store = new Lru({ maxSize: 1_000_000 });
  return (model) => new MemoryAdapter(model, store, 0);
}

const configuration: Configuration = {
  ...(inMemory ? { clients: shopClients.map((doc) => doc.payload), adapter: await largeMemoryAdapter() } : { adapter: createMongoAdapter(conn) }),
  jwks: keys.jwks,
  cookies: { keys: keys.cookieKeys },
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The shop's registered scopes (the baseline grants `invoice` like any scope: it has no step-up).
  scopes: ['openid', 'offline_access', 'email', 'profile', 'invoice', 'invoice_eligibility'],
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/plain/${interaction.uid}` },
  loadExistingGrant: async (ctx) => {
    // A first-party shop: every requested scope is granted without a consent page (what the product does too).
    const { session, client, params } = ctx.oidc;
    if (!session?.accountId || !client) return undefined;
    const grant = new ctx.oidc.provider.Grant({ accountId: session.accountId, clientId: client.clientId });
    grant.addOIDCScope(String(params?.scope ?? 'openid'));
    await grant.save();
    return grant;
  },
  findAccount: async (_ctx, sub) => {
    const account = await findAccountById(conn, sub);
    if (!account || account.status !== 'active') return undefined;
    return { accountId: account.id, claims: () => ({ sub: account.id, email: account.email, email_verified: false, name: account.name }) };
  },
};

const provider = new Provider(issuer, configuration);
const pages = new Router();
pages.get('/plain/:uid', async (ctx) => {
  const { uid, prompt, params, session, grantId } = await provider.interactionDetails(ctx.req, ctx.res);
  if (prompt.name === 'consent' && session?.accountId) {
    // `prompt=consent` (how a shop asks for a refresh token): the first-party shop's grant is given without a page.
    const grant = (grantId ? await provider.Grant.find(grantId) : undefined)
      ?? new provider.Grant({ accountId: session.accountId, clientId: String(params.client_id) });
    const missing = (prompt.details as { missingOIDCScope?: string[] }).missingOIDCScope;
    if (missing) grant.addOIDCScope(missing.join(' '));
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    return;
  }
  ctx.type = 'html';
  ctx.body = `<form method="post" action="/plain/${uid}/login"><input name="email"><input name="password" type="password"><button>Sign in</button></form>`;
});
pages.post('/plain/:uid/login', bodyParser({ enableTypes: ['form'] }), async (ctx) => {
  const { email, password } = ctx.request.body as { email?: string; password?: string };
  const account = await verifyLogin(conn, String(email ?? ''), String(password ?? ''));
  if (!account) {
    ctx.status = 401;
    ctx.body = 'wrong email or password';
    return;
  }
  await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: account.id } }, { mergeWithLastSubmission: false });
});

const app = new Koa();
// The provider, mounted, signs its cookies through this app's context.
app.keys = keys.cookieKeys;
app.use(pages.routes());
app.use(mount(provider));
const handle = app.callback();
const server = createServer((req, res) => {
  void handle(req, res);
});
server.listen(Number(process.env.PORT), '127.0.0.1');
await once(server, 'listening');
process.stdout.write('listening\n');
