/** Databases and their collections. A database exists while it holds at least one collection (as in MongoDB). */
import { Collection } from './collection.ts';
import { fail } from './errors.ts';

const BAD_DB_CHARS = /[/\\. "$*<>:|?\0]/;

export function checkDbName(db: unknown): string {
  if (typeof db !== 'string' || db.length === 0 || db.length >= 64 || BAD_DB_CHARS.test(db)) {
    fail('InvalidNamespace', `Invalid database name: '${String(db)}'`);
  }
  return db;
}

export function checkCollectionName(db: string, name: unknown): string {
  if (typeof name !== 'string') fail('InvalidNamespace', `collection name has invalid type ${typeof name}`);
  if (name.length === 0 || name.includes('\0') || name.includes('$') || name.startsWith('.')) {
    fail('InvalidNamespace', `Invalid namespace specified '${db}.${name}'`);
  }
  if (name.startsWith('system.')) fail('InvalidNamespace', `Invalid system namespace: ${db}.${name}`);
  return name;
}

export class Catalog {
  private readonly databases = new Map<string, Map<string, Collection>>();
  /** Bumped on every change, so the snapshot writer knows when to save. */
  version = 0;

  touch(): void { this.version += 1; }

  get(db: string, name: string): Collection | undefined {
    return this.databases.get(db)?.get(name);
  }

  /** The collection, created implicitly (like a first insert on MongoDB). */
  ensure(db: string, name: string): { collection: Collection; created: boolean } {
    const existing = this.get(db, name);
    if (existing) return { collection: existing, created: false };
    return { collection: this.create(db, name), created: true };
  }

  create(db: string, name: string): Collection {
    checkDbName(db);
    checkCollectionName(db, name);
    if (this.get(db, name)) fail('NamespaceExists', `Collection ${db}.${name} already exists.`);
    let collections = this.databases.get(db);
    if (!collections) {
      collections = new Map();
      this.databases.set(db, collections);
    }
    const collection = new Collection(db, name);
    collections.set(name, collection);
    this.touch();
    return collection;
  }

  drop(db: string, name: string): Collection | undefined {
    const collections = this.databases.get(db);
    const collection = collections?.get(name);
    if (!collections || !collection) return undefined;
    collections.delete(name);
    if (collections.size === 0) this.databases.delete(db);
    this.touch();
    return collection;
  }

  dropDatabase(db: string): void {
    if (this.databases.delete(db)) this.touch();
  }

  collections(db: string): Collection[] {
    return [...(this.databases.get(db)?.values() ?? [])];
  }

  databaseNames(): string[] {
    return [...this.databases.keys()];
  }

  allCollections(): Collection[] {
    return [...this.databases.values()].flatMap((collections) => [...collections.values()]);
  }
}
