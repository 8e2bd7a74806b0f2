/**
 * `npm run mongo`: the embedded engine as a standalone dev database, so the server, the CLI, mongosh or a GUI can
 * share one database. Prints its `mongodb://` URI and serves until SIGINT/SIGTERM.
 *
 * Flags (or environment): `--port N` (`ENGINE_PORT`, default 27017; 0 picks a free port), `--host H`
 * (`ENGINE_HOST`, default 127.0.0.1), `--snapshot FILE` (`ENGINE_SNAPSHOT`) to keep data across restarts.
 * Refuses to run with `NODE_ENV=production`: production uses a real MongoDB.
 */
import { parseArgs } from 'node:util';
import { startEngine } from './index.ts';

const USAGE = 'usage: npm run mongo -- [--port N] [--host 127.0.0.1] [--snapshot FILE]';

async function main(): Promise<number> {
  if (process.env.NODE_ENV === 'production') {
    console.error('refusing to start the embedded MongoDB-wire engine with NODE_ENV=production: set MONGODB_URI to a real MongoDB');
    return 1;
  }
  let values: { port?: string; host?: string; snapshot?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { port: { type: 'string' }, host: { type: 'string' }, snapshot: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const portText = values.port ?? process.env.ENGINE_PORT ?? '27017';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    console.error(`invalid port '${portText}'\n${USAGE}`);
    return 2;
  }
  const snapshotFile = values.snapshot ?? process.env.ENGINE_SNAPSHOT;
  const engine = await startEngine({ port, host: values.host ?? process.env.ENGINE_HOST ?? '127.0.0.1', ...(snapshotFile ? { snapshotFile } : {}) });
  console.log(engine.uri);
  console.error(snapshotFile
    ? `embedded MongoDB-wire engine: data in memory, snapshotted to ${snapshotFile}`
    : 'embedded MongoDB-wire engine: data in memory only (lost when this process stops)');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await engine.close();
  return 0;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  console.error(`embedded engine failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
