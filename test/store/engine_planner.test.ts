/**
 * Engine internals (no server): equality lookups on indexed fields are answered from the index (a hash map
 * from key to documents), never by scanning the collection, so lookups by `_id`, email or uid stay O(1).
 */
import { expect } from 'chai';
import { Collection } from '../../src/store/engine/collection.ts';
import { parseIndexSpec } from '../../src/store/engine/indexes.ts';
import { ObjectId } from '../../src/store/engine/bson.ts';
import { Catalog } from '../../src/store/engine/catalog.ts';
import { runCommand } from '../../src/store/engine/commands/index.ts';
import { CursorRegistry } from '../../src/store/engine/cursors.ts';

describe('store engine: index use for equality lookups (engine internals)', function () {
  let users: Collection;
  const ids: Array<InstanceType<typeof ObjectId>> = [];

  before(function () {
    users = new Collection('db', 'users');
    users.createIndex(parseIndexSpec({ key: { email: 1 }, name: 'email_1', unique: true }));
    users.createIndex(parseIndexSpec({ key: { company: 1, role: 1 }, name: 'company_1_role_1' }));
    users.createIndex(parseIndexSpec({ key: { tags: 1 }, name: 'tags_1' }));
    users.createIndex(parseIndexSpec({ key: { phone: 1 }, name: 'phone_1', sparse: true }));
    for (let i = 0; i < 5000; i++) {
      const _id = new ObjectId();
      ids.push(_id);
      users.insert({ _id, email: `u${i}@x`, company: `c${i % 10}`, role: i % 2 ? 'admin' : 'user', tags: [`t${i % 7}`, 'all'], phone: `p${i}` });
    }
  });

  it('finds by _id through the _id index', function () {
    const found = users.candidates({ _id: ids[1234] });
    expect(found?.map((d) => d.email)).to.deep.equal(['u1234@x']);
  });

  it('finds by a unique field, by $eq and by $in through its index', function () {
    expect(users.candidates({ email: 'u42@x' })?.map((d) => d.email)).to.deep.equal(['u42@x']);
    expect(users.candidates({ email: { $eq: 'u43@x' } })?.map((d) => d.email)).to.deep.equal(['u43@x']);
    expect(users.candidates({ email: { $in: ['u1@x', 'u2@x', 'nobody'] } })?.map((d) => d.email).sort()).to.deep.equal(['u1@x', 'u2@x']);
    expect(users.candidates({ $and: [{ email: 'u7@x' }, { role: 'admin' }] })?.map((d) => d.email)).to.deep.equal(['u7@x']);
  });

  it('uses a compound index when the filter pins all of its fields', function () {
    const found = users.candidates({ company: 'c3', role: 'admin' });
    expect(found).to.have.length(500);
    expect(found?.every((d) => d.company === 'c3' && d.role === 'admin')).to.equal(true);
  });

  it('uses a multikey index for a value inside an array field', function () {
    expect(users.candidates({ tags: 't3' })?.length).to.be.within(700, 720);
  });

  it('falls back to a scan (undefined) when no complete index pins the filter', function () {
    expect(users.candidates({ role: 'admin' })).to.equal(undefined); // only a compound prefix
    expect(users.candidates({ email: /u1/ })).to.equal(undefined); // not an equality
    expect(users.candidates({ email: null })).to.equal(undefined); // null also matches missing fields
    expect(users.candidates({ phone: 'p1' })).to.equal(undefined); // a sparse index does not see every document
  });

  it('keeps the index in step with updates and deletes', function () {
    const doc = users.candidates({ email: 'u99@x' })?.[0];
    expect(doc).to.not.equal(undefined);
    const next = { ...doc, email: 'renamed@x' };
    users.replace(doc as never, next);
    expect(users.candidates({ email: 'u99@x' })).to.deep.equal([]);
    expect(users.candidates({ email: 'renamed@x' })).to.deep.equal([next]);
    users.remove(next);
    expect(users.candidates({ email: 'renamed@x' })).to.deep.equal([]);
    expect(users.size).to.equal(4999);
  });

  it('answers an uncorrelated $lookup by _id through the joined collection\'s index, without scanning it', function () {
    const ctx = { catalog: new Catalog(), cursors: new CursorRegistry(), connectionId: 1 };
    runCommand({ insert: 'accounts', documents: [{ _id: 'a1' }], $db: 'db' }, ctx);
    const proofs = Array.from({ length: 2000 }, (_, i) => ({ _id: `s${i}`, level: i % 4 }));
    runCommand({ insert: 'proofs', documents: proofs, $db: 'db' }, ctx);
    const joined = ctx.catalog.get('db', 'proofs') as Collection;
    const scans = { n: 0 };
    const all = joined.all.bind(joined);
    joined.all = () => { scans.n += 1; return all(); };
    const reply = runCommand({
      aggregate: 'accounts', cursor: {}, $db: 'db',
      pipeline: [{ $match: { _id: 'a1' } }, { $limit: 1 }, { $lookup: { from: 'proofs', pipeline: [{ $match: { _id: { $eq: 's1234' } } }, { $limit: 1 }], as: 'proof' } }],
    }, ctx);
    expect((reply.cursor as { firstBatch: unknown[] }).firstBatch).to.deep.equal([{ _id: 'a1', proof: [{ _id: 's1234', level: 2 }] }]);
    expect(scans.n).to.equal(0);
  });
  it('answers an equality $lookup (localField/foreignField) per document through the joined collection\'s index, without scanning it', function () {
    const ctx = { catalog: new Catalog(), cursors: new CursorRegistry(), connectionId: 1 };
    runCommand({ insert: 'codes', documents: [{ _id: 'c1', session: 'u7', grant: 'g1' }, { _id: 'c2', grant: 'g2' }], $db: 'db' }, ctx);
    runCommand({ insert: 'sessions', documents: Array.from({ length: 2000 }, (_, i) => ({ _id: `s${i}`, uid: `u${i % 1000}`, at: i })), $db: 'db' }, ctx);
    runCommand({ createIndexes: 'sessions', indexes: [{ key: { uid: 1 }, name: 'uid_1' }], $db: 'db' }, ctx);
    runCommand({ insert: 'grants', documents: [{ _id: 'g1' }, { _id: 'g2' }], $db: 'db' }, ctx);
    const joined = ctx.catalog.get('db', 'sessions') as Collection;
    const scans = { n: 0 };
    const all = joined.all.bind(joined);
    joined.all = () => { scans.n += 1; return all(); };
    const reply = runCommand({
      aggregate: 'codes', cursor: {}, $db: 'db',
      pipeline: [
        { $match: { _id: { $in: ['c1', 'c2'] } } },
        { $lookup: { from: 'sessions', localField: 'session', foreignField: 'uid', pipeline: [{ $sort: { at: -1 } }, { $limit: 1 }], as: 'session' } },
        { $lookup: { from: 'grants', localField: 'grant', foreignField: '_id', as: 'grant' } },
      ],
    }, ctx);
    expect((reply.cursor as { firstBatch: unknown[] }).firstBatch).to.deep.equal([
      { _id: 'c1', session: [{ _id: 's1007', uid: 'u7', at: 1007 }], grant: [{ _id: 'g1' }] },
      { _id: 'c2', session: [], grant: [{ _id: 'g2' }] },
    ]);
    // c2 has no session: a missing local value matches documents without the field, which needs a scan.
    expect(scans.n).to.equal(1);
  });
});
