/**
 * Contract suite (part 2): indexes as the product relies on them — unique (single, compound, sparse, partial)
 * enforced on every write path with MongoDB's E11000 error, index management through mongoose, TTL.
 */
import { expect } from 'chai';
import { Schema, type Connection, type Model } from 'mongoose';
import { connectFreshDb } from '../helpers/db.ts';

interface MongoErrorLike { name: string; code: number; message: string; keyValue?: Record<string, unknown>; keyPattern?: Record<string, unknown> }

async function failure(promise: Promise<unknown>): Promise<MongoErrorLike> {
  try {
    await promise;
  } catch (err) {
    return err as MongoErrorLike;
  }
  throw new Error('expected the operation to fail');
}

describe('store engine contract: indexes', function () {
  let conn: Connection;

  before(async function () {
    conn = await connectFreshDb('indexes');
  });

  after(async function () {
    await conn.close();
  });

  describe('a unique index', function () {
    let Users: Model<{ email?: string; n?: number }>;

    before(async function () {
      Users = conn.model<{ email?: string; n?: number }>('UniqueUser', new Schema<{ email?: string; n?: number }>({ email: { type: String, unique: true }, n: Number }), 'unique_users');
      await Users.init();
    });

    beforeEach(async function () {
      await Users.deleteMany({});
    });

    it('rejects a duplicate insert with MongoServerError 11000 naming the index and key', async function () {
      await Users.create({ email: 'dup@x' });
      const err = await failure(Users.create({ email: 'dup@x' }));
      expect(err.name).to.equal('MongoServerError');
      expect(err.code).to.equal(11000);
      expect(err.message).to.match(/^E11000 duplicate key error collection: t_indexes_\w+\.unique_users index: email_1 dup key: \{ email: "dup@x" \}$/);
      expect(err.keyValue).to.deep.equal({ email: 'dup@x' });
      expect(err.keyPattern).to.deep.equal({ email: 1 });
      expect(await Users.countDocuments()).to.equal(1);
    });

    it('rejects an update that would duplicate a key and leaves the document unchanged', async function () {
      await Users.create([{ email: 'a@x', n: 1 }, { email: 'b@x', n: 2 }]);
      const err = await failure(Users.updateOne({ email: 'b@x' }, { $set: { email: 'a@x', n: 3 } }));
      expect(err.code).to.equal(11000);
      const b = await Users.findOne({ n: 2 }).lean();
      expect(b?.email).to.equal('b@x');
      expect(await Users.countDocuments({ n: 3 })).to.equal(0);
    });

    it('rejects an upsert that would insert a duplicate', async function () {
      await Users.create({ email: 'taken@x', n: 1 });
      const err = await failure(Users.updateOne({ n: 99 }, { $set: { email: 'taken@x' } }, { upsert: true }));
      expect(err.code).to.equal(11000);
      expect(await Users.countDocuments()).to.equal(1);
    });

    it('rejects findOneAndUpdate that would duplicate a key (update and upsert)', async function () {
      await Users.create([{ email: 'f1@x', n: 1 }, { email: 'f2@x', n: 2 }]);
      const err = await failure(Users.findOneAndUpdate({ n: 2 }, { $set: { email: 'f1@x' } }, { returnDocument: 'after' }));
      expect(err.code).to.equal(11000);
      expect(err.keyValue).to.deep.equal({ email: 'f1@x' });
      const err2 = await failure(Users.findOneAndUpdate({ n: 3 }, { $set: { email: 'f2@x' } }, { upsert: true }));
      expect(err2.code).to.equal(11000);
      expect(await Users.countDocuments()).to.equal(2);
    });

    it('rejects a duplicate _id', async function () {
      const raw = conn.collection('ids');
      await raw.insertOne({ _id: 'same' as never });
      const err = await failure(raw.insertOne({ _id: 'same' as never }));
      expect(err.code).to.equal(11000);
      expect(err.message).to.contain('index: _id_ dup key: { _id: "same" }');
    });

    it('treats two documents without the field as duplicates (null)', async function () {
      await Users.create({ n: 1 });
      const err = await failure(Users.create({ n: 2 }));
      expect(err.code).to.equal(11000);
      expect(err.message).to.contain('dup key: { email: null }');
    });

    it('cannot be built over existing duplicates', async function () {
      const raw = conn.collection('prebuilt');
      await raw.insertMany([{ code: 'x' }, { code: 'x' }]);
      const err = await failure(raw.createIndex({ code: 1 }, { unique: true }));
      expect(err.code).to.equal(11000);
      const names = (await raw.listIndexes().toArray()).map((i) => i.name);
      expect(names).to.deep.equal(['_id_']);
    });
  });

  it('enforces a compound unique index on the combination only', async function () {
    const Members = conn.model('CompoundMember', new Schema({ company: String, email: String })
      .index({ company: 1, email: 1 }, { unique: true }), 'compound_members');
    await Members.init();
    await Members.create([{ company: 'a', email: 'x@x' }, { company: 'b', email: 'x@x' }, { company: 'a', email: 'y@x' }]);
    const err = await failure(Members.create({ company: 'a', email: 'x@x' }));
    expect(err.code).to.equal(11000);
    expect(err.message).to.contain('index: company_1_email_1 dup key: { company: "a", email: "x@x" }');
    expect(err.keyValue).to.deep.equal({ company: 'a', email: 'x@x' });
    expect(await Members.countDocuments()).to.equal(3);
  });

  it('lets a sparse unique index skip documents without the field', async function () {
    const Phones = conn.model('SparsePhone', new Schema({ name: String, phone: { type: String, unique: true, sparse: true } }), 'sparse_phones');
    await Phones.init();
    await Phones.create([{ name: 'a' }, { name: 'b' }, { name: 'c', phone: '123' }]);
    const err = await failure(Phones.create({ name: 'd', phone: '123' }));
    expect(err.code).to.equal(11000);
    expect(await Phones.countDocuments()).to.equal(3);
  });

  it('applies a partial unique index only to documents matching its filter', async function () {
    const Codes = conn.model('PartialCode', new Schema({ code: String, active: Boolean })
      .index({ code: 1 }, { unique: true, partialFilterExpression: { active: true } }), 'partial_codes');
    await Codes.init();
    await Codes.create([{ code: 'k', active: false }, { code: 'k', active: false }, { code: 'k', active: true }]);
    const err = await failure(Codes.create({ code: 'k', active: true }));
    expect(err.code).to.equal(11000);
    const err2 = await failure(Codes.updateOne({ active: false }, { $set: { active: true } }));
    expect(err2.code).to.equal(11000);
  });

  it('enforces uniqueness over array elements (multikey) but not within one document', async function () {
    const raw = conn.collection('multikey');
    await raw.createIndex({ tags: 1 }, { unique: true });
    await raw.insertOne({ tags: ['a', 'b', 'a'] });
    const err = await failure(raw.insertOne({ tags: ['c', 'b'] }));
    expect(err.code).to.equal(11000);
    expect(err.message).to.contain('dup key: { tags: "b" }');
  });

  it('syncIndexes creates declared indexes and drops undeclared ones; listIndexes reports them', async function () {
    const raw = conn.collection('synced');
    await raw.createIndex({ legacy: 1 }, { name: 'legacy_1' });
    const Synced = conn.model('Synced', new Schema({ uid: { type: String, unique: true }, grantId: { type: String, index: true } }, { autoIndex: false }), 'synced');
    const dropped = await Synced.syncIndexes();
    expect(dropped).to.deep.equal(['legacy_1']);
    const indexes = await Synced.listIndexes();
    const byName = Object.fromEntries(indexes.map((i) => [i.name, i]));
    expect(Object.keys(byName).sort()).to.deep.equal(['_id_', 'grantId_1', 'uid_1']);
    expect(byName.uid_1).to.include({ unique: true });
    expect(byName.uid_1?.key).to.deep.equal({ uid: 1 });
    expect(await Synced.syncIndexes()).to.deep.equal([]);
  });

  it('createIndex is idempotent, refuses a conflicting spec under the same name, and dropIndex removes one', async function () {
    const raw = conn.collection('managed');
    expect(await raw.createIndex({ a: 1 })).to.equal('a_1');
    expect(await raw.createIndex({ a: 1 })).to.equal('a_1');
    const err = await failure(raw.createIndex({ a: 1 }, { unique: true }));
    expect([85, 86]).to.include(err.code);
    await raw.dropIndex('a_1');
    expect((await raw.listIndexes().toArray()).map((i) => i.name)).to.deep.equal(['_id_']);
    const missing = await failure(raw.dropIndex('nope_1'));
    expect(missing.code).to.equal(27);
  });

  it('reports a TTL index with its expireAfterSeconds', async function () {
    const Sessions = conn.model('TtlSession', new Schema({ expiresAt: { type: Date, expires: 0 } }), 'ttl_sessions');
    await Sessions.init();
    const ttl = (await Sessions.listIndexes()).find((i) => i.name === 'expiresAt_1');
    expect(ttl).to.include({ expireAfterSeconds: 0 });
  });

  it('setParameter ttlMonitorSleepSecs (admin database only) answers the previous value and sets the new one', async function () {
    const admin = conn.db!.admin();
    const first = await admin.command({ setParameter: 1, ttlMonitorSleepSecs: 1 });
    expect(first.ok).to.equal(1);
    expect(first.was).to.be.a('number').and.above(0);
    try {
      const err = await conn.db!.command({ setParameter: 1, ttlMonitorSleepSecs: 2 }).then(() => undefined, (e: unknown) => e as { code?: number });
      expect(err?.code).to.equal(13);
    } finally {
      const second = await admin.command({ setParameter: 1, ttlMonitorSleepSecs: first.was });
      expect(second.was).to.equal(1);
    }
  });

  it('a lookup through an index returns documents in its order: $in values in key order, equal keys in insertion order', async function () {
    const raw = conn.collection('looked_up');
    await raw.createIndex({ k: 1 });
    await raw.insertMany([{ _id: 3, k: 'b' }, { _id: 1, k: 'a' }, { _id: 2, k: 'a' }, { _id: 4, k: 'c' }] as never);
    await raw.updateOne({ _id: 1 } as never, { $set: { touched: true } });
    const ids = (docs: { _id?: unknown }[]): unknown[] => docs.map((doc) => doc._id);
    expect(ids(await raw.find({ k: 'a' }).toArray())).to.deep.equal([1, 2]);
    expect(ids(await raw.find({ k: { $in: ['c', 'a', 'b'] } }).toArray())).to.deep.equal([1, 2, 3, 4]);
    expect(ids(await raw.find({ _id: { $in: [4, 2, 3] } } as never).toArray())).to.deep.equal([2, 3, 4]);
  });

  it('a hint scans the named index: documents come in its key order, and updateOne/findOneAndUpdate/deleteOne take the first', async function () {
    const raw = conn.collection('hinted');
    await raw.createIndex({ qty: -1, name: -1 });
    await raw.createIndex({ tags: 1 });
    await raw.insertMany([
      { _id: 1, name: 'Andrew', qty: 4, tags: ['m', 'z'] },
      { _id: 2, name: 'Betty', qty: 5, tags: ['b'] },
      { _id: 3, name: 'Charlie', qty: 4, tags: [] },
      { _id: 4, name: 'Dora', tags: ['a', 'y'] },
    ] as never);
    const ids = (docs: { _id?: unknown }[]): unknown[] => docs.map((doc) => doc._id);
    expect(ids(await raw.find({}).hint({ qty: -1, name: -1 }).toArray())).to.deep.equal([2, 3, 1, 4]);
    expect(ids(await raw.find({ qty: { $gte: 4 } }).hint('qty_-1_name_-1').toArray())).to.deep.equal([2, 3, 1]);
    expect(ids(await raw.aggregate([{ $match: {} }], { hint: { qty: -1, name: -1 } }).toArray())).to.deep.equal([2, 3, 1, 4]);
    // a multikey index: each document at its smallest element, an empty array first
    expect(ids(await raw.find({}).hint({ tags: 1 }).toArray())).to.deep.equal([3, 4, 2, 1]);
    expect(ids(await raw.find({}).hint({ $natural: -1 }).toArray())).to.deep.equal([4, 3, 2, 1]);
    expect(ids(await raw.find({ _id: { $in: [2, 1, 3] } } as never).sort({ $natural: -1 }).toArray())).to.deep.equal([3, 2, 1]);
    expect((await raw.findOneAndUpdate({ qty: 4 }, { $set: { x: 1 } }, { hint: { qty: -1, name: -1 } }))?._id).to.equal(3);
    await raw.updateOne({ qty: 4 }, { $set: { y: 1 } }, { hint: { qty: -1, name: -1 } });
    expect(ids(await raw.find({ y: 1 }).toArray())).to.deep.equal([3]);
    await raw.deleteOne({ qty: { $lt: 5 } }, { hint: { qty: -1, name: -1 } });
    expect(ids(await raw.find({}).sort({ _id: 1 }).toArray())).to.deep.equal([1, 2, 4]);
  });

  it('TTL sweep removes expired documents and keeps live ones (every second after setParameter ttlMonitorSleepSecs: 1)', async function () {
    const Grants = conn.model('TtlGrant', new Schema({ name: String, expiresAt: Date }).index({ expiresAt: 1 }, { expireAfterSeconds: 0 }), 'ttl_grants');
    await Grants.init();
    const admin = conn.db!.admin();
    const { was } = await admin.command({ setParameter: 1, ttlMonitorSleepSecs: 1 });
    try {
      await Grants.create([
        { name: 'expired', expiresAt: new Date(Date.now() - 60_000) },
        { name: 'live', expiresAt: new Date(Date.now() + 3_600_000) },
        { name: 'no-date' },
      ]);
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && (await Grants.countDocuments({ name: 'expired' })) > 0) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect((await Grants.find().sort({ name: 1 }).lean()).map((g) => g.name)).to.deep.equal(['live', 'no-date']);
    } finally {
      await admin.command({ setParameter: 1, ttlMonitorSleepSecs: was });
    }
  });
});
