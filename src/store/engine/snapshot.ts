/**
 * Optional dev snapshot: the whole catalog written to one file of BSON records (a collection header followed by
 * its documents), replaced atomically (write to a temporary file, then rename). Never used in production.
 */
import fs from 'node:fs';
import { decode, encode, type Doc } from './bson.ts';
import type { Catalog } from './catalog.ts';
import { parseIndexSpec } from './indexes.ts';

export function saveSnapshot(file: string, catalog: Catalog): void {
  const parts: Uint8Array[] = [];
  for (const collection of catalog.allCollections()) {
    const indexes = collection.indexes.filter((index) => index.name !== '_id_').map((index) => index.spec);
    parts.push(encode({ t: 'collection', db: collection.db, name: collection.name, indexes }));
    for (const doc of collection.all()) parts.push(encode({ t: 'doc', d: doc }));
  }
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat(parts), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Loads a snapshot into an empty catalog; a missing file is an empty snapshot. */
export function loadSnapshot(file: string, catalog: Catalog): void {
  if (!fs.existsSync(file)) return;
  const bytes = fs.readFileSync(file);
  let offset = 0;
  let current: ReturnType<Catalog['create']> | undefined;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) throw new Error(`snapshot ${file} is truncated`);
    const size = bytes.readInt32LE(offset);
    if (size < 5 || offset + size > bytes.length) throw new Error(`snapshot ${file} is corrupt at byte ${offset}`);
    const record = decode(bytes.subarray(offset, offset + size));
    offset += size;
    if (record.t === 'collection') {
      current = catalog.create(String(record.db), String(record.name));
      for (const spec of (record.indexes as Doc[] | undefined) ?? []) current.createIndex(parseIndexSpec(spec));
    } else if (record.t === 'doc' && current) {
      current.insert(record.d as Doc);
    } else {
      throw new Error(`snapshot ${file} has an unexpected record at byte ${offset - size}`);
    }
  }
}
