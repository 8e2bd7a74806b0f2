/**
 * Benchmark of the embedded MongoDB-wire engine through mongoose: `findOne` by a unique indexed field at 1k and
 * 100k documents (the ratio shows whether lookups stay O(1) as the collection grows; it must be ≥ 0.8), plus
 * `findOne`/`updateOne` throughput. Run: `node --import tsx bench/engine_lookup.ts` (about a minute).
 * Options: `--rounds N` (default 7), `--round-ms MS` (default 1500), `--concurrency N` (default 8).
 */
import { parseArgs } from 'node:util';
import mongoose, { Schema } from 'mongoose';
import { Catalog } from '../src/store/engine/catalog.ts';
import { runCommand } from '../src/store/engine/commands/index.ts';
import { CursorRegistry } from '../src/store/engine/cursors.ts';
import { startEngine } from '../src/store/engine/index.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '7' }, 'round-ms': { type: 'string', default: '1500' }, concurrency: { type: 'string', default: '8' } },
});
const ROUNDS = Number(values.rounds);
const ROUND_MS = Number(values['round-ms']);
const CONCURRENCY = Number(values.concurrency);

interface BenchDoc { email: string; uid: string; counter: number }
interface Stats { median: number; min: number; max: number }

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}

/** Runs `op` in a closed loop with CONCURRENCY workers for ROUND_MS; returns operations per second. */
async function measure(op: (i: number) => Promise<unknown>): Promise<number> {
  let done = 0;
  const end = performance.now() + ROUND_MS;
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < end) {
      await op(done);
      done += 1;
    }
  }));
  return done / ((performance.now() - start) / 1000);
}

function fmt({ median, min, max }: Stats): string {
  return `${Math.round(median).toLocaleString('en-US')} ops/s (min ${Math.round(min).toLocaleString('en-US')}, max ${Math.round(max).toLocaleString('en-US')})`;
}

/**
 * The same lookup without TCP and driver: commands handed straight to the engine's dispatcher. Less sensitive to
 * machine load than the end-to-end figure, it shows the engine's own cost per indexed lookup.
 */
function inProcessLookups(): Map<number, number[]> {
  const samples = new Map<number, number[]>();
  const engines = [1_000, 100_000].map((size) => {
    const ctx = { catalog: new Catalog(), cursors: new CursorRegistry(), connectionId: 1 };
    runCommand({ createIndexes: 'users', indexes: [{ key: { email: 1 }, name: 'email_1', unique: true }], $db: 'bench' }, ctx);
    for (let start = 0; start < size; start += 10_000) {
      const documents = Array.from({ length: Math.min(10_000, size - start) }, (_, j) => ({ email: `user${start + j}@example.com`, uid: `u${start + j}`, counter: 0 }));
      runCommand({ insert: 'users', documents, $db: 'bench' }, ctx);
    }
    samples.set(size, []);
    return { size, ctx };
  });
  // The 100k collection once more, probed on only 1k distinct keys: as fast as the 1k collection if the cost
  // difference comes from memory locality (cache misses) rather than from the collection's size.
  const big = engines[engines.length - 1] as (typeof engines)[number];
  samples.set(-2, []);
  const runs = [...engines.map(({ size, ctx }) => ({ id: size, keys: size, ctx })), { id: -2, keys: 1_000, ctx: big.ctx }];
  for (let round = 0; round < ROUNDS; round++) {
    for (const { id, keys: size, ctx } of runs) {
      let done = 0;
      const start = performance.now();
      const end = start + ROUND_MS / 3;
      while (performance.now() < end) {
        for (let k = 0; k < 100; k++, done++) {
          const reply = runCommand({ find: 'users', filter: { email: `user${(done * 7919) % size}@example.com` }, limit: 1, singleBatch: true, $db: 'bench' }, ctx);
          if (reply.ok !== 1) throw new Error(JSON.stringify(reply));
        }
      }
      samples.get(id)?.push(done / ((performance.now() - start) / 1000));
    }
  }
  // For contrast: the same lookup by a field without an index scans the collection.
  let scans = 0;
  const scanStart = performance.now();
  while (performance.now() - scanStart < ROUND_MS) {
    runCommand({ find: 'users', filter: { uid: `u${(scans * 7919) % big.size}` }, limit: 1, singleBatch: true, $db: 'bench' }, big.ctx);
    scans += 1;
  }
  samples.set(-1, [scans / ((performance.now() - scanStart) / 1000)]);
  return samples;
}

async function main(): Promise<void> {
  const engine = await startEngine();
  const conn = await mongoose.createConnection(`${engine.uri}/bench`).asPromise();
  const schema = new Schema<BenchDoc>({ email: { type: String, unique: true }, uid: String, counter: Number });
  const sizes = [1_000, 100_000];
  const findSamples = new Map<number, number[]>();
  const updateSamples = new Map<number, number[]>();
  const models = new Map<number, mongoose.Model<BenchDoc>>();
  for (const size of sizes) {
    const Model = conn.model<BenchDoc>(`Bench${size}`, schema, `bench_${size}`);
    await Model.init();
    const t0 = performance.now();
    for (let start = 0; start < size; start += 10_000) {
      const batch = Array.from({ length: Math.min(10_000, size - start) }, (_, j) => ({ email: `user${start + j}@example.com`, uid: `u${start + j}`, counter: 0 }));
      await Model.collection.insertMany(batch, { ordered: false });
    }
    console.log(`loaded ${size.toLocaleString('en-US')} documents in ${Math.round(performance.now() - t0)} ms`);
    models.set(size, Model);
    findSamples.set(size, []);
    updateSamples.set(size, []);
  }
  // Rounds alternate between sizes so that machine noise hits both alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const size of sizes) {
      const Model = models.get(size) as NonNullable<ReturnType<typeof models.get>>;
      const pick = (i: number): string => `user${(i * 7919) % size}@example.com`;
      findSamples.get(size)?.push(await measure(async (i) => {
        const doc = await Model.findOne({ email: pick(i) }).lean();
        if (!doc) throw new Error('lookup missed');
      }));
      updateSamples.get(size)?.push(await measure((i) => Model.updateOne({ email: pick(i) }, { $inc: { counter: 1 } })));
    }
  }
  const find1k = stats(findSamples.get(1_000) ?? []);
  const find100k = stats(findSamples.get(100_000) ?? []);
  console.log(`\nrounds: ${ROUNDS} × ${ROUND_MS} ms, concurrency ${CONCURRENCY}, node ${process.version}`);
  for (const size of sizes) {
    console.log(`findOne by indexed email, ${size.toLocaleString('en-US').padStart(7)} docs: ${fmt(stats(findSamples.get(size) ?? []))}`);
    console.log(`updateOne $inc by email,  ${size.toLocaleString('en-US').padStart(7)} docs: ${fmt(stats(updateSamples.get(size) ?? []))}`);
  }
  const ratio = find100k.median / find1k.median;
  const inProcess = inProcessLookups();
  const engine1k = stats(inProcess.get(1_000) ?? []);
  const engine100k = stats(inProcess.get(100_000) ?? []);
  console.log(`engine only (no TCP/driver) find by email,   1,000 docs: ${fmt(engine1k)}`);
  console.log(`engine only (no TCP/driver) find by email, 100,000 docs: ${fmt(engine100k)}`);
  console.log(`engine only (no TCP/driver) find by email, 100,000 docs, 1k hot keys: ${fmt(stats(inProcess.get(-2) ?? []))}`);
  console.log(`ratio engine-only find 100k/1k (medians): ${(engine100k.median / engine1k.median).toFixed(2)} (hash lookups; compare the hot-key row for the share of cache misses)`);
  console.log(`engine only, find by an UNindexed field, 100,000 docs (full scan, for contrast): ${Math.round(inProcess.get(-1)?.[0] ?? 0).toLocaleString('en-US')} ops/s`);
  console.log(`ratio findOne 100k/1k (medians): ${ratio.toFixed(2)} (required ≥ 0.80) → ${ratio >= 0.8 ? 'PASS' : 'FAIL'}`);
  await conn.close();
  await engine.close();
  if (ratio < 0.8) process.exitCode = 1;
}

await main();
