/**
 * Engine-only: the wire protocol under bad input. Malformed, truncated or oversized messages close the
 * connection that sent them; the engine keeps serving every other connection. Also checks the legacy handshake,
 * document sequences and fire-and-forget (`moreToCome`) messages at the byte level.
 */
import { expect } from 'chai';
import net from 'node:net';
import mongoose, { type Connection } from 'mongoose';
import { connectFreshDb, mongoBaseUri, onlyOnEngine, usingRealMongo } from '../helpers/db.ts';

const { BSON } = mongoose.mongo;
const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;

function header(length: number, requestId: number, opCode: number): Buffer {
  const buf = Buffer.alloc(16);
  buf.writeInt32LE(length, 0);
  buf.writeInt32LE(requestId, 4);
  buf.writeInt32LE(0, 8);
  buf.writeInt32LE(opCode, 12);
  return buf;
}

function opMsg(body: Record<string, unknown>, options: { flags?: number; sequence?: { id: string; docs: Array<Record<string, unknown>> } } = {}, requestId = 1): Buffer {
  const flags = Buffer.alloc(4);
  flags.writeUInt32LE(options.flags ?? 0, 0);
  const parts: Buffer[] = [flags, Buffer.from([0]), Buffer.from(BSON.serialize(body))];
  if (options.sequence) {
    const docs = Buffer.concat(options.sequence.docs.map((d) => Buffer.from(BSON.serialize(d))));
    const id = Buffer.from(`${options.sequence.id}\0`, 'utf8');
    const size = Buffer.alloc(4);
    size.writeInt32LE(4 + id.length + docs.length, 0);
    parts.push(Buffer.from([1]), size, id, docs);
  }
  const payload = Buffer.concat(parts);
  return Buffer.concat([header(16 + payload.length, requestId, OP_MSG), payload]);
}

function opQuery(ns: string, query: Record<string, unknown>): Buffer {
  const payload = Buffer.concat([Buffer.alloc(4), Buffer.from(`${ns}\0`), Buffer.from([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]), Buffer.from(BSON.serialize(query))]);
  return Buffer.concat([header(16 + payload.length, 7, OP_QUERY), payload]);
}

interface RawClient {
  socket: net.Socket;
  /** Resolves with the next reply: its opCode and its (first) document. */
  reply(): Promise<{ opCode: number; responseTo: number; doc: Record<string, unknown> }>;
  /** Resolves true when the server closes the connection within `ms`. */
  closed(ms?: number): Promise<boolean>;
  replies: number;
}

async function connectRaw(): Promise<RawClient> {
  const { hostname, port } = new URL(mongoBaseUri());
  const socket = net.connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  socket.on('error', () => undefined);
  let buffered = Buffer.alloc(0);
  const waiting: Array<(reply: { opCode: number; responseTo: number; doc: Record<string, unknown> }) => void> = [];
  const client: RawClient = {
    socket,
    replies: 0,
    reply: () => new Promise((resolve) => { waiting.push(resolve); }),
    closed: (ms = 2000) => new Promise((resolve) => {
      if (socket.destroyed || socket.readableEnded) { resolve(true); return; }
      const timer = setTimeout(() => resolve(false), ms);
      socket.once('close', () => { clearTimeout(timer); resolve(true); });
    }),
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 16 && buffered.length >= buffered.readInt32LE(0)) {
      const length = buffered.readInt32LE(0);
      const message = buffered.subarray(0, length);
      buffered = buffered.subarray(length);
      const opCode = message.readInt32LE(12);
      const docStart = opCode === OP_REPLY ? 36 : 21;
      client.replies += 1;
      waiting.shift()?.({ opCode, responseTo: message.readInt32LE(8), doc: BSON.deserialize(message.subarray(docStart)) });
    }
  });
  return client;
}

describe('store engine: wire protocol robustness (engine only)', function () {
  let conn: Connection;

  before(async function () {
    if (usingRealMongo) return;
    conn = await connectFreshDb('wire');
    await conn.collection('alive').insertOne({ _id: 'still-here' as never });
  });

  after(async function () {
    await conn?.close();
  });

  beforeEach(function () {
    onlyOnEngine(this);
  });

  async function engineStillServes(): Promise<void> {
    expect(await conn.collection('alive').findOne({ _id: 'still-here' as never })).to.deep.equal({ _id: 'still-here' });
  }

  it('answers a legacy OP_QUERY isMaster with an OP_REPLY describing a standalone 7.0 server', async function () {
    const client = await connectRaw();
    client.socket.write(opQuery('admin.$cmd', { isMaster: 1, helloOk: true, client: { driver: { name: 'raw' } } }));
    const { opCode, responseTo, doc } = await client.reply();
    expect(opCode).to.equal(OP_REPLY);
    expect(responseTo).to.equal(7);
    expect(doc).to.include({ ok: 1, ismaster: true, helloOk: true, maxWireVersion: 21, logicalSessionTimeoutMinutes: 30 });
    expect(doc).to.not.have.any.keys('topologyVersion', 'setName', 'compression');
    client.socket.destroy();
  });

  it('refuses other commands over OP_QUERY with code 352', async function () {
    const client = await connectRaw();
    client.socket.write(opQuery('admin.$cmd', { ping: 1 }));
    const { opCode, doc } = await client.reply();
    expect(opCode).to.equal(OP_REPLY);
    expect(doc).to.include({ ok: 0, code: 352 });
    client.socket.destroy();
  });

  it('merges kind-1 document sequences into the body and answers OP_MSG with OP_MSG', async function () {
    const client = await connectRaw();
    const db = conn.db?.databaseName as string;
    client.socket.write(opMsg({ insert: 'seq', $db: db }, { sequence: { id: 'documents', docs: [{ _id: 1 }, { _id: 2 }, { _id: 3 }] } }));
    const { opCode, doc } = await client.reply();
    expect(opCode).to.equal(OP_MSG);
    expect(doc).to.include({ ok: 1, n: 3 });
    expect(await conn.collection('seq').countDocuments()).to.equal(3);
    client.socket.destroy();
  });

  it('sends no reply to a moreToCome message but applies it', async function () {
    const client = await connectRaw();
    const db = conn.db?.databaseName as string;
    client.socket.write(opMsg({ insert: 'fire', documents: [{ _id: 'f' }], writeConcern: { w: 0 }, $db: db }, { flags: 2 }, 1));
    client.socket.write(opMsg({ find: 'fire', filter: {}, $db: db }, {}, 2));
    const { responseTo, doc } = await client.reply();
    expect(responseTo).to.equal(2);
    expect((doc.cursor as { firstBatch: unknown[] }).firstBatch).to.deep.equal([{ _id: 'f' }]);
    // Commands are answered in order: the ping's reply comes after any reply the fire-and-forget insert could have had.
    client.socket.write(opMsg({ ping: 1, $db: 'admin' }, {}, 3));
    expect((await client.reply()).responseTo).to.equal(3);
    expect(client.replies).to.equal(2);
    client.socket.destroy();
  });

  it('reassembles a message that arrives in small pieces', async function () {
    const client = await connectRaw();
    const bytes = opMsg({ ping: 1, $db: 'admin' });
    for (let i = 0; i < bytes.length; i += 7) {
      client.socket.write(bytes.subarray(i, i + 7));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect((await client.reply()).doc).to.include({ ok: 1 });
    client.socket.destroy();
  });

  it('closes a connection that sends garbage bytes and keeps serving others', async function () {
    const client = await connectRaw();
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await client.closed()).to.equal(true);
    await engineStillServes();
  });

  it('closes a connection whose message length is smaller than a header', async function () {
    const client = await connectRaw();
    client.socket.write(header(8, 1, OP_MSG));
    expect(await client.closed()).to.equal(true);
    await engineStillServes();
  });

  it('closes a connection announcing an oversized message without waiting for its body', async function () {
    const client = await connectRaw();
    client.socket.write(header(48_000_001, 1, OP_MSG));
    expect(await client.closed()).to.equal(true);
    await engineStillServes();
  });

  it('closes a connection whose message is truncated inside a document', async function () {
    const client = await connectRaw();
    const full = opMsg({ ping: 1, $db: 'admin', pad: 'x'.repeat(50) });
    const truncated = Buffer.from(full.subarray(0, 40));
    truncated.writeInt32LE(40, 0); // the frame says 40 bytes, the document inside claims more
    client.socket.write(truncated);
    expect(await client.closed()).to.equal(true);
    await engineStillServes();
  });

  it('closes a connection that sends invalid BSON, an unknown opCode or an unknown section kind', async function () {
    const bad: Buffer[] = [];
    const invalidBson = opMsg({ ping: 1, $db: 'admin' });
    invalidBson.writeUInt8(0x7f, 21 + 4); // first element type byte → not a BSON type
    bad.push(invalidBson);
    const unknownOp = opMsg({ ping: 1, $db: 'admin' });
    unknownOp.writeInt32LE(9999, 12);
    bad.push(unknownOp);
    const unknownKind = opMsg({ ping: 1, $db: 'admin' });
    unknownKind.writeUInt8(5, 20);
    bad.push(unknownKind);
    for (const bytes of bad) {
      const client = await connectRaw();
      client.socket.write(bytes);
      expect(await client.closed()).to.equal(true);
    }
    await engineStillServes();
  });

  it('survives 200 randomly corrupted messages (seeded), each answered or closed, and keeps serving', async function () {
    let seed = 0x2f6b1d;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const db = conn.db?.databaseName as string;
    const template = opMsg({ insert: 'fuzz', documents: [{ a: 1, b: 'x', c: [1, 2, { d: null }] }], $db: db });
    for (let round = 0; round < 200; round++) {
      const bytes = Buffer.from(template);
      // Bytes after the flag bits (a flipped moreToCome flag would legitimately get no reply).
      for (let flips = 1 + random(4); flips > 0; flips--) bytes[20 + random(bytes.length - 20)] = random(256);
      const client = await connectRaw();
      client.socket.write(bytes);
      const outcome = await Promise.race([client.reply().then(() => 'reply'), client.closed(1000).then((closed) => (closed ? 'closed' : 'silent'))]);
      expect(outcome).to.be.oneOf(['reply', 'closed']);
      client.socket.destroy();
    }
    await engineStillServes();
  });

  it('answers an unknown command with ok: 0 on the same, still open, connection', async function () {
    const client = await connectRaw();
    client.socket.write(opMsg({ frobnicate: 1, $db: 'admin' }, {}, 1));
    expect((await client.reply()).doc).to.include({ ok: 0, code: 59, codeName: 'CommandNotFound' });
    client.socket.write(opMsg({ ping: 1, $db: 'admin' }, {}, 2));
    expect((await client.reply()).doc).to.include({ ok: 1 });
    client.socket.destroy();
  });
});
