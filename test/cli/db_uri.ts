import { freshDbName, mongoBaseUri } from '../helpers/db.ts';

/** A URI of a fresh database on the test engine (or on MONGODB_URI's server), keeping any query options. */
export function freshDbUri(label: string): string {
  const [base = '', query] = mongoBaseUri().split('?');
  return `${base.replace(/\/$/, '')}/${freshDbName(label)}${query ? `?${query}` : ''}`;
}
