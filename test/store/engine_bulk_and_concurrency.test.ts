/**
 * Contract suite (part 3): batched writes (insertMany, bulkWrite; ordered and unordered, with per-document
 * errors) and atomicity under concurrency (conditional consume, counters) — what replay protection and
 * attempt counting rely on.
 */
import { expect } from 'chai';
import { Schema, type Connection, type Model } from 'mongoose';
import { connectFreshDb } from '../helpers/db.ts';

interface CodeDoc { code: string; n?: number; consumedAt?: Date; attempts?: number }
interface BulkErrorLike { code?: number; writeErrors?: Array<{ index: number; code: number }>; result?: { insertedCount?: number } }

describe('store engine contract: bulk writes and concurrency', function () {
  let conn: Connection;
  let Codes: Model<CodeDoc>;

  before(async function () {
    conn = await connectFreshDb('bulk');
    Codes = conn.model<CodeDoc>('BulkCode', new Schema<CodeDoc>({ code: { type: String, unique: true }, n: Number, consumedAt: Date, attempts: Number }), 'bulk_codes');
    await Codes.init();
  });

  after(async function () {
    await conn.close();
  });

  beforeEach(async function () {
    await Codes.deleteMany({});
  });

  it('ordered insertMany stops at the first duplicate and keeps what came before', async function () {
    const err = await Codes.insertMany([{ code: 'a' }, { code: 'b' }, { code: 'a' }, { code: 'c' }]).then(() => undefined, (e: unknown) => e as BulkErrorLike);
    expect(err?.code).to.equal(11000);
    expect((await Codes.find().sort({ code: 1 }).lean()).map((d) => d.code)).to.deep.equal(['a', 'b']);
  });

  it('unordered insertMany inserts everything else and reports each duplicate with its index', async function () {
    const err = await Codes.insertMany([{ code: 'a' }, { code: 'a' }, { code: 'b' }, { code: 'b' }, { code: 'c' }], { ordered: false })
      .then(() => undefined, (e: unknown) => e as BulkErrorLike);
    expect(err?.code).to.equal(11000);
    expect(err?.writeErrors?.map((w) => [w.index, w.code])).to.deep.equal([[1, 11000], [3, 11000]]);
    expect((await Codes.find().sort({ code: 1 }).lean()).map((d) => d.code)).to.deep.equal(['a', 'b', 'c']);
  });

  it('bulkWrite mixes inserts, updates, upserts, replaces and deletes with exact counts', async function () {
    await Codes.insertMany([{ code: 'k1', n: 1 }, { code: 'k2', n: 2 }, { code: 'k3', n: 3 }]);
    const result = await Codes.bulkWrite([
      { insertOne: { document: { code: 'k4', n: 4 } } },
      { updateOne: { filter: { code: 'k1' }, update: { $inc: { n: 10 } } } },
      { updateMany: { filter: { n: { $gte: 3 } }, update: { $set: { attempts: 0 } } } },
      { updateOne: { filter: { code: 'k9' }, update: { $set: { n: 9 } }, upsert: true } },
      { replaceOne: { filter: { code: 'k2' }, replacement: { code: 'k2', n: 20 } } },
      { deleteOne: { filter: { code: 'k3' } } },
    ]);
    expect(result.insertedCount).to.equal(1);
    expect(result.matchedCount).to.equal(1 + 3 + 1);
    expect(result.modifiedCount).to.equal(1 + 3 + 1);
    expect(result.upsertedCount).to.equal(1);
    expect(result.deletedCount).to.equal(1);
    const docs = await Codes.find().sort({ code: 1 }).lean();
    expect(docs.map((d) => [d.code, d.n, d.attempts])).to.deep.equal([
      ['k1', 11, 0], ['k2', 20, undefined], ['k4', 4, 0], ['k9', 9, undefined],
    ]);
  });

  it('unordered bulkWrite keeps going after a failed operation and reports it by index', async function () {
    await Codes.create({ code: 'taken' });
    const err = await Codes.bulkWrite([
      { insertOne: { document: { code: 'taken' } } },
      { insertOne: { document: { code: 'free' } } },
      { updateOne: { filter: { code: 'free' }, update: { $set: { code: 'taken' } } } },
      { deleteOne: { filter: { code: 'taken' } } },
    ], { ordered: false }).then(() => undefined, (e: unknown) => e as BulkErrorLike);
    expect(err?.writeErrors?.map((w) => [w.index, w.code])).to.deep.equal([[0, 11000], [2, 11000]]);
    expect((await Codes.find().lean()).map((d) => d.code)).to.deep.equal(['free']);
  });

  it('of 50 parallel conditional consumes exactly one wins', async function () {
    await Codes.create({ code: 'once' });
    const results = await Promise.all(Array.from({ length: 50 }, () => Codes.findOneAndUpdate(
      { code: 'once', consumedAt: { $exists: false } },
      { $set: { consumedAt: new Date() } },
      { returnDocument: 'after' },
    ).lean()));
    const winners = results.filter((r) => r !== null);
    expect(winners).to.have.length(1);
    expect(winners[0]?.consumedAt).to.be.instanceOf(Date);
  });

  it('50 parallel $inc on one counter add up exactly, and a capped increment never exceeds its cap', async function () {
    await Codes.create([{ code: 'counter', attempts: 0 }, { code: 'capped', attempts: 0 }]);
    await Promise.all(Array.from({ length: 50 }, () => Codes.findOneAndUpdate({ code: 'counter' }, { $inc: { attempts: 1 } })));
    expect((await Codes.findOne({ code: 'counter' }).lean())?.attempts).to.equal(50);
    const capped = await Promise.all(Array.from({ length: 50 }, () => Codes.findOneAndUpdate(
      { code: 'capped', attempts: { $lt: 5 } }, { $inc: { attempts: 1 } }, { returnDocument: 'after' }).lean()));
    expect(capped.filter((r) => r !== null).map((r) => r?.attempts).sort()).to.deep.equal([1, 2, 3, 4, 5]);
    expect((await Codes.findOne({ code: 'capped' }).lean())?.attempts).to.equal(5);
  });

  it('50 parallel upserts on one unique key create exactly one document', async function () {
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => Codes.updateOne(
      { code: 'upsert-race' }, { $setOnInsert: { n: i }, $inc: { attempts: 1 } }, { upsert: true })));
    const failures = outcomes.filter((o) => o.status === 'rejected');
    expect(failures).to.have.length(0);
    const docs = await Codes.find({ code: 'upsert-race' }).lean();
    expect(docs).to.have.length(1);
    expect(docs[0]?.attempts).to.equal(50);
  });
});
