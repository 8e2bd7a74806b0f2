/**
 * The reads of one request (`src/store/request_reads.ts`, `src/store/model_reads.ts`): a document is read once per
 * request, a read of an account brings the documents read along with it in the same command, and every write through
 * a model forgets what the request read of its collection — counted with the driver's command monitoring.
 */
import { expect } from 'chai';
import { Schema, mongo, type Connection, type Model } from 'mongoose';
import { forgetsRequestReads, readModelDocument } from '../../src/store/model_reads.ts';
import { forgetAllReads, withRequestReads } from '../../src/store/request_reads.ts';
import { connectFreshDb } from '../helpers/db.ts';
import { recordCommands, type CommandRecorder } from '../helpers/mongo_commands.ts';

interface PersonDoc { _id: string; email: string; name: string }
interface BadgeDoc { _id: string; colour: string }

describe('the reads of one request', function () {
  let conn: Connection;
  let people: Model<PersonDoc>;
  let badges: Model<BadgeDoc>;
  let recorder: CommandRecorder;

  /** Runs `work` in a request's read scope where a person is read along with their badge; returns the commands sent. */
  async function inRequest(work: () => Promise<void>): Promise<string[]> {
    recorder.start('request');
    await withRequestReads(work, undefined, (collection) => (collection === 'people' ? [{ collection: 'badges', localField: '_id' }] : undefined));
    return recorder.stop().map((command) => `${command.commandName} ${command.collection}`);
  }

  before(async function () {
    conn = await connectFreshDb('request_reads', { monitorCommands: true });
    const personSchema = new Schema<PersonDoc>({ _id: String, email: String, name: String }, { versionKey: false });
    personSchema.plugin(forgetsRequestReads);
    const badgeSchema = new Schema<BadgeDoc>({ _id: String, colour: String }, { versionKey: false });
    badgeSchema.plugin(forgetsRequestReads);
    people = conn.model<PersonDoc>('Person', personSchema, 'people');
    badges = conn.model<BadgeDoc>('Badge', badgeSchema, 'badges');
    await people.create({ _id: 'p1', email: 'ada@example.com', name: 'Ada' });
    await badges.create({ _id: 'p1', colour: 'green' });
    recorder = recordCommands(conn);
  });

  after(async function () {
    recorder.detach();
    await conn.close();
  });

  it('reads a person by email with their badge in one command, and neither again', async function () {
    let badge: BadgeDoc | null = null;
    const sent = await inRequest(async () => {
      const person = await readModelDocument(people, 'ada@example.com', 'email');
      expect(person?.name).to.equal('Ada');
      expect((await readModelDocument(people, 'p1'))?.email).to.equal('ada@example.com');
      badge = await readModelDocument(badges, 'p1');
      expect(await readModelDocument(badges, 'p1')).to.deep.equal(badge);
    });
    expect(badge).to.deep.equal({ _id: 'p1', colour: 'green' });
    expect(sent).to.deep.equal(['aggregate people']);
  });

  it('remembers that a document is missing, and that nothing was joined to it', async function () {
    const sent = await inRequest(async () => {
      expect(await readModelDocument(people, 'nobody@example.com', 'email')).to.equal(null);
      expect(await readModelDocument(people, 'nobody@example.com', 'email')).to.equal(null);
      expect(await readModelDocument(badges, 'p2')).to.equal(null);
    });
    expect(sent).to.deep.equal(['aggregate people', 'find badges']);
  });

  it('hands out copies: a caller changing what it got does not change what the next one gets', async function () {
    await inRequest(async () => {
      const first = await readModelDocument(badges, 'p1');
      if (first) first.colour = 'changed in memory';
      expect((await readModelDocument(badges, 'p1'))?.colour).to.equal('green');
    });
  });

  it('hands out copies that keep the stored types: dates, ObjectIds and nested arrays', async function () {
    const ref = new mongo.ObjectId();
    await conn.collection<{ _id: string; colour: string; ref: mongo.ObjectId; seen: { at: Date }[] }>('badges').insertOne({ _id: 'typed', colour: 'red', ref, seen: [{ at: new Date(0) }] });
    await inRequest(async () => {
      const first = await readModelDocument(badges, 'typed') as unknown as { ref: unknown; seen: { at: Date }[] } | null;
      const again = await readModelDocument(badges, 'typed') as unknown as { ref: unknown; seen: { at: Date }[] } | null;
      expect(again?.ref).to.be.instanceOf(mongo.ObjectId);
      expect(String(again?.ref)).to.equal(String(ref));
      expect(again?.seen[0]?.at).to.be.instanceOf(Date).and.deep.equal(new Date(0));
      first?.seen[0]?.at.setTime(1);
      expect((await readModelDocument(badges, 'typed') as unknown as { seen: { at: Date }[] } | null)?.seen[0]?.at).to.deep.equal(new Date(0));
    });
  });

  for (const [name, write] of [
    ['updateOne', () => badges.updateOne({ _id: 'p1' }, { $set: { colour: 'blue' } })],
    ['findOneAndUpdate', () => badges.findOneAndUpdate({ _id: 'p1' }, { $set: { colour: 'blue' } })],
    ['replaceOne', () => badges.replaceOne({ _id: 'p1' }, { colour: 'blue' })],
    ['bulkWrite', () => badges.bulkWrite([{ updateOne: { filter: { _id: 'p1' }, update: { $set: { colour: 'blue' } } } }])],
    ['save', async () => { const doc = await badges.findById('p1'); if (doc) { doc.colour = 'blue'; await doc.save(); } }],
  ] as const) {
    it(`reads again after a write through the model (${name}) and sees the new value`, async function () {
      await badges.updateOne({ _id: 'p1' }, { $set: { colour: 'green' } });
      const seen: (string | undefined)[] = [];
      await inRequest(async () => {
        seen.push((await readModelDocument(badges, 'p1'))?.colour);
        await write();
        seen.push((await readModelDocument(badges, 'p1'))?.colour);
      });
      expect(seen).to.deep.equal(['green', 'blue']);
    });
  }

  it('reads again after a delete and after an insert', async function () {
    await badges.updateOne({ _id: 'p1' }, { $set: { colour: 'green' } });
    const seen: (string | null | undefined)[] = [];
    await inRequest(async () => {
      seen.push((await readModelDocument(badges, 'p1'))?.colour);
      await badges.deleteOne({ _id: 'p1' });
      seen.push((await readModelDocument(badges, 'p1'))?.colour ?? null);
      await badges.create({ _id: 'p1', colour: 'green' });
      seen.push((await readModelDocument(badges, 'p1'))?.colour);
    });
    expect(seen).to.deep.equal(['green', null, 'green']);
  });

  it('reads again everything after forgetAllReads: a change another request made meanwhile is seen', async function () {
    const seen: (string | undefined)[] = [];
    const sent = await inRequest(async () => {
      seen.push((await readModelDocument(badges, 'p1'))?.colour);
      // Another request changes the badge, as a lock's previous holder would (the native collection: no model
      // middleware tells this request's reads).
      await badges.collection.updateOne({ _id: 'p1' as never }, { $set: { colour: 'blue' } });
      seen.push((await readModelDocument(badges, 'p1'))?.colour);
      forgetAllReads();
      seen.push((await readModelDocument(badges, 'p1'))?.colour);
    });
    await badges.updateOne({ _id: 'p1' }, { $set: { colour: 'green' } });
    expect(seen).to.deep.equal(['green', 'green', 'blue']);
    expect(sent).to.deep.equal(['find badges', 'update badges', 'find badges']);
  });

  it('reads from the database every time outside a request', async function () {
    recorder.start('no request');
    await readModelDocument(people, 'ada@example.com', 'email');
    await readModelDocument(people, 'ada@example.com', 'email');
    await readModelDocument(badges, 'p1');
    expect(recorder.stop().map((command) => `${command.commandName} ${command.collection}`)).to.deep.equal(['find people', 'find people', 'find badges']);
  });
});
