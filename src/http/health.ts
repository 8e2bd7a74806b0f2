import Router from '@koa/router';
import type { Connection } from 'mongoose';

/** How long `/readyz` waits for the database to answer a ping. */
export const READINESS_TIMEOUT_MS = 2000;

async function pingDatabase(conn: Connection): Promise<boolean> {
  const db = conn.db;
  if (!db || conn.readyState !== 1) return false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), READINESS_TIMEOUT_MS);
  });
  try {
    return await Promise.race([db.command({ ping: 1 }).then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `/healthz`: the process serves requests (liveness). `/readyz`: the database answers too (readiness). */
export function healthRouter(conn: Connection): Router {
  const router = new Router();
  router.get('/healthz', function healthz(ctx) {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async function readyz(ctx) {
    ctx.set('Cache-Control', 'no-store');
    const database = await pingDatabase(conn);
    ctx.status = database ? 200 : 503;
    ctx.body = { status: database ? 'ready' : 'unavailable', checks: { database: database ? 'ok' : 'unreachable' } };
  });
  return router;
}
