/**
 * Contract suite (part 5): what the engine refuses. Errors a real MongoDB raises the same way run on both; the
 * refusals of features the engine does not implement (where MongoDB would answer) are engine-only.
 */
import { expect } from 'chai';
import mongoose, { type Connection } from 'mongoose';
import { connectFreshDb, onlyOnEngine } from '../helpers/db.ts';

interface ServerErrorLike { name?: string; code?: number; codeName?: string; message: string; originalError?: { code?: number } }

async function failure(promise: Promise<unknown>): Promise<ServerErrorLike> {
  try {
    await promise;
  } catch (err) {
    return err as ServerErrorLike;
  }
  throw new Error('expected the operation to fail');
}

describe('store engine contract: errors and refusals', function () {
  let conn: Connection;
  let db: mongoose.mongo.Db;

  before(async function () {
    conn = await connectFreshDb('strict');
    db = conn.db as mongoose.mongo.Db;
    await db.collection('items').insertMany([{ _id: 'i1' as never, n: 1, s: 'text', d: mongoose.mongo.Decimal128.fromString('1.5'), a: 5 }]);
  });

  after(async function () {
    await conn.close();
  });

  describe('errors MongoDB raises too', function () {
    it('an unknown command fails with CommandNotFound (59)', async function () {
      const err = await failure(db.command({ frobnicate: 1 }));
      expect(err.code).to.equal(59);
      expect(err.message).to.contain("no such command: 'frobnicate'");
    });

    it('accepts the informational fields drivers add (comment, readConcern, writeConcern, maxTimeMS, apiVersion)', async function () {
      const found = await db.command({ find: 'items', filter: { _id: 'i1' }, comment: 'why', readConcern: { level: 'local' }, maxTimeMS: 5000, apiVersion: '1' });
      expect(found.cursor.firstBatch.map((d: { _id: string }) => d._id)).to.deep.equal(['i1']);
      const written = await db.command({ insert: 'items', documents: [{ _id: 'i2', n: 2 }], writeConcern: { w: 1 }, comment: { by: 'test' } });
      expect(written).to.include({ ok: 1, n: 1 });
      await db.collection('items').deleteOne({ _id: 'i2' as never });
    });

    it('an unknown command field fails with 40415', async function () {
      const err = await failure(db.command({ find: 'items', filter: {}, frobnicate: true }));
      expect(err.code).to.equal(40415);
      expect(err.message).to.contain("BSON field 'find.frobnicate' is an unknown field.");
    });

    it('an unknown query operator fails with BadValue (2)', async function () {
      const err = await failure(db.collection('items').find({ n: { $frob: 1 } }).toArray());
      expect(err.code).to.equal(2);
      expect(err.message).to.contain('unknown operator: $frob');
    });

    it('an unknown update operator fails with FailedToParse (9)', async function () {
      const err = await failure(db.collection('items').updateOne({ _id: 'i1' as never }, { $frob: { n: 1 } } as never));
      expect(err.code).to.equal(9);
      expect(err.message).to.contain('Unknown modifier: $frob');
    });

    it('$inc on a string fails with TypeMismatch (14) and changes nothing', async function () {
      const err = await failure(db.collection('items').updateOne({ _id: 'i1' as never }, { $inc: { s: 1, n: 1 } }));
      expect(err.code).to.equal(14);
      expect((await db.collection('items').findOne({ _id: 'i1' as never }))?.n).to.equal(1);
    });

    it('array operators on a non-array field fail ($push 2, $pull 2, $pop 14) and change nothing', async function () {
      const items = db.collection('items');
      expect((await failure(items.updateOne({ _id: 'i1' as never }, { $push: { s: 'x' } } as never))).code).to.equal(2);
      expect((await failure(items.updateOne({ _id: 'i1' as never }, { $pull: { s: 'x' } } as never))).code).to.equal(2);
      expect((await failure(items.updateOne({ _id: 'i1' as never }, { $pop: { s: 1 } } as never))).code).to.equal(14);
      expect((await items.findOne({ _id: 'i1' as never }))?.s).to.equal('text');
    });

    it('$pop takes only 1 or -1, fails through a scalar and is a no-op on a missing path', async function () {
      const raw = db.collection('pops');
      await raw.insertOne({ _id: 0 as never, a: { b: 1 }, list: [1, 2, 3] });
      expect((await failure(raw.updateOne({ _id: 0 as never }, { $pop: { list: 2 } } as never))).code).to.equal(9);
      await failure(raw.updateOne({ _id: 0 as never }, { $pop: { 'a.b.c': 1 } } as never));
      const noop = await raw.updateOne({ _id: 0 as never }, { $pop: { 'a.x': 1 } } as never);
      expect([noop.matchedCount, noop.modifiedCount]).to.deep.equal([1, 0]);
      await raw.updateOne({ _id: 0 as never }, { $pop: { list: -1 } } as never);
      expect(await raw.findOne({ _id: 0 as never })).to.deep.equal({ _id: 0, a: { b: 1 }, list: [2, 3] });
    });

    it('array filters must match the identifiers used: a missing one fails (2), an unused one fails (9)', async function () {
      const items = db.collection('items');
      const missing = await failure(items.updateOne({ _id: 'i1' as never }, { $set: { 'list.$[x]': 1 } }, { arrayFilters: [{ y: 1 }] }));
      expect(missing.code).to.equal(2);
      const unused = await failure(items.updateOne({ _id: 'i1' as never }, { $set: { n: 1 } }, { arrayFilters: [{ y: 1 }] }));
      expect(unused.code).to.equal(9);
    });

    it('creating a field inside a scalar fails with PathNotViable (28)', async function () {
      const err = await failure(db.collection('items').updateOne({ _id: 'i1' as never }, { $set: { 'a.b': 1 } }));
      expect(err.code).to.equal(28);
    });

    it('two operators on one path fail with ConflictingUpdateOperators (40)', async function () {
      const err = await failure(db.collection('items').updateOne({ _id: 'i1' as never }, { $set: { n: 5 }, $inc: { n: 1 } }));
      expect(err.code).to.equal(40);
    });

    it('an unknown aggregation stage fails with 40324', async function () {
      const err = await failure(db.collection('items').aggregate([{ $frobnicate: {} }]).toArray());
      expect(err.code).to.equal(40324);
    });

    it('compares across types in $expr by BSON order (numbers < strings < ObjectId)', async function () {
      const raw = db.collection('expr_mixed');
      await raw.insertMany([{ _id: 1 as never, v: 5 }, { _id: 2 as never, v: 'str' }, { _id: 3 as never, v: new mongoose.mongo.ObjectId() }, { _id: 4 as never }]);
      const ids = (await raw.find({ $expr: { $gt: ['$v', 10] } }).sort({ _id: 1 }).toArray()).map((d) => d._id);
      expect(ids).to.deep.equal([2, 3]);
    });

    it('projects the matched array element with a positional projection', async function () {
      const raw = db.collection('positional');
      await raw.insertOne({ _id: 'p' as never, list: [{ k: 1 }, { k: 2 }, { k: 3 }] });
      const doc = await raw.findOne({ 'list.k': 2 }, { projection: { 'list.$': 1 } });
      expect(doc).to.deep.equal({ _id: 'p', list: [{ k: 2 }] });
    });

    it('counts documents holding Decimal128 values', async function () {
      expect(await db.collection('items').countDocuments({ _id: 'i1' as never })).to.equal(1);
    });

    it('a hint naming no index fails with BadValue (2)', async function () {
      const err = await failure(db.collection('items').find({}).hint('nope_1').toArray());
      expect(err.code).to.equal(2);
      expect(err.message).to.contain('hint provided does not correspond to an existing index');
    });

    it('getMore on an unknown cursor fails with CursorNotFound (43)', async function () {
      const err = await failure(db.command({ getMore: mongoose.mongo.Long.fromNumber(123456789), collection: 'items' }));
      expect(err.code).to.equal(43);
    });

    it('listIndexes of a missing collection fails with NamespaceNotFound (26)', async function () {
      const err = await failure(db.collection('does_not_exist').listIndexes().toArray());
      expect(err.code).to.equal(26);
    });

    it('creating an existing collection fails with NamespaceExists (48)', async function () {
      await db.createCollection('made_twice');
      const err = await failure(db.createCollection('made_twice'));
      expect(err.code).to.equal(48);
    });
  });

  describe('features the engine refuses instead of answering differently', function () {
    beforeEach(function () {
      onlyOnEngine(this);
    });

    it('a command MongoDB has and the engine does not run (explain, collMod) fails with NotImplemented (238) naming it', async function () {
      for (const command of [{ explain: { find: 'items', filter: {} } }, { collMod: 'items', index: { name: '_id_', hidden: true } }]) {
        const err = await failure(db.command(command));
        expect(err.code).to.equal(238);
        expect(err.message).to.contain(`the command '${Object.keys(command)[0]}' is not supported by the embedded engine`);
      }
    });

    it('transaction fields are refused with IllegalOperation (20), and the driver refuses transactions', async function () {
      const err = await failure(db.command({ insert: 'items', documents: [{ n: 2 }], txnNumber: mongoose.mongo.Long.fromNumber(1), startTransaction: true, autocommit: false }));
      expect(err.code).to.equal(20);
      expect(err.message).to.contain('Transaction numbers are only allowed on a replica set member or mongos');
      const session = conn.getClient().startSession();
      try {
        const driverErr = await failure(session.withTransaction(async () => {
          await db.collection('items').insertOne({ n: 2 }, { session });
        }));
        // The driver rewords code 20 on writes as "does not support retryable writes" and keeps the server's error.
        expect(driverErr.originalError?.code ?? driverErr.code).to.equal(20);
      } finally {
        await session.endSession();
      }
      expect(await db.collection('items').countDocuments({ n: 2 })).to.equal(0);
    });

    it('collation is refused with NotImplemented (238)', async function () {
      const err = await failure(db.collection('items').find({ s: 'TEXT' }, { collation: { locale: 'en', strength: 2 } }).toArray());
      expect(err.code).to.equal(238);
      expect(err.message).to.contain('collation');
    });

    it('$where is refused', async function () {
      const err = await failure(db.collection('items').find({ $where: 'this.n > 0' }).toArray());
      expect(err.code).to.equal(238);
    });

    it('sorting or range-filtering Decimal128 values is refused', async function () {
      const sortErr = await failure(db.collection('items').find({}).sort({ d: 1 }).toArray());
      expect(sortErr.code).to.equal(238);
      const rangeErr = await failure(db.collection('items').find({ d: { $gt: mongoose.mongo.Decimal128.fromString('1') } }).toArray());
      expect(rangeErr.code).to.equal(238);
    });

    it('comparing a Decimal128 field with a number is refused', async function () {
      expect((await failure(db.collection('items').find({ d: 1.5 }).toArray())).code).to.equal(238);
      expect((await failure(db.collection('items').find({ d: { $in: [1.5, 2] } }).toArray())).code).to.equal(238);
    });

    it('computed aggregation stages over long or whole-number double values are refused; $match, $sort and counts work', async function () {
      const typed = db.collection('typed_numbers');
      await typed.insertMany([{ _id: 'l', n: mongoose.mongo.Long.fromNumber(3) }, { _id: 'd', n: new mongoose.mongo.Double(4) }] as never);
      const err = await failure(typed.aggregate([{ $group: { _id: null, total: { $sum: '$n' } } }]).toArray());
      expect(err.code).to.equal(238);
      expect(err.message).to.contain('64-bit long values');
      const sorted = await typed.aggregate([{ $match: { n: { $gte: 3 } } }, { $sort: { n: -1 } }]).toArray();
      expect(sorted.map((doc) => doc._id)).to.deep.equal(['d', 'l']);
      expect(await typed.countDocuments({ n: { $type: 'long' } })).to.equal(1);
      const pipelineErr = await failure(typed.updateOne({ _id: 'd' as never }, [{ $set: { m: { $add: ['$n', 1] } } }]));
      expect(pipelineErr.code).to.equal(238);
    });

    it('a positional $ whose array the query tests only inside $or is refused', async function () {
      const raw = db.collection('positional_or');
      await raw.insertOne({ _id: 'o' as never, list: [{ a: 1 }, { a: 2 }] });
      const err = await failure(raw.updateOne({ $or: [{ 'list.a': 2 }, { x: 1 }] }, { $set: { 'list.$.a': 3 } }));
      expect(err.code).to.equal(238);
      expect(err.message).to.contain('positional');
    });

    it('queries on fields named __proto__ are refused', async function () {
      const err = await failure(db.collection('items').find({ '__proto__.x': 1 }).toArray());
      expect(err.code).to.equal(238);
      expect(err.message).to.contain('__proto__');
    });

    it('setParameter of anything but ttlMonitorSleepSecs is refused', async function () {
      const err = await failure(db.admin().command({ setParameter: 1, notablescan: true }));
      expect(err.code).to.equal(238);
      expect(err.message).to.contain('notablescan');
    });

    it('aggregating over Decimal128 values is refused (mingo does not add or compare them)', async function () {
      const err = await failure(db.collection('items').aggregate([{ $group: { _id: null, total: { $sum: '$d' } } }]).toArray());
      expect(err.code).to.equal(238);
    });

    it('$where inside a $pull condition is refused', async function () {
      const err = await failure(db.collection('items').updateOne({ _id: 'i1' as never }, { $pull: { list: { $where: 'true' } } } as never));
      expect(err.code).to.equal(238);
    });

    it('a $slice projection without included fields is refused', async function () {
      const err = await failure(db.collection('items').find({}, { projection: { list: { $slice: 1 } } }).toArray());
      expect(err.code).to.equal(238);
    });

    it('an unknown expression operator fails with InvalidPipelineOperator (168)', async function () {
      await db.collection('plain').insertOne({ n: 1 });
      const err = await failure(db.collection('plain').aggregate([{ $project: { z: { $frob: 1 } } }]).toArray());
      expect(err.code).to.equal(168);
      expect(err.message).to.contain("Unrecognized expression '$frob'");
    });

    it('$type aliases of deprecated types the engine does not keep (undefined, symbol, dbPointer) are refused', async function () {
      for (const alias of ['undefined', 'symbol', 'dbPointer', 6]) {
        const err = await failure(db.collection('items').find({ n: { $type: alias } }).toArray());
        expect(err.code).to.equal(238);
      }
    });

    it('change streams are refused', async function () {
      const err = await failure(db.collection('items').aggregate([{ $changeStream: {} }]).toArray());
      expect(err.code).to.equal(238);
    });

    it('capped collections and validators are refused', async function () {
      expect((await failure(db.createCollection('capped_one', { capped: true, size: 1024 }))).code).to.equal(238);
      expect((await failure(db.createCollection('validated', { validator: { n: { $type: 'number' } } }))).code).to.equal(238);
    });

    it('text indexes are refused', async function () {
      const err = await failure(db.collection('items').createIndex({ s: 'text' }));
      expect(err.code).to.equal(67);
    });
  });
});
