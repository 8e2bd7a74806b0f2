/**
 * Mocha root-hook plugin: one embedded MongoDB-wire engine per test run, unless `MONGODB_URI` points the suite
 * at a real MongoDB. Test files get their own database through `connectFreshDb` in `db.ts`.
 */
import { startEngine, type EmbeddedEngine } from '../../src/store/engine/index.ts';
import { registerEngineUri, usingRealMongo } from './db.ts';

let engine: EmbeddedEngine | undefined;

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    if (usingRealMongo || engine) return;
    engine = await startEngine({ ttlSweepMs: 100 });
    registerEngineUri(engine.uri);
  },
  async afterAll(): Promise<void> {
    const running = engine;
    engine = undefined;
    await running?.close();
  },
};
