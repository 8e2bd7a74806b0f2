/**
 * Shared test database helpers. The mocha root hooks (`root_hooks.ts`) start one embedded engine per run
 * unless `MONGODB_URI` is set; every test file then works in its own fresh database.
 */
import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';

/** True when the suite runs against a real MongoDB given by `MONGODB_URI`. */
export const usingRealMongo: boolean = Boolean(process.env.MONGODB_URI);

let engineUri: string | undefined;

/** Called by the root hooks once the embedded engine listens. */
export function registerEngineUri(uri: string): void {
  engineUri = uri;
}

/** Splits a `mongodb://` URI into its part before the database path and its query string. */
function splitUri(uri: string): { base: string; query: string } {
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?(\?.*)?$/.exec(uri);
  if (!match?.[1]) throw new Error(`not a mongodb:// URI: ${uri}`);
  return { base: match[1], query: match[2] ?? '' };
}

/** The engine's URI or `MONGODB_URI`, without a database name (query options are kept). */
export function mongoBaseUri(): string {
  if (usingRealMongo) {
    const { base, query } = splitUri(process.env.MONGODB_URI as string);
    return `${base}/${query}`.replace(/\/$/, '');
  }
  if (!engineUri) throw new Error('the embedded engine is not running: is test/helpers/root_hooks.ts loaded?');
  return engineUri;
}

/** A database name unique per call: `t_<label>_<random>`, at most 37 characters. */
export function freshDbName(label: string): string {
  const clean = label.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 20) || 'db';
  return `t_${clean}_${randomBytes(6).toString('hex')}`;
}

export interface FreshDbOptions {
  /**
   * Turn on the driver's command monitoring: `conn.getClient()` then emits `commandStarted` / `commandSucceeded` /
   * `commandFailed` for every command (see `mongo_commands.ts`). Default: off.
   */
  monitorCommands?: boolean;
}

/** Connects a new mongoose connection to a fresh database; the caller closes it. */
export async function connectFreshDb(label: string, options: FreshDbOptions = {}): Promise<mongoose.Connection> {
  const { base, query } = splitUri(mongoBaseUri());
  const uri = `${base}/${freshDbName(label)}${query}`;
  return mongoose.createConnection(uri, { serverSelectionTimeoutMS: 5000, ...(options.monitorCommands ? { monitorCommands: true } : {}) }).asPromise();
}

/** Skips the current test (visibly, with a reason) when running against a real MongoDB. */
export function onlyOnEngine(ctx: Mocha.Context): void {
  if (usingRealMongo) skipVisibly(ctx, 'engine only: skipped on real MongoDB');
}

/** Skips the current test (visibly, with a reason) when running against the embedded engine. */
export function onlyOnRealMongo(ctx: Mocha.Context): void {
  if (!usingRealMongo) skipVisibly(ctx, 'real MongoDB only: skipped on the embedded engine');
}

/** Skips with the reason in the test's title (works from a test body and from a `beforeEach` hook). */
function skipVisibly(ctx: Mocha.Context, reason: string): void {
  const test = ctx.currentTest ?? ctx.test;
  if (test && !test.title.endsWith(`(${reason})`)) test.title += ` (${reason})`;
  ctx.skip();
}
