/**
 * The embedded MongoDB-wire engine: an in-process server that unmodified mongoose (and its bundled driver)
 * connects to with `mongodb://127.0.0.1:PORT/db`. Data lives in memory (optionally snapshotted to a file for
 * development); see its README.md. Production deployments use a real MongoDB through `MONGODB_URI`.
 */
import { Catalog } from './catalog.ts';
import { runCommand } from './commands/index.ts';
import type { EngineControls } from './commands/context.ts';
import { CursorRegistry } from './cursors.ts';
import { WireServer } from './server.ts';
import { loadSnapshot, saveSnapshot } from './snapshot.ts';
import { DEFAULT_TTL_SWEEP_MS, sweepExpired } from './ttl.ts';

export interface EngineOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** TCP port; `0` or unset picks a free port. */
  port?: number;
  /** Dev only: load from and save to this file. */
  snapshotFile?: string;
  /**
   * Interval of the TTL sweep in milliseconds. Default 60000 (MongoDB's TTL monitor period). Clients change it
   * with `setParameter: 1, ttlMonitorSleepSecs: N` on the admin database, as on mongod.
   */
  ttlSweepMs?: number;
}

export interface EmbeddedEngine {
  /** `mongodb://127.0.0.1:PORT`, without a database name. */
  readonly uri: string;
  readonly port: number;
  close(): Promise<void>;
}

/** How often a changed catalog is written to the snapshot file. */
const SNAPSHOT_INTERVAL_MS = 1000;

/** Starts an engine listening on loopback (or `options.host`). Refused when `NODE_ENV=production`. */
export async function startEngine(options: EngineOptions = {}): Promise<EmbeddedEngine> {
  const { host = '127.0.0.1', port = 0, snapshotFile, ttlSweepMs = DEFAULT_TTL_SWEEP_MS } = options;
  if (process.env.NODE_ENV === 'production') {
    throw new Error('the embedded MongoDB-wire engine refuses to start with NODE_ENV=production: set MONGODB_URI to a real MongoDB');
  }
  if (!Number.isFinite(ttlSweepMs) || ttlSweepMs <= 0) throw new Error(`ttlSweepMs must be a positive number, got ${ttlSweepMs}`);
  const catalog = new Catalog();
  if (snapshotFile) loadSnapshot(snapshotFile, catalog);
  const cursors = new CursorRegistry();
  let closed = false;
  let sweepMs = ttlSweepMs;
  const sweepOnce = (): void => {
    const now = Date.now();
    sweepExpired(catalog, now);
    cursors.expire(now);
  };
  let sweep = setInterval(sweepOnce, sweepMs);
  sweep.unref();
  const engine: EngineControls = {
    startedAt: Date.now(),
    connections: () => server.connections(),
    ttlSweepMs: () => sweepMs,
    setTtlSweepMs(ms) {
      if (closed) return;
      sweepMs = ms;
      clearInterval(sweep);
      sweep = setInterval(sweepOnce, sweepMs);
      sweep.unref();
    },
  };
  const server: WireServer = new WireServer(
    (cmd, connectionId, legacyDb) => runCommand(cmd, { catalog, cursors, connectionId, engine }, legacyDb),
    (message) => { if (process.env.ENGINE_DEBUG) console.error(`[engine] ${message}`); },
  );
  const listeningPort = await server.listen(port, host);
  let savedVersion = catalog.version;
  const save = (): void => {
    if (!snapshotFile || catalog.version === savedVersion) return;
    savedVersion = catalog.version;
    saveSnapshot(snapshotFile, catalog);
  };
  // A failed periodic save (disk full, directory gone) must not crash the process; close() retries and throws.
  const saveQuietly = (): void => {
    try {
      save();
    } catch (err) {
      savedVersion = -1;
      console.error(`[engine] snapshot to ${snapshotFile} failed: ${(err as Error).message}`);
    }
  };
  const snapshotTimer = snapshotFile ? setInterval(saveQuietly, SNAPSHOT_INTERVAL_MS) : undefined;
  snapshotTimer?.unref();
  const hostInUri = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    uri: `mongodb://${hostInUri}:${listeningPort}`,
    port: listeningPort,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweep);
      if (snapshotTimer) clearInterval(snapshotTimer);
      await server.close();
      save();
    },
  };
}
