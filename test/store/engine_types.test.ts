/**
 * Contract suite (part 4): BSON types survive the round trip (ObjectId, Date, Long/BigInt, Binary, Decimal128,
 * nested documents) and compare as on MongoDB in filters and sorts.
 */
import { expect } from 'chai';
import mongoose, { Schema, type Connection } from 'mongoose';
import { connectFreshDb } from '../helpers/db.ts';

const { Binary, Decimal128, Long, ObjectId } = mongoose.mongo;

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

  it('a document read back and changed by the caller does not change the stored one', async function () {
    const raw = conn.collection('isolation');
    await raw.insertOne({ _id: 'doc' as never, list: [1, 2], inner: { a: 1 } });
    const first = await raw.findOne({ _id: 'doc' as never });
    (first?.list as number[]).push(3);
    (first?.inner as { a: number }).a = 99;
    expect(await raw.findOne({ _id: 'doc' as never })).to.deep.equal({ _id: 'doc', list: [1, 2], inner: { a: 1 } });
  });
});
