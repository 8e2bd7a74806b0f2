import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import Koa from 'koa';
import { pino } from 'pino';
import { errorBoundary } from '../../src/http/error_boundary.ts';
import { healthRouter } from '../../src/http/health.ts';
import { securityHeaders } from '../../src/http/security_headers.ts';
import { createViews } from '../../src/http/views.ts';
import { AppError } from '../../src/shared/errors.ts';
import { connectFreshDb } from '../helpers/db.ts';

describe('the error boundary and health probes', function () {
  let server: Server;
  let base: string;
  const logs: Array<Record<string, unknown>> = [];

  before(async function () {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    const conn = await connectFreshDb('error_boundary');
    await conn.close(); // a database that went away
    const app = new Koa();
    app.use(errorBoundary({ views: createViews(), logger }));
    app.use(securityHeaders());
    app.use(healthRouter(conn).routes());
    app.use(async function routes(ctx, next) {
      if (ctx.path === '/boom') throw new Error('connection string mongodb://admin:hunter2@db at /srv/app/x.ts:1:2');
      if (ctx.path === '/taken') throw new AppError('account_exists', 'An account with this email already exists.', { status: 409 });
      if (ctx.path === '/hidden') throw new AppError('key_missing', 'internal: key store offline', { status: 503 });
      await next();
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(function () {
    server?.close();
  });

  it('an unexpected error is a plain 500 page: no message, no stack trace, but logged', async function () {
    const response = await fetch(`${base}/boom`, { headers: { accept: 'text/html' } });
    const html = await response.text();
    expect(response.status).to.equal(500);
    expect(html).to.include('Something went wrong on our side');
    expect(html).to.include('server_error');
    expect(html).to.not.include('hunter2');
    expect(html).to.not.include('x.ts');
    const logged = logs.find((entry) => entry.msg === 'unexpected error');
    expect(logged, 'log entry').to.not.equal(undefined);
    expect((logged?.err as { message?: string }).message).to.include('connection string');
  });

  it('an AppError meant for users keeps its status, code and message; JSON for API clients', async function () {
    const page = await fetch(`${base}/taken`, { headers: { accept: 'text/html' } });
    expect(page.status).to.equal(409);
    const html = await page.text();
    expect(html).to.include('An account with this email already exists.');
    expect(html).to.include('account_exists');

    const api = await fetch(`${base}/taken`, { headers: { accept: 'application/json' } });
    expect(api.status).to.equal(409);
    expect(await api.json()).to.deep.equal({ error: 'account_exists', error_description: 'An account with this email already exists.' });
  });

  it('a server-side AppError shows nothing of its message', async function () {
    const response = await fetch(`${base}/hidden`, { headers: { accept: 'application/json' } });
    expect(response.status).to.equal(503);
    const body = (await response.json()) as { error: string; error_description: string };
    expect(body.error).to.equal('server_error');
    expect(body.error_description).to.not.include('key store');
  });

  it('/readyz answers 503 when the database is unreachable, /healthz still 200', async function () {
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).to.equal(503);
    expect(await ready.json()).to.deep.equal({ status: 'unavailable', checks: { database: 'unreachable' } });
    expect((await fetch(`${base}/healthz`)).status).to.equal(200);
  });
});
