/** Where `npm run bench:flows` keeps its data when `MONGODB_URI` names a MongoDB server. */

/**
 * The URI of a database of its own for this run on the server of `uri` (`mongodb://…/<db>?…` → `…/<name>?…`), so the
 * run, which drops its database at the end, never touches the database `uri` names; credentials that the named
 * database authenticated keep authenticating there (`authSource`).
 */
export function benchDatabaseUri(uri: string, name: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/([^?]*))?(?:\?(.*))?$/.exec(uri);
  if (!match) throw new Error('MONGODB_URI is not a mongodb:// or mongodb+srv:// URI');
  const [, server, database, query] = match as unknown as [string, string, string | undefined, string | undefined];
  const params = new URLSearchParams(query ?? '');
  if (database && !params.has('authSource') && server.includes('@')) params.set('authSource', decodeURIComponent(database));
  const rest = params.toString();
  return `${server}/${name}${rest ? `?${rest}` : ''}`;
}
