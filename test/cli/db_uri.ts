import { freshDbName, mongoBaseUri } from '../helpers/db.ts';

/** The URI of the database named `name` on the test engine (or on MONGODB_URI's server), keeping any query options. */
export function dbUriOf(name: string): string {
  const [base = '', query] = mongoBaseUri().split('?');
  return `${base.replace(/\/$/, '')}/${name}${query ? `?${query}` : ''}`;
}

/** A URI of a fresh database on the test engine (or on MONGODB_URI's server), keeping any query options. */
export function freshDbUri(label: string): string {
  return dbUriOf(freshDbName(label));
}
