/**
 * Which database the CLI works on: `MONGODB_URI` when set, otherwise the embedded engine of a running dev
 * server, whose URI the server writes to `${DATA_DIR:-.data}/embedded-mongo.uri` and removes on shutdown.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import mongoose, { type Connection } from 'mongoose';
import { CliFailure } from './io.ts';

export const NO_DATABASE_MESSAGE = 'No database: set MONGODB_URI, or start the dev server (npm start) and run this again.';
export const ENGINE_URI_FILE = 'embedded-mongo.uri';

export interface DatabaseTarget {
  uri: string;
  /** Where the URI came from, for messages. */
  source: 'MONGODB_URI' | 'dev server';
}

/** Finds the database to use, or fails with `NO_DATABASE_MESSAGE`. */
export async function resolveDatabase(env: Readonly<Record<string, string | undefined>>, cwd: string): Promise<DatabaseTarget> {
  const fromEnv = env.MONGODB_URI?.trim();
  if (fromEnv) return { uri: fromEnv, source: 'MONGODB_URI' };
  const dataDir = env.DATA_DIR?.trim() || '.data';
  let text: string;
  try {
    text = await readFile(resolve(cwd, dataDir, ENGINE_URI_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliFailure(NO_DATABASE_MESSAGE);
    throw err;
  }
  const uri = text.trim();
  if (!uri) throw new CliFailure(NO_DATABASE_MESSAGE);
  return { uri, source: 'dev server' };
}

/** The URI with any password hidden, for messages. */
export function redactUri(uri: string): string {
  return uri.replace(/\/\/([^@/]*)@/, (_match, userinfo: string) => `//${userinfo.split(':')[0]}:***@`);
}

/** Opens a connection, turning "cannot reach the server" into a plain message. */
export async function connectDatabase(target: DatabaseTarget): Promise<Connection> {
  const conn = mongoose.createConnection(target.uri, { serverSelectionTimeoutMS: 5000 });
  try {
    return await conn.asPromise();
  } catch (err) {
    await conn.close().catch(() => undefined);
    const reason = err instanceof Error ? err.message : String(err);
    const hint = target.source === 'dev server' ? ' Is the dev server (npm start) still running?' : '';
    throw new CliFailure(`Cannot connect to the database at ${redactUri(target.uri)}: ${reason}.${hint}`);
  }
}
