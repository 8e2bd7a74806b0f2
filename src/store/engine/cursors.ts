/**
 * Server-side cursors: the rest of a result set after the first batch, served by `getMore`. Results are
 * computed eagerly; stored documents are immutable, so a cursor keeps a consistent snapshot.
 */
import { randomInt } from 'node:crypto';
import { BSON, Long, type Doc } from './bson.ts';

/** Default first batch (MongoDB's). */
export const DEFAULT_BATCH_SIZE = 101;
/** Reply documents stay below 16 MiB. */
const MAX_BATCH_BYTES = 15 * 1024 * 1024;
/** Idle cursors are dropped after ten minutes, like MongoDB's `cursorTimeoutMillis`. */
export const CURSOR_TIMEOUT_MS = 10 * 60 * 1000;

interface OpenCursor {
  readonly ns: string;
  readonly docs: Doc[];
  position: number;
  lastUsedMs: number;
}

export class CursorRegistry {
  private readonly cursors = new Map<string, OpenCursor>();

  /** Takes up to `batchSize` documents (and fewer if they would make the reply too large). */
  private static take(cursor: OpenCursor, limit: number): Doc[] {
    const out: Doc[] = [];
    let bytes = 0;
    while (cursor.position < cursor.docs.length && out.length < limit) {
      const doc = cursor.docs[cursor.position] as Doc;
      bytes += BSON.calculateObjectSize(doc);
      if (out.length > 0 && bytes > MAX_BATCH_BYTES) break;
      out.push(doc);
      cursor.position += 1;
    }
    return out;
  }

  /** The `cursor` field of a `find`/`aggregate`/`list*` reply; keeps a cursor open when results remain. */
  open(ns: string, docs: Doc[], batchSize: number | undefined, singleBatch = false): Doc {
    const cursor: OpenCursor = { ns, docs, position: 0, lastUsedMs: Date.now() };
    // A first batch of 0 is legal (the cursor opens with nothing returned yet).
    const firstBatch = CursorRegistry.take(cursor, batchSize ?? DEFAULT_BATCH_SIZE);
    let id = Long.ZERO;
    if (!singleBatch && cursor.position < docs.length) {
      id = Long.fromNumber(randomInt(1, 2 ** 47));
      this.cursors.set(id.toString(), cursor);
    }
    return { id, ns, firstBatch };
  }

  /** The next batch, or `undefined` when no such cursor is open on `ns`. */
  more(id: InstanceType<typeof Long>, ns: string, batchSize: number | undefined): Doc | undefined {
    const key = id.toString();
    const cursor = this.cursors.get(key);
    if (!cursor || cursor.ns !== ns) return undefined;
    cursor.lastUsedMs = Date.now();
    const nextBatch = CursorRegistry.take(cursor, batchSize && batchSize > 0 ? batchSize : Number.POSITIVE_INFINITY);
    const exhausted = cursor.position >= cursor.docs.length;
    if (exhausted) this.cursors.delete(key);
    return { id: exhausted ? Long.ZERO : id, ns, nextBatch };
  }

  kill(id: InstanceType<typeof Long>): boolean {
    return this.cursors.delete(id.toString());
  }

  /** Drops cursors idle for longer than {@link CURSOR_TIMEOUT_MS}. */
  expire(nowMs: number): void {
    for (const [key, cursor] of this.cursors) if (nowMs - cursor.lastUsedMs > CURSOR_TIMEOUT_MS) this.cursors.delete(key);
  }

  get size(): number { return this.cursors.size; }
}
