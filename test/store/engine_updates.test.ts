/**
 * Contract suite (part 9): update operators on array elements and on unusual field names, as MongoDB applies them
 * (positional paths, `$pull` conditions, `$`-prefixed and `__proto__` field names). Runs on the engine and, with
 * MONGODB_URI, on a real MongoDB.
 */
import { expect } from 'chai';
import mongoose, { Schema, type Connection } from 'mongoose';
import { connectFreshDb } from '../helpers/db.ts';

const { Binary } = mongoose.mongo;

/** An object with an own enumerable property named `__proto__` (as the driver decodes one). */
function withProtoField(value: unknown, rest: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...JSON.parse(`{"__proto__": ${JSON.stringify(value)}}`) as Record<string, unknown>, ...rest };
}

async function failure(promise: Promise<unknown>): Promise<{ code?: number; message: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { code?: number; message: string };
  }
  throw new Error('expected the operation to fail');
}

describe('store engine contract: updates of array elements and unusual field names', function () {
  let conn: Connection;

  before(async function () {
    conn = await connectFreshDb('updates');
  });

  after(async function () {
    await conn.close();
  });

  describe('positional paths', function () {
    it('positional $ updates the element whose binary value the filter matched', async function () {
      const raw = conn.collection('positional_binary');
      const first = new Binary(Buffer.from('00112233445566778899aabbccddeeff', 'hex'), Binary.SUBTYPE_UUID);
      const second = new Binary(Buffer.from('ffeeddccbbaa99887766554433221100', 'hex'), Binary.SUBTYPE_UUID);
      await raw.insertOne({ _id: 'p' as never, friends: [{ id: first, status: 'new' }, { id: second, status: 'new' }] });
      const res = await raw.updateOne({ 'friends.id': second }, { $set: { 'friends.$.status': 'accepted' } });
      expect(res.matchedCount).to.equal(1);
      expect(res.modifiedCount).to.equal(1);
      const doc = await raw.findOne({ _id: 'p' as never });
      expect(doc?.friends.map((f: { status: string }) => f.status)).to.deep.equal(['new', 'accepted']);
    });

    it('two sub-paths of one positional element are set together ($, $[] and $[identifier])', async function () {
      const raw = conn.collection('positional_siblings');
      await raw.insertOne({ _id: 's' as never, ch: [{ name: 'a', t: 1 }, { name: 'b', t: 2 }] });
      const one = await raw.updateOne({ _id: 's' as never, 'ch.name': 'b' }, { $set: { 'ch.$.name': 'B', 'ch.$.t': 20 } });
      expect(one.modifiedCount).to.equal(1);
      await raw.updateOne({ _id: 's' as never }, { $set: { 'ch.$[].seen': true, 'ch.$[].n': 0 } });
      await raw.updateOne({ _id: 's' as never }, { $set: { 'ch.$[big].x': 1, 'ch.$[big].y': 2 } }, { arrayFilters: [{ 'big.t': { $gte: 20 } }] });
      expect((await raw.findOne({ _id: 's' as never }))?.ch).to.deep.equal([
        { name: 'a', t: 1, seen: true, n: 0 },
        { name: 'B', t: 20, seen: true, n: 0, x: 1, y: 2 },
      ]);
    });

    it('mongoose subdocument timestamps update the positional element (children.$.name with children.$.updatedAt)', async function () {
      const Child = new Schema({ name: String }, { timestamps: true });
      const Parent = conn.model('TimestampedParent', new Schema({ children: [Child] }));
      const parent = await Parent.create({ children: [{ name: 'first' }, { name: 'second' }] });
      const target = parent.children[1] as unknown as { _id: mongoose.Types.ObjectId };
      await conn.collection(Parent.collection.name).updateOne({ _id: parent._id }, { $set: { 'children.1.updatedAt': new Date(0) } });
      const res = await Parent.updateOne({ _id: parent._id, 'children._id': target._id }, { $set: { 'children.$.name': 'renamed' } });
      expect(res.modifiedCount).to.equal(1);
      const back = await Parent.findById(parent._id).lean();
      const children = back?.children as unknown as Array<{ name: string; updatedAt: Date }>;
      expect(children.map((c) => c.name)).to.deep.equal(['first', 'renamed']);
      expect(children[1]?.updatedAt.getTime()).to.be.greaterThan(0);
    });

    it('positional $ without a query on the array fails with BadValue (2) and changes nothing', async function () {
      const raw = conn.collection('positional_unmatched');
      await raw.insertOne({ _id: 'u' as never, list: [{ a: 1 }] });
      const err = await failure(raw.updateOne({ _id: 'u' as never }, { $set: { 'list.$.a': 2 } }));
      expect(err.code).to.equal(2);
      expect((await raw.findOne({ _id: 'u' as never }))?.list).to.deep.equal([{ a: 1 }]);
    });
  });

  describe('$pull', function () {
    it('$pull with $or, $and and $nor removes the array elements matching that query', async function () {
      const raw = conn.collection('pull_logical');
      await raw.insertOne({ _id: 'l' as never, items: [{ k: 'a', n: 1 }, { k: 'b', n: 2 }, { k: 'c', n: 3 }, { k: 'd', n: 4 }, 5] });
      await raw.updateOne({ _id: 'l' as never }, { $pull: { items: { $or: [{ k: 'a' }, { n: { $gte: 4 } }] } } } as never);
      expect((await raw.findOne({ _id: 'l' as never }))?.items).to.deep.equal([{ k: 'b', n: 2 }, { k: 'c', n: 3 }, 5]);
      await raw.updateOne({ _id: 'l' as never }, { $pull: { items: { $and: [{ k: 'c' }, { n: 3 }] } } } as never);
      expect((await raw.findOne({ _id: 'l' as never }))?.items).to.deep.equal([{ k: 'b', n: 2 }, 5]);
      await raw.updateOne({ _id: 'l' as never }, { $pull: { items: { $nor: [{ k: 'x' }] } } } as never);
      expect((await raw.findOne({ _id: 'l' as never }))?.items).to.deep.equal([5]);
    });

    it("mongoose's array pull() of several subdocuments removes exactly those", async function () {
      const Basket = conn.model('PullBasket', new Schema({ items: [new Schema({ sku: String })] }));
      const basket = await Basket.create({ items: [{ sku: 'a' }, { sku: 'b' }, { sku: 'c' }] });
      const [first, , third] = basket.items;
      basket.items.pull(first, third);
      await basket.save();
      const back = await Basket.findById(basket._id).lean();
      expect(back?.items.map((i) => i.sku)).to.deep.equal(['b']);
    });

    it('$pull with a value, an operator condition and a document condition', async function () {
      const raw = conn.collection('pull_kinds');
      await raw.insertOne({ _id: 'k' as never, nums: [1, 2, 3, 4, 2], docs: [{ a: 1, b: 1 }, { a: 1, b: 2 }, { a: 2 }] });
      await raw.updateOne({ _id: 'k' as never }, { $pull: { nums: 2, docs: { a: 1 } } } as never);
      await raw.updateOne({ _id: 'k' as never }, { $pull: { nums: { $gt: 3 } } } as never);
      const doc = await raw.findOne({ _id: 'k' as never });
      expect(doc?.nums).to.deep.equal([1, 3]);
      expect(doc?.docs).to.deep.equal([{ a: 2 }]);
    });
  });

  describe('array and numeric operators', function () {
    it('$push applies $each, $position, $sort and $slice in that order', async function () {
      const raw = conn.collection('push_modifiers');
      await raw.insertOne({ _id: 'm' as never, scores: [5, 2], names: ['a', 'b'], docs: [{ s: 1 }, { s: 3 }], recent: [1, 2, 3] });
      await raw.updateOne({ _id: 'm' as never }, {
        $push: {
          scores: { $each: [3, 1], $sort: 1, $slice: 3 },
          names: { $each: ['x'], $position: -1 },
          docs: { $each: [{ s: 2 }], $sort: { s: -1 } },
          recent: { $each: [4, 5], $slice: -3 },
        },
      } as never);
      const doc = await raw.findOne({ _id: 'm' as never });
      expect(doc?.scores).to.deep.equal([1, 2, 3]);
      expect(doc?.names).to.deep.equal(['a', 'x', 'b']);
      expect(doc?.docs).to.deep.equal([{ s: 3 }, { s: 2 }, { s: 1 }]);
      expect(doc?.recent).to.deep.equal([3, 4, 5]);
    });

    it('$addToSet and $pullAll compare numbers by value and binary values by subtype', async function () {
      const raw = conn.collection('set_equality');
      const { Long } = mongoose.mongo;
      await raw.insertOne({ _id: 's' as never, nums: [1, 2], bins: [new Binary(Buffer.from('hi'), 0)] });
      const same = await raw.updateOne({ _id: 's' as never }, { $addToSet: { nums: Long.fromNumber(1) } } as never);
      expect(same.modifiedCount).to.equal(0);
      await raw.updateOne({ _id: 's' as never }, { $addToSet: { bins: new Binary(Buffer.from('hi'), 128) } } as never);
      expect(((await raw.findOne({ _id: 's' as never }))?.bins as Array<{ sub_type: number }>).map((b) => b.sub_type)).to.deep.equal([0, 128]);
      await raw.updateOne({ _id: 's' as never }, { $pullAll: { nums: [2.0, 7], bins: [new Binary(Buffer.from('hi'), 128)] } } as never);
      const doc = await raw.findOne({ _id: 's' as never });
      expect(doc?.nums).to.deep.equal([1]);
      expect((doc?.bins as Array<{ sub_type: number }>).map((b) => b.sub_type)).to.deep.equal([0]);
    });

    it('$mul on a missing field stores 0 of the multiplier type; $bit works on ints and longs', async function () {
      const raw = conn.collection('mul_bit');
      const { Long } = mongoose.mongo;
      await raw.insertOne({ _id: 'b' as never, flags: 5, wide: Long.fromString('4294967296') });
      await raw.updateOne({ _id: 'b' as never }, { $mul: { fresh: Long.fromNumber(3) }, $bit: { flags: { and: 6 }, wide: { or: 1 } } } as never);
      const doc = await raw.findOne({ _id: 'b' as never }, { promoteLongs: false });
      expect(doc?.fresh).to.be.instanceOf(Long);
      expect(String(doc?.fresh)).to.equal('0');
      expect(doc?.flags).to.equal(4);
      expect(String(doc?.wide)).to.equal('4294967297');
    });

    it('$inc past the largest long fails with BadValue (2) and changes nothing', async function () {
      const raw = conn.collection('long_overflow');
      const { Long } = mongoose.mongo;
      await raw.insertOne({ _id: 'max' as never, n: Long.MAX_VALUE });
      const err = await failure(raw.updateOne({ _id: 'max' as never }, { $inc: { n: 1 } }));
      expect(err.code).to.equal(2);
      expect(err.message).to.contain('Failed to apply $inc operations to current value');
      expect(String((await raw.findOne({ _id: 'max' as never }, { promoteLongs: false }))?.n)).to.equal(Long.MAX_VALUE.toString());
    });

    it('new fields are added in field-name order, whatever the order of the update document', async function () {
      const raw = conn.collection('field_order');
      await raw.insertOne({ _id: 'o' as never, sub: {} });
      await raw.updateOne({ _id: 'o' as never }, { $set: { zeta: 1, 'sub.b': 1, alpha: 1, 'sub.a': 1 }, $inc: { mid: 1 } });
      const doc = await raw.findOne({ _id: 'o' as never });
      expect(Object.keys(doc ?? {})).to.deep.equal(['_id', 'sub', 'alpha', 'mid', 'zeta']);
      expect(Object.keys(doc?.sub)).to.deep.equal(['a', 'b']);
    });
  });

  describe('field names', function () {
    it('an upsert inserts a top-level $-prefixed field from $set; the same update on the stored document fails (52)', async function () {
      const raw = conn.collection('dollar_fields');
      const res = await raw.updateOne({ date: '2021-07-07' }, { $set: { phone: 25, $hotel: 320 } } as never, { upsert: true });
      expect(res.upsertedCount).to.equal(1);
      const stored = await raw.findOne({ date: '2021-07-07' }, { projection: { _id: 0 } });
      expect(stored).to.deep.equal({ date: '2021-07-07', phone: 25, $hotel: 320 });
      const err = await failure(raw.updateOne({ date: '2021-07-07' }, { $set: { phone: 26, $hotel: 321 } } as never, { upsert: true }));
      expect(err.code).to.equal(52);
      expect(await raw.findOne({ date: '2021-07-07' }, { projection: { _id: 0 } })).to.deep.equal(stored);
    });

    it('stores an own __proto__ field set by $set, by a dotted path and by $rename', async function () {
      const raw = conn.collection('proto_fields');
      await raw.insertOne({ _id: 'p' as never, obj: { a: 1 }, moved: 37 });
      await raw.updateOne({ _id: 'p' as never }, { $set: { obj: withProtoField({ x: 1 }, { a: 2 }) } });
      let doc = await raw.findOne({ _id: 'p' as never });
      expect(Object.getOwnPropertyNames(doc?.obj)).to.deep.equal(['__proto__', 'a']);
      expect(Object.getOwnPropertyDescriptor(doc?.obj, '__proto__')?.value).to.deep.equal({ x: 1 });
      await raw.updateOne({ _id: 'p' as never }, { $set: { 'obj.__proto__.y': 2 } });
      await raw.updateOne({ _id: 'p' as never }, { $rename: { moved: '__proto__.x' } });
      doc = await raw.findOne({ _id: 'p' as never });
      expect(Object.getOwnPropertyDescriptor(doc?.obj, '__proto__')?.value).to.deep.equal({ x: 1, y: 2 });
      expect(Object.getOwnPropertyNames(doc)).to.deep.equal(['_id', 'obj', '__proto__']);
      expect(Object.getOwnPropertyDescriptor(doc, '__proto__')?.value).to.deep.equal({ x: 37 });
      expect(Object.getPrototypeOf(doc)).to.equal(Object.prototype);
    });
  });
});
