/**
 * Contract suite (part 4): BSON types survive the round trip (ObjectId, Date, Long/BigInt, Binary, Decimal128,
 * nested documents, DBRef) with their exact type (int, long, double; binary subtype) and compare as on MongoDB in
 * filters, updates and sorts.
 */
import { expect } from 'chai';
import mongoose, { Schema, type Connection } from 'mongoose';
import { connectFreshDb } from '../helpers/db.ts';

const { Binary, DBRef, Decimal128, Double, Int32, Long, ObjectId } = mongoose.mongo;

describe('store engine contract: BSON types', function () {
  let conn: Connection;

  before(async function () {
    conn = await connectFreshDb('types');
  });

  after(async function () {
    await conn.close();
  });

  it('round-trips ObjectId, Date, Long, Binary, Decimal128, booleans, null and nested documents', async function () {
    const raw = conn.collection('typed');
    const id = new ObjectId();
    const ref = new ObjectId();
    const when = new Date('2026-01-02T03:04:05.678Z');
    const doc = {
      _id: id, ref, when, big: Long.fromString('9007199254740993'), bytes: new Binary(Buffer.from([0, 1, 2, 255]), 0),
      money: Decimal128.fromString('12.3400'), yes: true, nothing: null, nested: { list: [1, 'two', { three: [3] }], at: when },
      uuid: new Binary(Buffer.from('0123456789abcdef0123456789abcdef', 'hex'), Binary.SUBTYPE_UUID),
    };
    await raw.insertOne(doc);
    const back = await raw.findOne({ _id: id }, { promoteLongs: false });
    expect(back?._id).to.be.instanceOf(ObjectId);
    expect(back?._id.toHexString()).to.equal(id.toHexString());
    expect(back?.ref.toHexString()).to.equal(ref.toHexString());
    expect(back?.when).to.be.instanceOf(Date);
    expect(back?.when.getTime()).to.equal(when.getTime());
    expect(back?.big).to.be.instanceOf(Long);
    expect(back?.big.toString()).to.equal('9007199254740993');
    expect(Buffer.from(back?.bytes.buffer).toString('hex')).to.equal('000102ff');
    expect(back?.money).to.be.instanceOf(Decimal128);
    expect(back?.money.toString()).to.equal('12.3400');
    expect(back?.uuid.sub_type).to.equal(Binary.SUBTYPE_UUID);
    expect(back).to.deep.include({ yes: true, nothing: null });
    expect(back?.nested.list).to.deep.equal([1, 'two', { three: [3] }]);
    expect(Object.keys(back ?? {})[0]).to.equal('_id');
  });

  it('round-trips mongoose schema types (BigInt, Buffer, Decimal128, ObjectId arrays, Map, Mixed)', async function () {
    const Wallet = conn.model('Wallet', new Schema({
      owner: Schema.Types.ObjectId, friends: [Schema.Types.ObjectId], cents: BigInt, secret: Buffer,
      balance: Schema.Types.Decimal128, labels: { type: Map, of: String }, payload: Schema.Types.Mixed, createdAt: Date,
    }, { minimize: false }));
    const owner = new ObjectId();
    const created = await Wallet.create({
      owner, friends: [new ObjectId(), new ObjectId()], cents: 2n ** 62n, secret: Buffer.from('s3cr3t'),
      balance: '1.10', labels: { a: 'x' }, payload: { deep: { ok: true }, empty: {} }, createdAt: new Date(5),
    });
    const found = await Wallet.findById(created._id);
    expect(found?.owner?.toString()).to.equal(owner.toString());
    expect(found?.friends).to.have.length(2);
    expect(found?.cents).to.equal(2n ** 62n);
    expect(found?.secret?.toString()).to.equal('s3cr3t');
    expect(found?.balance?.toString()).to.equal('1.10');
    expect(found?.labels?.get('a')).to.equal('x');
    expect(found?.payload).to.deep.equal({ deep: { ok: true }, empty: {} });
    expect(found?.createdAt?.getTime()).to.equal(5);
  });

  it('filters by ObjectId ($in), date ranges and booleans', async function () {
    const raw = conn.collection('typed_filters');
    const ids: Array<InstanceType<typeof ObjectId>> = [new ObjectId(), new ObjectId(), new ObjectId()];
    const [first, , third] = ids as [InstanceType<typeof ObjectId>, InstanceType<typeof ObjectId>, InstanceType<typeof ObjectId>];
    await raw.insertMany(ids.map((_id, i) => ({ _id, at: new Date(1000 * (i + 1)), on: i % 2 === 0 })));
    const byIds = await raw.find({ _id: { $in: [first, third] } }).sort({ at: 1 }).toArray();
    expect(byIds.map((d) => d._id.toHexString())).to.deep.equal([first.toHexString(), third.toHexString()]);
    expect(await raw.countDocuments({ at: { $gt: new Date(1000), $lte: new Date(3000) } })).to.equal(2);
    expect(await raw.countDocuments({ on: true })).to.equal(2);
    expect(await raw.countDocuments({ _id: { $type: 'objectId' } })).to.equal(3);
  });

  it('compares numbers of every width together and keeps other types apart in range filters', async function () {
    const raw = conn.collection('typed_ranges');
    await raw.insertMany([
      { k: 'long', v: Long.fromString('9007199254740993') }, { k: 'int', v: 7 }, { k: 'double', v: 2.5 }, { k: 'str', v: '9' },
      { k: 'date', v: new Date(9) }, { k: 'arr', v: [1, 100] }, { k: 'null', v: null }, { k: 'missing' },
    ]);
    const keys = async (filter: Record<string, unknown>): Promise<string[]> => (await raw.find(filter).toArray()).map((d) => d.k as string).sort();
    expect(await keys({ v: { $gt: 5 } })).to.deep.equal(['arr', 'int', 'long']);
    expect(await keys({ v: { $gt: Long.fromString('9007199254740992') } })).to.deep.equal(['long']);
    expect(await keys({ v: { $lt: 3 } })).to.deep.equal(['arr', 'double']);
    expect(await keys({ v: { $gte: '0' } })).to.deep.equal(['str']);
    expect(await keys({ v: { $lte: null } })).to.deep.equal(['missing', 'null']);
    expect(await keys({ v: Long.fromString('9007199254740993') })).to.deep.equal(['long']);
  });

  it('keeps the numeric type written (int, long, double) through reads and updates', async function () {
    const raw = conn.collection('numeric_types');
    await raw.insertOne({ _id: 'n' as never, i: new Int32(7), l: Long.fromNumber(37), d: new Double(5), f: 2.5 });
    const typed = async (): Promise<Record<string, unknown>> => (await raw.findOne({ _id: 'n' as never }, { promoteValues: false })) as Record<string, unknown>;
    let doc = await typed();
    expect(doc.i).to.be.instanceOf(Int32);
    expect(doc.l).to.be.instanceOf(Long);
    expect(doc.d).to.be.instanceOf(Double);
    expect(doc.f).to.be.instanceOf(Double);
    expect((await raw.findOne({ _id: 'n' as never }, { promoteLongs: false }))?.l).to.be.instanceOf(Long);
    expect((await raw.findOne({ _id: 'n' as never }, { useBigInt64: true }))?.l).to.equal(37n);
    // Numbers of different types are equal by value in filters, and $type tells them apart.
    expect(await raw.countDocuments({ l: 37, d: 5, i: Long.fromNumber(7) })).to.equal(1);
    expect(await raw.countDocuments({ i: { $type: 'int' }, l: { $type: 'long' }, d: { $type: 'double' }, f: { $type: 'double' } })).to.equal(1);
    expect(await raw.countDocuments({ d: { $type: 'int' } })).to.equal(0);
    // $inc keeps the stored type (MongoDB: int + int = int, long + int = long, double + int = double).
    await raw.updateOne({ _id: 'n' as never }, { $inc: { i: 1, l: 1, d: 1 } });
    doc = await typed();
    expect(doc.i).to.be.instanceOf(Int32);
    expect(doc.l).to.be.instanceOf(Long);
    expect(String(doc.l)).to.equal('38');
    expect(doc.d).to.be.instanceOf(Double);
    expect(Number(doc.d)).to.equal(6);
    // Setting the same value with another type changes the stored type (and counts as a modification).
    const res = await raw.updateOne({ _id: 'n' as never }, { $set: { d: 6 } });
    expect(res.modifiedCount).to.equal(1);
    expect((await typed()).d).to.be.instanceOf(Int32);
  });

  it('$inc turns an int that overflows into a long, and a double operand makes a double', async function () {
    const raw = conn.collection('numeric_promotion');
    await raw.insertOne({ _id: 'p' as never, i: 2147483647, j: 4 });
    await raw.updateOne({ _id: 'p' as never }, { $inc: { i: 1, j: new Double(1) } });
    const doc = await raw.findOne({ _id: 'p' as never }, { promoteValues: false });
    expect(doc?.i).to.be.instanceOf(Long);
    expect(String(doc?.i)).to.equal('2147483648');
    expect(doc?.j).to.be.instanceOf(Double);
    expect(Number(doc?.j)).to.equal(5);
  });

  it('$mod truncates doubles, and the bit tests and $in work beyond 32 bits', async function () {
    const raw = conn.collection('wide_numbers');
    await raw.insertMany([{ _id: 'half', v: 5.5 }, { _id: 'big', v: 2 ** 40 }, { _id: 'neg', v: -1 }, { _id: 'text', v: 'Abc' }] as never);
    const ids = async (filter: object): Promise<unknown[]> => (await raw.find(filter).sort({ _id: 1 }).toArray()).map((d) => d._id);
    expect(await ids({ v: { $mod: [2, 1] } })).to.deep.equal(['half']);
    expect(await ids({ v: { $bitsAllSet: [40] } })).to.deep.equal(['big', 'neg']);
    expect(await ids({ v: { $bitsAnySet: [63] } })).to.deep.equal(['neg']);
    expect(await ids({ v: { $in: [Long.fromNumber(2 ** 40), /^a/i] } })).to.deep.equal(['big', 'text']);
  });

  it('Decimal128 values are equal by value in unique indexes and $addToSet (1.0 and 1.00 are one value)', async function () {
    const raw = conn.collection('decimal_keys');
    await raw.createIndex({ amount: 1 }, { unique: true });
    await raw.insertOne({ _id: 'a' as never, amount: Decimal128.fromString('1.0'), set: [Decimal128.fromString('2.50')] });
    const err = await raw.insertOne({ _id: 'b' as never, amount: Decimal128.fromString('1.00') }).then(() => undefined, (e: unknown) => e as { code?: number });
    expect(err?.code).to.equal(11000);
    const res = await raw.updateOne({ _id: 'a' as never }, { $addToSet: { set: Decimal128.fromString('2.5') } } as never);
    expect(res.modifiedCount).to.equal(0);
  });

  it('binary values of different subtypes are different values in filters and updates', async function () {
    const raw = conn.collection('binary_subtypes');
    const generic = new Binary(Buffer.from('hi'), 0);
    const user = new Binary(Buffer.from('hi'), 128);
    await raw.insertMany([{ _id: 'generic', b: generic }, { _id: 'user', b: user }] as never);
    const ids = async (filter: object): Promise<unknown[]> => (await raw.find(filter).sort({ _id: 1 }).toArray()).map((d) => d._id);
    expect(await ids({ b: user })).to.deep.equal(['user']);
    expect(await ids({ b: { $eq: generic } })).to.deep.equal(['generic']);
    expect(await ids({ b: { $in: [user] } })).to.deep.equal(['user']);
    expect(await ids({ b: { $ne: user } })).to.deep.equal(['generic']);
    expect(await ids({ b: { $nin: [generic] } })).to.deep.equal(['user']);
    const res = await raw.updateOne({ _id: 'generic' as never }, { $set: { b: user } });
    expect(res.modifiedCount).to.equal(1);
    expect((await raw.findOne({ _id: 'generic' as never }))?.b.sub_type).to.equal(128);
  });

  it('$bitsAllSet, $bitsAnySet, $bitsAllClear and $bitsAnyClear test binary values as well as numbers', async function () {
    const raw = conn.collection('bits');
    // 0x66 = 0b01100110 (bits 1, 2, 5, 6); 54 = 0b00110110 (bits 1, 2, 4, 5). Bit 0 is the lowest bit of the first byte.
    await raw.insertMany([{ _id: 'bin', a: new Binary(Buffer.from([0x66]), 0) }, { _id: 'num', a: 54 }, { _id: 'str', a: 'x' }] as never);
    const ids = async (filter: object): Promise<unknown[]> => (await raw.find(filter).sort({ _id: 1 }).toArray()).map((d) => d._id);
    expect(await ids({ a: { $bitsAllSet: [1, 5] } })).to.deep.equal(['bin', 'num']);
    expect(await ids({ a: { $bitsAllSet: new Binary(Buffer.from([0x22]), 0) } })).to.deep.equal(['bin', 'num']);
    expect(await ids({ a: { $bitsAnySet: [6] } })).to.deep.equal(['bin']);
    expect(await ids({ a: { $bitsAnySet: 16 } })).to.deep.equal(['num']);
    expect(await ids({ a: { $bitsAllClear: [0, 3, 20] } })).to.deep.equal(['bin', 'num']);
    expect(await ids({ a: { $bitsAnyClear: [1, 6] } })).to.deep.equal(['num']);
  });

  it('matches DBRef fields by $ref and $id, as plain and as $elemMatch conditions', async function () {
    const raw = conn.collection('dbrefs');
    const target = new ObjectId();
    const other = new ObjectId();
    await raw.insertOne({ _id: 'r' as never, one: new DBRef('things', target), many: [new DBRef('things', target), new DBRef('others', other)] });
    const ids = async (filter: object): Promise<unknown[]> => (await raw.find(filter).toArray()).map((d) => d._id);
    expect(await ids({ 'one.$id': target })).to.deep.equal(['r']);
    expect(await ids({ 'one.$ref': 'things' })).to.deep.equal(['r']);
    expect(await ids({ one: new DBRef('things', target) })).to.deep.equal(['r']);
    expect(await ids({ 'many.$id': other })).to.deep.equal(['r']);
    expect(await ids({ many: { $elemMatch: { $id: other } } })).to.deep.equal(['r']);
    expect(await ids({ many: { $elemMatch: { $ref: 'others', $id: target } } })).to.deep.equal([]);
    const back = await raw.findOne({ _id: 'r' as never });
    expect(back?.one).to.be.instanceOf(DBRef);
    expect(back?.one.oid.toHexString()).to.equal(target.toHexString());
  });

  it('a document read back and changed by the caller does not change the stored one', async function () {
    const raw = conn.collection('isolation');
    await raw.insertOne({ _id: 'doc' as never, list: [1, 2], inner: { a: 1 } });
    const first = await raw.findOne({ _id: 'doc' as never });
    (first?.list as number[]).push(3);
    (first?.inner as { a: number }).a = 99;
    expect(await raw.findOne({ _id: 'doc' as never })).to.deep.equal({ _id: 'doc', list: [1, 2], inner: { a: 1 } });
  });
});
