/**
 * MongoDB wire protocol framing: the legacy OP_QUERY handshake (answered with OP_REPLY) and OP_MSG
 * (https://github.com/mongodb/specifications/blob/master/source/message/OP_MSG.md). Malformed input throws a
 * {@link WireError}; the connection that sent it is closed, nothing else is affected.
 */
import { decode, encode, type Doc } from './bson.ts';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

/** The largest message accepted (the `maxMessageSizeBytes` announced in `hello`). */
export const MAX_MESSAGE_BYTES = 48_000_000;
/** The largest document a collection stores (`maxBsonObjectSize`). */
export const MAX_BSON_OBJECT_BYTES = 16 * 1024 * 1024;
/** The largest document a command may carry: 16 KiB more than a stored document, as in mongod. */
export const MAX_WIRE_DOCUMENT_BYTES = MAX_BSON_OBJECT_BYTES + 16 * 1024;
const HEADER_BYTES = 16;

const FLAG_CHECKSUM_PRESENT = 1 << 0;
const FLAG_MORE_TO_COME = 1 << 1;
const FLAG_EXHAUST_ALLOWED = 1 << 16;
const KNOWN_FLAGS = FLAG_CHECKSUM_PRESENT | FLAG_MORE_TO_COME | FLAG_EXHAUST_ALLOWED;

/** Input that is not a well-formed message: the connection is closed. */
export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

export type WireMessage =
  | { readonly kind: 'query'; readonly requestId: number; readonly collection: string; readonly query: Doc }
  | {
    readonly kind: 'msg'; readonly requestId: number; readonly moreToCome: boolean; readonly body: Doc;
    /** Size of the largest document when one exceeds {@link MAX_WIRE_DOCUMENT_BYTES} (answered with an error). */
    readonly oversizedDocumentBytes?: number;
  };

/**
 * Reads the total length announced by the header at the start of `buffer`, or `undefined` when fewer than four
 * bytes are buffered. Throws for impossible lengths (too small, larger than {@link MAX_MESSAGE_BYTES}).
 */
export function peekMessageLength(buffer: Buffer): number | undefined {
  if (buffer.length < 4) return undefined;
  const length = buffer.readInt32LE(0);
  if (length < HEADER_BYTES) throw new WireError(`message length ${length} is smaller than a header`);
  if (length > MAX_MESSAGE_BYTES) throw new WireError(`message length ${length} exceeds ${MAX_MESSAGE_BYTES} bytes`);
  return length;
}

/** Decodes one complete message (exactly `messageLength` bytes). */
export function parseMessage(message: Buffer): WireMessage {
  const requestId = message.readInt32LE(4);
  const opCode = message.readInt32LE(12);
  switch (opCode) {
    case OP_QUERY: return parseQuery(message, requestId);
    case OP_MSG: return parseMsg(message, requestId);
    case OP_COMPRESSED: throw new WireError('OP_COMPRESSED is not supported (no compressors were announced)');
    default: throw new WireError(`unsupported opCode ${opCode}`);
  }
}

/** Reads a BSON document at `offset`, checking that it fits inside `end`. */
function readDocument(message: Buffer, offset: number, end: number): { doc: Doc; next: number } {
  if (offset + 5 > end) throw new WireError('truncated document');
  const size = message.readInt32LE(offset);
  if (size < 5 || offset + size > end) throw new WireError(`document size ${size} does not fit the message`);
  try {
    return { doc: decode(message.subarray(offset, offset + size)), next: offset + size };
  } catch (err) {
    throw new WireError(`invalid BSON: ${(err as Error).message}`);
  }
}

function readCString(message: Buffer, offset: number, end: number): { value: string; next: number } {
  const zero = message.indexOf(0, offset);
  if (zero < 0 || zero >= end) throw new WireError('unterminated string');
  return { value: message.toString('utf8', offset, zero), next: zero + 1 };
}

function parseQuery(message: Buffer, requestId: number): WireMessage {
  const end = message.length;
  if (end < HEADER_BYTES + 4) throw new WireError('truncated OP_QUERY');
  const name = readCString(message, HEADER_BYTES + 4, end);
  // numberToSkip and numberToReturn (ignored: only `$cmd` queries are accepted).
  const { doc } = readDocument(message, name.next + 8, end);
  if (!name.value.endsWith('.$cmd')) throw new WireError(`OP_QUERY is only supported for commands, not ${name.value}`);
  return { kind: 'query', requestId, collection: name.value, query: doc };
}

function parseMsg(message: Buffer, requestId: number): WireMessage {
  if (message.length < HEADER_BYTES + 5) throw new WireError('truncated OP_MSG');
  const flags = message.readUInt32LE(HEADER_BYTES);
  if ((flags & 0xffff & ~KNOWN_FLAGS) !== 0) throw new WireError(`unknown required OP_MSG flag bits ${flags}`);
  const end = (flags & FLAG_CHECKSUM_PRESENT) !== 0 ? message.length - 4 : message.length;
  let offset = HEADER_BYTES + 4;
  let body: Doc | undefined;
  let largest = 0;
  const sequences: Array<{ identifier: string; docs: Doc[] }> = [];
  while (offset < end) {
    const kind = message.readUInt8(offset);
    offset += 1;
    if (kind === 0) {
      if (body) throw new WireError('OP_MSG has more than one body section');
      const read = readDocument(message, offset, end);
      largest = Math.max(largest, read.next - offset);
      body = read.doc;
      offset = read.next;
    } else if (kind === 1) {
      if (offset + 4 > end) throw new WireError('truncated document sequence');
      const size = message.readInt32LE(offset);
      const sectionEnd = offset + size;
      if (size < 5 || sectionEnd > end) throw new WireError(`document sequence size ${size} does not fit the message`);
      const identifier = readCString(message, offset + 4, sectionEnd);
      const docs: Doc[] = [];
      let at = identifier.next;
      while (at < sectionEnd) {
        const read = readDocument(message, at, sectionEnd);
        largest = Math.max(largest, read.next - at);
        docs.push(read.doc);
        at = read.next;
      }
      sequences.push({ identifier: identifier.value, docs });
      offset = sectionEnd;
    } else {
      throw new WireError(`unknown OP_MSG section kind ${kind}`);
    }
  }
  if (offset !== end) throw new WireError('OP_MSG sections overrun the message');
  if (!body) throw new WireError('OP_MSG has no body section');
  for (const { identifier, docs } of sequences) {
    if (identifier in body) throw new WireError(`document sequence '${identifier}' duplicates a body field`);
    body[identifier] = docs;
  }
  const moreToCome = (flags & FLAG_MORE_TO_COME) !== 0;
  if (largest > MAX_WIRE_DOCUMENT_BYTES) return { kind: 'msg', requestId, moreToCome, body, oversizedDocumentBytes: largest };
  return { kind: 'msg', requestId, moreToCome, body };
}

function header(length: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES);
  buf.writeInt32LE(length, 0);
  buf.writeInt32LE(requestId, 4);
  buf.writeInt32LE(responseTo, 8);
  buf.writeInt32LE(opCode, 12);
  return buf;
}

/** An OP_MSG reply carrying one body document. */
export function encodeMsgReply(requestId: number, responseTo: number, doc: Doc): Buffer {
  const body = encode(doc);
  const prefix = Buffer.alloc(5); // flagBits (0) + section kind 0
  return Buffer.concat([header(HEADER_BYTES + 5 + body.length, requestId, responseTo, OP_MSG), prefix, body]);
}

/** An OP_REPLY answering the legacy OP_QUERY handshake. */
export function encodeOpReply(requestId: number, responseTo: number, doc: Doc): Buffer {
  const body = encode(doc);
  const fields = Buffer.alloc(20); // responseFlags, cursorID (int64 0), startingFrom, numberReturned
  fields.writeInt32LE(1, 16);
  return Buffer.concat([header(HEADER_BYTES + 20 + body.length, requestId, responseTo, OP_REPLY), fields, body]);
}
