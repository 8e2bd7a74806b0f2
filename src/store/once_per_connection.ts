import type { Connection } from 'mongoose';

/**
 * `task` run at most once per connection (creating a collection's indexes): every caller waits for the same run. A
 * failed run is not kept (the database was down): the next call tries again.
 */
export function oncePerConnection(task: (conn: Connection) => Promise<unknown>): (conn: Connection) => Promise<void> {
  const runs = new WeakMap<Connection, Promise<void>>();
  return async function runOnce(conn: Connection): Promise<void> {
    let run = runs.get(conn);
    if (!run) {
      run = task(conn).then(() => undefined);
      runs.set(conn, run);
      run.catch(() => runs.delete(conn));
    }
    return run;
  };
}
