/**
 * Contract suite (part 1): reads and writes through mongoose, the way the product uses the store. Runs on the
 * embedded engine, or on a real MongoDB when MONGODB_URI is set.
 */
import { expect } from 'chai';
import mongoose, { Schema, type Connection } from 'mongoose';
import { connectFreshDb } from '../helpers/db.ts';

interface Account { email: string; name?: string; logins: number; tags: string[]; profile?: { city?: string; zip?: string } }

describe('store engine contract: CRUD through mongoose', function () {
  let conn: Connection;
  let Accounts: mongoose.Model<Account>;

  before(async function () {
    conn = await connectFreshDb('crud');
    Accounts = conn.model<Account>('Account', new Schema<Account>({
      email: { type: String, required: true, unique: true },
      name: String,
      logins: { type: Number, default: 0 },
      tags: [String],
      profile: { city: String, zip: String },
    }));
    await Accounts.init();
  });

  after(async function () {
    await conn.close();
  });

  beforeEach(async function () {
    await Accounts.deleteMany({});
  });

  it('creates a document and finds it by an indexed field', async function () {
    const created = await Accounts.create({ email: 'ada@example.com', name: 'Ada', tags: ['a', 'b'] });
    const found = await Accounts.findOne({ email: 'ada@example.com' }).lean();
    expect(found?._id.toString()).to.equal(created._id.toString());
    expect(found).to.include({ name: 'Ada', logins: 0 });
    expect(found?.tags).to.deep.equal(['a', 'b']);
  });

  it('finds by _id and returns null for a missing document', async function () {
    const created = await Accounts.create({ email: 'x@example.com' });
    expect((await Accounts.findById(created._id))?.email).to.equal('x@example.com');
    expect(await Accounts.findById(new mongoose.Types.ObjectId())).to.equal(null);
  });

  it('filters with comparison, $in, $or, $exists, $regex, $elemMatch and dotted paths', async function () {
    await Accounts.insertMany([
      { email: 'a@x', logins: 1, tags: ['red'], profile: { city: 'Oslo' } },
      { email: 'b@x', logins: 5, tags: ['blue', 'red'], profile: { city: 'Bergen' } },
      { email: 'c@x', logins: 9, tags: [] },
    ]);
    const emails = async (filter: mongoose.QueryFilter<Account>): Promise<string[]> =>
      (await Accounts.find(filter).sort({ email: 1 }).lean()).map((doc) => doc.email);
    expect(await emails({ logins: { $gte: 5 } })).to.deep.equal(['b@x', 'c@x']);
    expect(await emails({ email: { $in: ['a@x', 'c@x', 'zz'] } })).to.deep.equal(['a@x', 'c@x']);
    expect(await emails({ $or: [{ logins: 1 }, { 'profile.city': 'Bergen' }] })).to.deep.equal(['a@x', 'b@x']);
    expect(await emails({ 'profile.city': { $exists: false } })).to.deep.equal(['c@x']);
    expect(await emails({ email: /^[ab]@/ })).to.deep.equal(['a@x', 'b@x']);
    expect(await emails({ tags: 'red' })).to.deep.equal(['a@x', 'b@x']);
    expect(await emails({ tags: { $size: 0 } })).to.deep.equal(['c@x']);
    expect(await emails({ logins: { $not: { $gt: 4 } } })).to.deep.equal(['a@x']);
  });

  it('sorts, skips, limits and projects', async function () {
    await Accounts.insertMany([3, 1, 2, 5, 4].map((n) => ({ email: `u${n}@x`, logins: n, name: `n${n}` })));
    const page = await Accounts.find({}, { email: 1, _id: 0 }).sort({ logins: -1 }).skip(1).limit(2).lean();
    expect(page).to.deep.equal([{ email: 'u4@x' }, { email: 'u3@x' }]);
    const excluded = await Accounts.findOne({ email: 'u1@x' }).select('-name -tags').lean();
    expect(excluded).to.not.have.property('name');
    expect(excluded).to.include({ email: 'u1@x', logins: 1 });
  });

  it('sorts arrays and mixed types with MongoDB ordering', async function () {
    const raw = conn.collection('mixed');
    await raw.insertMany([
      { k: 'b', v: 'str' }, { k: 'a', v: 10 }, { k: 'c', v: null }, { k: 'd', v: [4, 20] }, { k: 'e', v: new Date(0) },
      { k: 'f' },
    ]);
    const asc = (await raw.find({}).sort({ v: 1, k: 1 }).toArray()).map((d) => d.k);
    // null and missing first, then numbers (an array sorts by its smallest element: 4), strings, dates.
    expect(asc).to.deep.equal(['c', 'f', 'd', 'a', 'b', 'e']);
    const desc = (await raw.find({ v: { $type: 'number' } }).sort({ v: -1 }).toArray()).map((d) => d.k);
    // Descending, an array sorts by its largest element (20).
    expect(desc).to.deep.equal(['d', 'a']);
  });

  it('updates with $set, $inc, $push, $addToSet, $pull, $unset and reports counts', async function () {
    await Accounts.create({ email: 'u@x', tags: ['a'], name: 'U' });
    const res = await Accounts.updateOne({ email: 'u@x' }, {
      $set: { 'profile.city': 'Oslo' }, $inc: { logins: 2 }, $push: { tags: 'b' }, $unset: { name: '' },
    });
    expect(res.matchedCount).to.equal(1);
    expect(res.modifiedCount).to.equal(1);
    await Accounts.updateOne({ email: 'u@x' }, { $addToSet: { tags: { $each: ['a', 'c'] } } });
    await Accounts.updateOne({ email: 'u@x' }, { $pull: { tags: 'b' } });
    const doc = await Accounts.findOne({ email: 'u@x' }).lean();
    expect(doc).to.include({ logins: 2 });
    expect(doc).to.not.have.property('name');
    expect(doc?.profile).to.deep.equal({ city: 'Oslo' });
    expect(doc?.tags).to.deep.equal(['a', 'c']);
    const noop = await Accounts.updateOne({ email: 'u@x' }, { $set: { logins: 2 } });
    expect(noop.matchedCount).to.equal(1);
    expect(noop.modifiedCount).to.equal(0);
  });

  it('$min and $max compare across types by BSON order', async function () {
    const raw = conn.collection('minmax');
    const oid = new mongoose.Types.ObjectId();
    await raw.insertOne({ _id: 'm' as never, n: 5, when: new Date(10), text: 'b' });
    await raw.updateOne({ _id: 'm' as never }, { $min: { n: 3, when: new Date(20), fresh: 1 }, $max: { text: oid } });
    const doc = await raw.findOne({ _id: 'm' as never });
    expect(doc?.n).to.equal(3);
    expect(doc?.when.getTime()).to.equal(10);
    expect(doc?.fresh).to.equal(1);
    expect(doc?.text.toHexString()).to.equal(oid.toHexString()); // ObjectId sorts after strings
    await raw.updateOne({ _id: 'm' as never }, { $max: { when: oid } }); // dates sort after ObjectId: unchanged
    expect((await raw.findOne({ _id: 'm' as never }))?.when.getTime()).to.equal(10);
  });

  it('updates array elements with positional $, $[] and arrayFilters', async function () {
    const raw = conn.collection('orders');
    await raw.insertOne({ _id: 'o1' as never, items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 2 }, { sku: 'c', qty: 3 }] });
    await raw.updateOne({ _id: 'o1' as never, 'items.sku': 'b' }, { $set: { 'items.$.qty': 20 } });
    await raw.updateOne({ _id: 'o1' as never }, { $inc: { 'items.$[].qty': 1 } });
    await raw.updateOne({ _id: 'o1' as never }, { $set: { 'items.$[big].flag': true } }, { arrayFilters: [{ 'big.qty': { $gte: 4 } }] });
    const doc = await raw.findOne({ _id: 'o1' as never });
    expect(doc?.items).to.deep.equal([{ sku: 'a', qty: 2 }, { sku: 'b', qty: 21, flag: true }, { sku: 'c', qty: 4, flag: true }]);
  });

  it('updateMany touches every match, deleteOne and deleteMany remove what they match', async function () {
    await Accounts.insertMany([1, 2, 3, 4].map((n) => ({ email: `d${n}@x`, logins: n })));
    const updated = await Accounts.updateMany({ logins: { $gt: 2 } }, { $set: { name: 'hi' } });
    expect(updated.modifiedCount).to.equal(2);
    expect(await Accounts.countDocuments({ name: 'hi' })).to.equal(2);
    expect((await Accounts.deleteOne({ logins: { $gte: 1 } })).deletedCount).to.equal(1);
    expect((await Accounts.deleteMany({ logins: { $gte: 1 } })).deletedCount).to.equal(3);
    expect(await Accounts.countDocuments()).to.equal(0);
  });

  it('upserts seed the new document from the filter equality fields and $setOnInsert', async function () {
    const first = await Accounts.updateOne(
      { email: 'new@x', 'profile.city': 'Oslo', logins: { $gte: 0 } },
      { $inc: { logins: 1 }, $setOnInsert: { name: 'Fresh' } },
      { upsert: true });
    expect(first.upsertedCount).to.equal(1);
    const second = await Accounts.updateOne({ email: 'new@x' }, { $inc: { logins: 1 }, $setOnInsert: { name: 'Ignored' } }, { upsert: true });
    expect(second.upsertedCount).to.equal(0);
    expect(second.modifiedCount).to.equal(1);
    const doc = await Accounts.findOne({ email: 'new@x' }).lean();
    expect(doc).to.include({ email: 'new@x', logins: 2, name: 'Fresh' });
    expect(doc?.profile).to.deep.equal({ city: 'Oslo' });
  });

  it('findOneAndUpdate returns the document before or after, and upserts', async function () {
    await Accounts.create({ email: 'f@x', logins: 1 });
    const before = await Accounts.findOneAndUpdate({ email: 'f@x' }, { $inc: { logins: 1 } }).lean();
    expect(before?.logins).to.equal(1);
    const after = await Accounts.findOneAndUpdate({ email: 'f@x' }, { $inc: { logins: 1 } }, { returnDocument: 'after' }).lean();
    expect(after?.logins).to.equal(3);
    const missing = await Accounts.findOneAndUpdate({ email: 'none@x' }, { $inc: { logins: 1 } }, { returnDocument: 'after' });
    expect(missing).to.equal(null);
    const upserted = await Accounts.findOneAndUpdate({ email: 'up@x' }, { $inc: { logins: 7 } }, { upsert: true, returnDocument: 'after' }).lean();
    expect(upserted).to.include({ email: 'up@x', logins: 7 });
    const projected = await Accounts.findOneAndUpdate({ email: 'up@x' }, { $set: { name: 'P' } }, { returnDocument: 'after', projection: { name: 1 } }).lean();
    expect(projected).to.have.all.keys('_id', 'name');
    expect(projected?.name).to.equal('P');
  });

  it('findOneAndUpdate with a projection returns the new document even when the update changed a filtered field', async function () {
    await Accounts.create({ email: 'claim@x', name: 'open' });
    const claimed = await Accounts.findOneAndUpdate({ email: 'claim@x', name: 'open' }, { $set: { name: 'closed' } }, { returnDocument: 'after', projection: { name: 1 } }).lean();
    expect(claimed?.name).to.equal('closed');
    expect(claimed).to.have.all.keys('_id', 'name');
  });

  it('findOneAndUpdate with sort picks the first document in sort order', async function () {
    await Accounts.insertMany([{ email: 's1@x', logins: 5 }, { email: 's2@x', logins: 1 }, { email: 's3@x', logins: 3 }]);
    const picked = await Accounts.findOneAndUpdate({}, { $set: { name: 'picked' } }, { sort: { logins: 1 }, returnDocument: 'after' }).lean();
    expect(picked?.email).to.equal('s2@x');
  });

  it('findOneAndDelete and findOneAndReplace', async function () {
    await Accounts.insertMany([{ email: 'r1@x', logins: 1 }, { email: 'r2@x', logins: 2 }]);
    const deleted = await Accounts.findOneAndDelete({ email: 'r1@x' }).lean();
    expect(deleted?.email).to.equal('r1@x');
    expect(await Accounts.countDocuments()).to.equal(1);
    const replaced = await Accounts.findOneAndReplace({ email: 'r2@x' }, { email: 'r2@x', logins: 40 }, { returnDocument: 'after' }).lean();
    expect(replaced).to.include({ email: 'r2@x', logins: 40 });
    expect(replaced).to.not.have.property('name');
  });

  it('replaceOne keeps _id and refuses to change it', async function () {
    const raw = conn.collection('replace');
    await raw.insertOne({ _id: 'k' as never, a: 1, b: 2 });
    await raw.replaceOne({ _id: 'k' as never }, { c: 3 });
    expect(await raw.findOne({ _id: 'k' as never })).to.deep.equal({ _id: 'k', c: 3 });
    const err = await raw.replaceOne({ _id: 'k' as never }, { _id: 'other', c: 4 }).catch((e: unknown) => e);
    expect(err).to.have.property('code', 66);
    const err2 = await raw.updateOne({ _id: 'k' as never }, { $set: { _id: 'other' } }).catch((e: unknown) => e);
    expect(err2).to.have.property('code', 66);
  });

  it('countDocuments, estimatedDocumentCount and distinct', async function () {
    await Accounts.insertMany([
      { email: 'c1@x', tags: ['x', 'y'], logins: 1 }, { email: 'c2@x', tags: ['y', 'z'], logins: 1 }, { email: 'c3@x', logins: 2 },
    ]);
    expect(await Accounts.countDocuments({ logins: 1 })).to.equal(2);
    expect(await Accounts.countDocuments({ logins: 1 }).limit(1)).to.equal(1);
    expect(await Accounts.estimatedDocumentCount()).to.equal(3);
    expect((await Accounts.distinct('tags')).sort()).to.deep.equal(['x', 'y', 'z']);
    expect((await Accounts.distinct('logins', { email: { $ne: 'c3@x' } }))).to.deep.equal([1]);
  });

  it('iterates more than 101 documents through getMore', async function () {
    await Accounts.insertMany(Array.from({ length: 250 }, (_, i) => ({ email: `bulk${String(i).padStart(3, '0')}@x`, logins: i })));
    const seen: number[] = [];
    for await (const doc of Accounts.find({}).sort({ logins: 1 }).batchSize(40).cursor()) seen.push(doc.logins);
    expect(seen).to.have.length(250);
    expect(seen[0]).to.equal(0);
    expect(seen[249]).to.equal(249);
    const all = await Accounts.find({ logins: { $gte: 10 } }).lean();
    expect(all).to.have.length(240);
  });

  it('aggregates with $match, $group, $sort, $project, $count, $unwind, $addFields, $skip and $limit', async function () {
    await Accounts.insertMany([
      { email: 'g1@x', logins: 1, tags: ['a', 'b'], profile: { city: 'Oslo' } },
      { email: 'g2@x', logins: 4, tags: ['b'], profile: { city: 'Oslo' } },
      { email: 'g3@x', logins: 10, tags: [], profile: { city: 'Bergen' } },
    ]);
    const byCity = await Accounts.aggregate<{ _id: string; total: number; n: number }>([
      { $match: { logins: { $gte: 1 } } },
      { $group: { _id: '$profile.city', total: { $sum: '$logins' }, n: { $sum: 1 } } },
      { $sort: { total: -1 } },
    ]);
    expect(byCity).to.deep.equal([{ _id: 'Bergen', total: 10, n: 1 }, { _id: 'Oslo', total: 5, n: 2 }]);
    const tagCounts = await Accounts.aggregate<{ _id: string; n: number }>([
      { $unwind: '$tags' }, { $group: { _id: '$tags', n: { $sum: 1 } } }, { $sort: { _id: 1 } },
    ]);
    expect(tagCounts).to.deep.equal([{ _id: 'a', n: 1 }, { _id: 'b', n: 2 }]);
    const shaped = await Accounts.aggregate([
      { $sort: { logins: 1 } }, { $skip: 1 }, { $limit: 1 },
      { $addFields: { double: { $multiply: ['$logins', 2] } } },
      { $project: { _id: 0, email: 1, double: 1 } },
    ]);
    expect(shaped).to.deep.equal([{ email: 'g2@x', double: 8 }]);
    const counted = await Accounts.aggregate([{ $match: { 'profile.city': 'Oslo' } }, { $count: 'n' }]);
    expect(counted).to.deep.equal([{ n: 2 }]);
  });

  it('populates references and runs $lookup', async function () {
    const Company = conn.model('Company', new Schema({ name: String }));
    const Member = conn.model('Member', new Schema({ name: String, company: { type: Schema.Types.ObjectId, ref: 'Company' } }));
    const acme = await Company.create({ name: 'Acme' });
    const initech = await Company.create({ name: 'Initech' });
    await Member.create([{ name: 'm1', company: acme._id }, { name: 'm2', company: initech._id }, { name: 'm3', company: acme._id }]);
    const members = await Member.find().sort({ name: 1 }).populate<{ company: { name: string } }>('company').lean();
    expect(members.map((m) => m.company.name)).to.deep.equal(['Acme', 'Initech', 'Acme']);
    const joined = await Company.aggregate<{ name: string; members: Array<{ name: string }> }>([
      { $sort: { name: 1 } },
      { $lookup: { from: 'members', localField: '_id', foreignField: 'company', as: 'members' } },
      { $project: { _id: 0, name: 1, 'members.name': 1 } },
    ]);
    expect(joined.map((c) => [c.name, c.members.map((m) => m.name).sort()])).to.deep.equal([['Acme', ['m1', 'm3']], ['Initech', ['m2']]]);
  });

  it('runs an uncorrelated $lookup (a sub-pipeline without let) once for every input document', async function () {
    const raw = conn.collection('lookup_orders');
    const rates = conn.collection('lookup_rates');
    await raw.insertMany([{ _id: 'o1', total: 10 }, { _id: 'o2', total: 20 }] as never);
    await rates.insertMany([{ _id: 'eur', rate: 1 }, { _id: 'nok', rate: 11 }] as never);
    const joined = await raw.aggregate([
      { $sort: { _id: 1 } },
      { $lookup: { from: 'lookup_rates', pipeline: [{ $match: { _id: { $eq: 'nok' } } }, { $limit: 1 }], as: 'rate' } },
      { $addFields: { n: { $size: '$rate' } } },
    ]).toArray();
    expect(joined).to.deep.equal([
      { _id: 'o1', total: 10, rate: [{ _id: 'nok', rate: 11 }], n: 1 },
      { _id: 'o2', total: 20, rate: [{ _id: 'nok', rate: 11 }], n: 1 },
    ]);
    const [first] = await raw.aggregate([
      { $match: { _id: 'o1' } },
      { $lookup: { from: 'lookup_missing', pipeline: [{ $match: {} }], as: 'none' } },
      { $lookup: { from: 'lookup_rates', pipeline: [{ $sort: { rate: -1 } }, { $project: { _id: 1 } }], as: 'ids' } },
    ]).toArray();
    expect(first).to.deep.equal({ _id: 'o1', total: 10, none: [], ids: [{ _id: 'nok' }, { _id: 'eur' }] });
    joined[0]!.rate[0].rate = 99; // the joined documents are copies: the stored one is unchanged
    expect(await rates.findOne({ _id: 'nok' as never })).to.deep.equal({ _id: 'nok', rate: 11 });
  });

  it('projects _id first, included fields in document order, and $elemMatch fields after them', async function () {
    const raw = conn.collection('projection_order');
    await raw.insertOne({ _id: 'o' as never, a: 1, ids: [1, 2, 3], sub: [{ x: 1, y: 1 }, { x: 2, y: 2 }], z: 'last' });
    const keys = async (projection: Record<string, unknown>): Promise<string[]> => Object.keys((await raw.findOne({ _id: 'o' as never }, { projection })) ?? {});
    expect(await keys({ z: 1, a: 1 })).to.deep.equal(['_id', 'a', 'z']);
    expect(await keys({ ids: 1 })).to.deep.equal(['_id', 'ids']);
    expect(await keys({ a: 0 })).to.deep.equal(['_id', 'ids', 'sub', 'z']);
    expect(await keys({ sub: { $elemMatch: { x: 2 } }, z: 1, a: 1 })).to.deep.equal(['_id', 'a', 'z', 'sub']);
    expect(await raw.findOne({ _id: 'o' as never }, { projection: { 'sub.y': 1, 'sub.x': 1 } })).to.deep.equal({ _id: 'o', sub: [{ x: 1, y: 1 }, { x: 2, y: 2 }] });
    expect(Object.keys((await raw.findOne({ _id: 'o' as never }, { projection: { 'sub.y': 1, 'sub.x': 1 } }))?.sub[0])).to.deep.equal(['x', 'y']);
    const [projected] = await raw.aggregate([{ $match: { _id: 'o' } }, { $project: { z: 1, a: 1 } }]).toArray();
    expect(Object.keys(projected ?? {})).to.deep.equal(['_id', 'a', 'z']);
    const updated = await raw.findOneAndUpdate({ _id: 'o' as never }, { $set: { a: 2 } }, { projection: { z: 1, a: 1 }, returnDocument: 'after' });
    expect(Object.keys(updated ?? {})).to.deep.equal(['_id', 'a', 'z']);
  });

  it('$elemMatch projections take an operator condition on the array elements', async function () {
    const raw = conn.collection('projection_elem_match');
    await raw.insertOne({ _id: 'e' as never, ids: [1, 5, 9], tags: ['a', 'b'] });
    const project = (projection: Record<string, unknown>): Promise<unknown> => raw.findOne({ _id: 'e' as never }, { projection });
    expect(await project({ ids: { $elemMatch: { $in: [5, 9] } } })).to.deep.equal({ _id: 'e', ids: [5] });
    expect(await project({ ids: { $elemMatch: { $gt: 6 } } })).to.deep.equal({ _id: 'e', ids: [9] });
    expect(await project({ ids: { $elemMatch: { $gt: 10 } } })).to.deep.equal({ _id: 'e' });
    expect(await project({ tags: { $elemMatch: { $eq: 'b' } }, ids: 1 })).to.deep.equal({ _id: 'e', ids: [1, 5, 9], tags: ['b'] });
  });

  it('answers serverStatus with the version, the uptime and the connections (what tools read)', async function () {
    const status = await conn.db!.admin().serverStatus();
    expect(status.ok).to.equal(1);
    expect(status.version).to.be.a('string').and.match(/^\d+\.\d+/);
    expect(status.uptime).to.be.a('number').and.at.least(0);
    expect(status.localTime).to.be.instanceOf(Date);
    expect(status.connections.current).to.be.at.least(1);
    expect(status.connections.totalCreated).to.be.at.least(status.connections.current);
  });

  it('matches $all on a field that is not an array when it equals every value, and an empty $all matches nothing', async function () {
    const raw = conn.collection('all_values');
    await raw.insertMany([{ _id: 1, title: 'A', tags: ['a', 'b'] }, { _id: 2, title: 'B', tags: ['a'] }, { _id: 3, tags: [['x', 'y']] }] as never);
    const ids = async (filter: object): Promise<unknown[]> => (await raw.find(filter).sort({ _id: 1 }).toArray()).map((doc) => doc._id);
    expect(await ids({ title: { $all: ['A'] } })).to.deep.equal([1]);
    expect(await ids({ title: { $all: ['A', 'B'] } })).to.deep.equal([]);
    expect(await ids({ tags: { $all: ['a', 'b'] } })).to.deep.equal([1]);
    expect(await ids({ tags: { $all: ['a'] } })).to.deep.equal([1, 2]);
    expect(await ids({ tags: { $all: [['x', 'y']] } })).to.deep.equal([3]);
    expect(await ids({ tags: { $all: [{ $elemMatch: { $eq: 'b' } }] } })).to.deep.equal([1]);
    expect(await ids({ tags: { $all: [] } })).to.deep.equal([]);
  });

  it('matches regular expressions in $all as patterns (a string field, or elements of an array)', async function () {
    const raw = conn.collection('all_patterns');
    await raw.insertMany([{ _id: 1, title: 'Aristocats', tags: ['onex', 'twox'] }, { _id: 2, title: 'Bambi', tags: ['two'] }] as never);
    const ids = async (filter: object): Promise<unknown[]> => (await raw.find(filter).sort({ _id: 1 }).toArray()).map((doc) => doc._id);
    expect(await ids({ title: { $all: [/^Aristo/] } })).to.deep.equal([1]);
    expect(await ids({ tags: { $all: [/^ONE/i] } })).to.deep.equal([1]);
    expect(await ids({ tags: { $all: [/^two/] } })).to.deep.equal([1, 2]);
    expect(await ids({ tags: { $all: [/^two/, 'onex'] } })).to.deep.equal([1]);
    expect(await ids({ tags: { $all: [/^two/, /x$/] } })).to.deep.equal([1]);
  });

  it('sorts by $natural (insertion order, and reversed)', async function () {
    const raw = conn.collection('natural');
    await raw.insertMany([{ k: 'b' }, { k: 'a' }, { k: 'c' }]);
    expect((await raw.find({}).sort({ $natural: 1 }).toArray()).map((d) => d.k)).to.deep.equal(['b', 'a', 'c']);
    expect((await raw.find({}).sort({ $natural: -1 }).toArray()).map((d) => d.k)).to.deep.equal(['c', 'a', 'b']);
  });

  it('opens a cursor with an empty first batch when batchSize is 0', async function () {
    const raw = conn.collection('batch_zero');
    await raw.insertMany([{ i: 1 }, { i: 2 }, { i: 3 }]);
    const reply = await conn.db!.command({ aggregate: 'batch_zero', pipeline: [{ $sort: { i: 1 } }], cursor: { batchSize: 0 } });
    expect(reply.cursor.firstBatch).to.deep.equal([]);
    const more = await conn.db!.command({ getMore: reply.cursor.id, collection: 'batch_zero' });
    expect(more.cursor.nextBatch.map((d: { i: number }) => d.i)).to.deep.equal([1, 2, 3]);
    expect(more.cursor.id.toString()).to.equal('0');
  });

  it('refuses documents larger than 16 MiB with an error, and the connection keeps working', async function () {
    const raw = conn.collection('too_big');
    for (const extra of [10, 20 * 1024]) {
      const err = await raw.insertOne({ blob: 'x'.repeat(16 * 1024 * 1024 + extra) }).then(() => undefined, (e: unknown) => e as Error);
      expect(err).to.be.instanceOf(Error);
      expect(err?.name).to.equal('MongoServerError');
    }
    await raw.insertOne({ small: true });
    expect(await raw.countDocuments()).to.equal(1);
  });

  it('refuses an update that grows a document past 16 MiB and keeps the old version', async function () {
    const raw = conn.collection('huge');
    await raw.insertOne({ _id: 'h' as never, blob: 'x'.repeat(9 * 1024 * 1024) });
    const err = await raw.updateOne({ _id: 'h' as never }, { $set: { more: 'y'.repeat(9 * 1024 * 1024) } }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    const doc = await raw.findOne({ _id: 'h' as never }, { projection: { more: 1 } });
    expect(doc).to.deep.equal({ _id: 'h' });
  });

  it('applies pipeline-style updates', async function () {
    const raw = conn.collection('pipeline_updates');
    await raw.insertOne({ _id: 'p' as never, a: 2, b: 3, drop: true });
    await raw.updateOne({ _id: 'p' as never }, [{ $set: { total: { $add: ['$a', '$b'] } } }, { $unset: 'drop' }]);
    expect(await raw.findOne({ _id: 'p' as never })).to.deep.equal({ _id: 'p', a: 2, b: 3, total: 5 });
  });

  it('kills a cursor closed early: a later getMore on it fails with CursorNotFound', async function () {
    const raw = conn.collection('killed');
    await raw.insertMany(Array.from({ length: 10 }, (_, i) => ({ i })));
    const reply = await conn.db!.command({ find: 'killed', filter: {}, batchSize: 2 });
    const id = reply.cursor.id;
    expect(id.toString()).to.not.equal('0');
    const killed = await conn.db!.command({ killCursors: 'killed', cursors: [id] });
    expect(killed.cursorsKilled.map(String)).to.deep.equal([id.toString()]);
    const err = await conn.db!.command({ getMore: id, collection: 'killed' }).catch((e: unknown) => e);
    expect(err).to.have.property('code', 43);
  });

  it('lists databases and drops one', async function () {
    const other = conn.useDb(`${conn.name}_x`);
    await other.collection('things').insertOne({ a: 1 });
    const names = (await conn.db!.admin().listDatabases()).databases.map((d) => d.name);
    expect(names).to.include.members([conn.name, `${conn.name}_x`]);
    await other.dropDatabase();
    const after = (await conn.db!.admin().listDatabases()).databases.map((d) => d.name);
    expect(after).to.include(conn.name);
    expect(after).to.not.include(`${conn.name}_x`);
  });

  it('drops collections and lists them', async function () {
    await conn.collection('temp_things').insertOne({ a: 1 });
    const names = (await conn.db!.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names).to.include('temp_things');
    await conn.collection('temp_things').drop();
    const after = (await conn.db!.listCollections({ name: 'temp_things' }).toArray());
    expect(after).to.deep.equal([]);
  });
});
