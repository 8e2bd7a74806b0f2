/**
 * The mongoose connection: `MONGODB_URI` when set, otherwise the embedded MongoDB-wire engine on a random
 * loopback port (development and tests only; configuration refuses it in production).
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import mongoose from 'mongoose';
import type { Logger } from '../shared/logger.ts';
import { startEngine, type EmbeddedEngine } from './engine/index.ts';

/** Database name used on the embedded engine. */
export const EMBEDDED_DB_NAME = 'oidc_stepup';

export interface Store {
  conn: mongoose.Connection;
  /** Present when the embedded engine serves the data. */
  engine?: EmbeddedEngine;
  /** `mongodb://…/db` the connection uses (the CLI connects to the same one). */
  uri: string;
  /** Closes the connection, then the embedded engine (which writes its snapshot, if any). */
  close(): Promise<void>;
}

/** Hides the password of a MongoDB URI for logs. */
export function redactMongoUri(uri: string): string {
  return uri.replace(/^(mongodb(?:\+srv)?:\/\/[^:/@]+):[^@]*@/, '$1:***@');
}

export async function connectStore(
  config: { readonly mongodbUri: string | undefined; readonly embeddedDbSnapshot: string | undefined },
  logger: Logger,
): Promise<Store> {
  const log = logger.child({ component: 'store' });
  let engine: EmbeddedEngine | undefined;
  let uri: string;
  if (config.mongodbUri) {
    uri = config.mongodbUri;
  } else {
    if (config.embeddedDbSnapshot) await mkdir(dirname(config.embeddedDbSnapshot), { recursive: true });
    engine = await startEngine({
      host: '127.0.0.1',
      port: 0,
      ...(config.embeddedDbSnapshot ? { snapshotFile: config.embeddedDbSnapshot } : {}),
    });
    uri = `${engine.uri}/${EMBEDDED_DB_NAME}`;
  }

  let conn: mongoose.Connection;
  try {
    conn = await mongoose.createConnection(uri, { serverSelectionTimeoutMS: 10_000 }).asPromise();
  } catch (err) {
    await engine?.close();
    throw err;
  }

  if (engine) {
    log.warn(
      { uri, snapshotFile: config.embeddedDbSnapshot },
      config.embeddedDbSnapshot
        ? `using the embedded MongoDB-wire engine (development only): data is in memory and saved to ${config.embeddedDbSnapshot}`
        : 'using the embedded MongoDB-wire engine (development only): data is in memory and lost when the server stops',
    );
  } else {
    log.info({ uri: redactMongoUri(uri) }, 'connected to MongoDB');
  }

  return {
    conn,
    uri,
    ...(engine ? { engine } : {}),
    async close() {
      try {
        await conn.close();
      } finally {
        await engine?.close();
      }
    },
  };
}
