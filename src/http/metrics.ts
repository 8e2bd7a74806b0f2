/**
 * Prometheus metrics at `/metrics` (README "Production") on a per-app `Registry` (never prom-client's global one, so
 * several apps in one process — tests — do not collide): the default process metrics, HTTP requests by route, and
 * failed mail sends.
 *
 * Label values are bounded: `route` is the matched router pattern (`/interaction/:uid/login`), `oidc:<name>` for an
 * oidc-provider endpoint (`oidc:token`, `oidc:authorization`), or `unmatched` — never the raw URL, which would
 * create a time series per interaction id or probing scanner.
 */
import { createHash } from 'node:crypto';
import { constantTimeEqual } from '../shared/crypto.ts';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Mailer } from '../mail/transport.ts';

/** Where the metrics are served. */
export const METRICS_PATH = '/metrics';

/** Route label of requests that no router or provider endpoint matched (404s, scanners). */
export const UNMATCHED_ROUTE = 'unmatched';

/** HTTP methods kept as they are in the `method` label; anything else is `other`. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Request durations (seconds): from fast probes to a slow SMTP send inside a request. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The metrics of one app. */
export interface AppMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** Sends the mailer reported as failed (SMTP down, refused recipient); see {@link countMailFailures}. */
  readonly mailSendFailures: Counter;
}

/** A fresh registry with the default process metrics and ours. */
export function createMetrics(): AppMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route (matched pattern, oidc:<endpoint> or unmatched) and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method, route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
    mailSendFailures: new Counter({
      name: 'mail_send_failures_total',
      help: 'Mails that could not be sent (the customer was told and offered another method)',
      registers: [registry],
    }),
  };
}

/** The same mailer, counting each failed send in `mail_send_failures_total` (the mailer itself has no hook). */
export function countMailFailures(mailer: Mailer, metrics: Pick<AppMetrics, 'mailSendFailures'>): Mailer {
  return {
    mode: mailer.mode,
    async send(message) {
      let result;
      try {
        result = await mailer.send(message);
      } catch (err) {
        // the mailer promises never to throw; if it does, it still is a failed send
        metrics.mailSendFailures.inc();
        throw err;
      }
      if (!result.ok) metrics.mailSendFailures.inc();
      return result;
    },
    outbox: () => mailer.outbox(),
    close: () => mailer.close(),
  };
}

const ROUTE_STATE = 'metricsRoute';

/**
 * Placed right before the mounted oidc-provider: labels the requests that reach it with the provider's own route
 * name (a fixed set: `authorization`, `token`, `discovery`, `jwks`, `end_session`, …), or `unmatched` for its 404s.
 */
export function labelProviderRoutes(): Middleware {
  return async function labelProviderRoutesMiddleware(ctx, next) {
    try {
      await next();
    } finally {
      const name = (ctx as { _matchedRouteName?: unknown })._matchedRouteName;
      const oidcRoute = (ctx as { oidc?: { route?: unknown } }).oidc?.route;
      const route = typeof oidcRoute === 'string' ? oidcRoute : typeof name === 'string' ? name : undefined;
      ctx.state[ROUTE_STATE] = route && /^[a-z_]{1,40}$/.test(route) ? `oidc:${route}` : UNMATCHED_ROUTE;
    }
  };
}

function routeLabel(ctx: Context): string {
  const labelled = ctx.state[ROUTE_STATE];
  if (typeof labelled === 'string') return labelled;
  // @koa/router's matched pattern (with its prefix), e.g. /interaction/:uid/login
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  return typeof matched === 'string' && matched.length <= 100 ? matched : UNMATCHED_ROUTE;
}

/** Counts and times every request; outermost but the request log, so it sees the status the client got. */
export function httpMetrics(metrics: AppMetrics): Middleware {
  return async function httpMetricsMiddleware(ctx, next) {
    const stopTimer = metrics.httpDuration.startTimer();
    try {
      await next();
    } finally {
      const labels = {
        method: KNOWN_METHODS.has(ctx.method) ? ctx.method : 'other',
        route: routeLabel(ctx),
        status: String(ctx.status),
      };
      metrics.httpRequests.inc(labels);
      stopTimer(labels);
    }
  };
}

function sameSecret(given: string, expected: string): boolean {
  // compare digests: constant time, whatever the lengths
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return constantTimeEqual(a, b);
}

/**
 * `GET /metrics` in the Prometheus text format. With a `token`, a request must send `Authorization: Bearer <token>`
 * (RFC 6750) or gets a 401; without one, the endpoint is open (restrict it at the network then).
 */
export function metricsRouter(metrics: AppMetrics, options: { token?: string | undefined } = {}): Router {
  const router = new Router();
  router.get(METRICS_PATH, async function metricsEndpoint(ctx) {
    ctx.set('Cache-Control', 'no-store');
    if (options.token !== undefined) {
      const match = /^Bearer ([^\s]+)$/i.exec(ctx.get('Authorization'));
      if (!match?.[1] || !sameSecret(match[1], options.token)) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', match ? 'Bearer realm="metrics", error="invalid_token"' : 'Bearer realm="metrics"');
        ctx.type = 'text/plain';
        ctx.body = 'A bearer token (METRICS_TOKEN) is required.\n';
        return;
      }
    }
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}
