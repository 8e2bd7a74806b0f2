/**
 * The development seed: a demo shop client and demo customers, so `npm start` with no configuration can be
 * tried at once. Idempotent — safe on every start, never duplicates, and keeps what is already there (the demo
 * client's secret stays stable across restarts; a demo account whose password was changed keeps it).
 * Development data only: the passwords below are public.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import { createAccount, findAccountByEmail, type CompanyRole, type Privilege } from '../accounts/accounts.ts';
import { createCompany, findCompanyByName, type Company } from '../accounts/companies.ts';
import { AppError, isDuplicateKeyError } from '../shared/errors.ts';
import { findClient, saveClient, type ShopClient } from '../provider/clients.ts';
import type { ResourceServerConfig } from '../config/index.ts';

export interface DevSeed {
  client: { clientId: string; clientSecret: string; redirectUris: string[] };
  users: Array<{ email: string; password: string; description: string }>;
}

export const DEMO_CLIENT_ID = 'demo-shop';
export const DEMO_CLIENT_NAME = 'Demo Shop';
export const DEMO_COMPANY_NAME = 'Demo Company GmbH';

/** The example shop (`npm run shop`, `examples/shop/`) at its default address, and its invoice API's resource indicator. */
export const EXAMPLE_SHOP_URL = 'http://localhost:8080';
export const EXAMPLE_SHOP_API = `${EXAMPLE_SHOP_URL}/api`;

/**
 * The APIs of `RESOURCE_SERVERS` with the example shop's invoice API added (JWT access tokens with the `invoice` scope)
 * unless they name it already, so `npm run shop` works against `npm start` without configuration.
 */
export function withExampleShopApi(resourceServers: Readonly<Record<string, ResourceServerConfig>>): Record<string, ResourceServerConfig> {
  if (Object.hasOwn(resourceServers, EXAMPLE_SHOP_API)) return { ...resourceServers };
  return { ...resourceServers, [EXAMPLE_SHOP_API]: { audience: EXAMPLE_SHOP_API, scope: 'invoice', accessTokenFormat: 'jwt' } };
}

interface DemoUser {
  email: string;
  password: string;
  name: string;
  description: string;
  privileges: Privilege[];
  companyRole?: CompanyRole;
}

/** The demo customers; fixed, documented passwords (README lists them too). */
export const DEMO_USERS: readonly DemoUser[] = Object.freeze([
  {
    email: 'customer@example.com',
    password: 'demo-customer',
    name: 'Carla Customer',
    description: 'plain customer, no invoice privilege',
    privileges: [],
  },
  {
    email: 'invoice@example.com',
    password: 'demo-invoice',
    name: 'Ingo Invoice',
    description: 'has the invoice privilege (paying by invoice will ask for a second factor)',
    privileges: ['invoice'],
  },
  {
    email: 'admin@demo-company.example',
    password: 'demo-company-admin',
    name: 'Anna Admin',
    description: `admin of "${DEMO_COMPANY_NAME}" (2FA policy opt_in)`,
    privileges: [],
    companyRole: 'admin',
  },
  {
    email: 'member@demo-company.example',
    password: 'demo-company-member',
    name: 'Max Member',
    description: `member of "${DEMO_COMPANY_NAME}"`,
    privileges: [],
    companyRole: 'member',
  },
]);

/** Runs `create`; when a concurrent start created the same thing first (409), finds it instead. */
async function createOrFind<T>(create: () => Promise<T>, find: () => Promise<T | null>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if (err instanceof AppError && err.status === 409) {
      const found = await find();
      if (found) return found;
    }
    throw err;
  }
}

async function seedCompany(conn: Connection): Promise<Company> {
  const existing = await findCompanyByName(conn, DEMO_COMPANY_NAME);
  if (existing) return existing;
  return createOrFind(
    () => createCompany(conn, { name: DEMO_COMPANY_NAME, mfaPolicy: 'opt_in' }),
    () => findCompanyByName(conn, DEMO_COMPANY_NAME),
  );
}

/** Collection where the seed records the demo client's secret before creating the client. */
const SEED_STATE_COLLECTION = 'dev_seed_state';

/**
 * The demo client's secret, agreed through an insert-only document: when two instances start on one empty
 * database at once, both create the client with the same secret (the first insert wins), so neither prints
 * a secret the other overwrote.
 */
async function agreedClientSecret(conn: Connection): Promise<string> {
  const state = conn.collection<{ _id: string; clientSecret: string }>(SEED_STATE_COLLECTION);
  try {
    const clientSecret = randomBytes(32).toString('base64url');
    await state.insertOne({ _id: DEMO_CLIENT_ID, clientSecret });
    return clientSecret;
  } catch (err) {
    if (!isDuplicateKeyError(err)) throw err;
    const stored = await state.findOne({ _id: DEMO_CLIENT_ID });
    if (!stored) throw err;
    return stored.clientSecret;
  }
}

/**
 * Creates the demo client when missing. An existing one keeps its secret and settings; redirect URIs the
 * caller needs and the client lacks (say the dev port changed) are added to it.
 */
async function seedClient(conn: Connection, redirectUris: string[], postLogoutRedirectUris: string[]): Promise<ShopClient> {
  const existing = await findClient(conn, DEMO_CLIENT_ID);
  if (!existing) {
    return saveClient(conn, {
      clientId: DEMO_CLIENT_ID,
      clientSecret: await agreedClientSecret(conn),
      name: DEMO_CLIENT_NAME,
      redirectUris,
      postLogoutRedirectUris,
      firstParty: true,
      public: false,
    });
  }
  const missing = (have: string[], want: string[]): string[] => want.filter((uri) => !have.includes(uri));
  const newRedirects = missing(existing.redirectUris, redirectUris);
  const newLogouts = missing(existing.postLogoutRedirectUris, postLogoutRedirectUris);
  if (newRedirects.length === 0 && newLogouts.length === 0) return existing;
  const { metadata } = existing;
  return saveClient(conn, {
    clientId: existing.clientId,
    redirectUris: [...existing.redirectUris, ...newRedirects],
    postLogoutRedirectUris: [...existing.postLogoutRedirectUris, ...newLogouts],
    firstParty: existing.firstParty,
    public: existing.public,
    ...(existing.name !== undefined ? { name: existing.name } : {}),
    ...(typeof metadata.scope === 'string' ? { scope: metadata.scope } : {}),
    ...(Array.isArray(metadata.default_acr_values) ? { defaultAcrValues: metadata.default_acr_values as string[] } : {}),
  });
}

/**
 * Idempotent dev seed: the confidential, first-party demo shop client `demo-shop` (redirect URIs given by the
 * caller) and the demo customers of `DEMO_USERS` — a plain customer, an invoice-privileged customer, and the
 * company "Demo Company GmbH" (policy opt_in) with an admin and a member. Returns what start-up prints.
 */
export async function seedDevData(
  conn: Connection,
  options: { shopRedirectUris: string[]; shopPostLogoutRedirectUris?: string[] },
): Promise<DevSeed> {
  const client = await seedClient(conn, options.shopRedirectUris, options.shopPostLogoutRedirectUris ?? []);
  if (client.clientSecret === undefined) {
    throw new AppError('invalid_dev_seed', `The client "${DEMO_CLIENT_ID}" exists as a public client; the demo shop needs a confidential one.`);
  }
  const company = await seedCompany(conn);
  for (const user of DEMO_USERS) {
    if (await findAccountByEmail(conn, user.email)) continue;
    const input = {
      email: user.email,
      password: user.password,
      name: user.name,
      privileges: user.privileges,
      ...(user.companyRole ? { companyId: company.id, companyRole: user.companyRole } : {}),
    };
    await createOrFind(() => createAccount(conn, input), () => findAccountByEmail(conn, user.email));
  }
  return {
    client: { clientId: client.clientId, clientSecret: client.clientSecret, redirectUris: [...client.redirectUris] },
    users: DEMO_USERS.map(({ email, password, description }) => ({ email, password, description })),
  };
}
