/**
 * createApp: the outer Koa app. Middleware order is the design: the request log, the one error boundary, security
 * headers, health probes, our interaction routes, and oidc-provider (itself a Koa app) mounted last.
 */
import type Router from '@koa/router';
import Koa from 'koa';
import mount from 'koa-mount';
import type { Connection } from 'mongoose';
import type Provider from 'oidc-provider';
import type { Config } from './config/index.ts';
import { errorBoundary } from './http/error_boundary.ts';
import { healthRouter } from './http/health.ts';
import { requestLog } from './http/request_log.ts';
import { securityHeaders } from './http/security_headers.ts';
import { createViews, type Views } from './http/views.ts';
import { createCsrfTokens, interactionRouter } from './interactions/index.ts';
import type { Logger } from './shared/logger.ts';

export interface AppDeps {
  config: Config;
  conn: Connection;
  provider: Provider;
  logger: Logger;
  /** Defaults to the pug views in `views/`. */
  views?: Views;
  /** Extra routers mounted before the provider (e.g. the dev demo shop). */
  extraRouters?: Router[];
}

export function createApp(deps: AppDeps): Koa {
  const { config, conn, provider, logger } = deps;
  const views = deps.views ?? createViews();
  const app = new Koa({ proxy: config.trustProxy });
  // oidc-provider signs its cookies with cookies.keys; mounted, it reads them through the outer app's keys.
  if (!Array.isArray(provider.keys) || provider.keys.length === 0) throw new Error('the provider has no cookie keys (cookies.keys)');
  app.keys = [...provider.keys];
  app.proxy = config.trustProxy;
  app.silent = true;
  app.on('error', (err: unknown) => logger.error({ err }, 'error after the response started'));

  const interactions = interactionRouter({
    provider,
    conn,
    views,
    csrf: createCsrfTokens(provider.keys),
    logger: logger.child({ component: 'interactions' }),
  });
  const health = healthRouter(conn);

  app.use(requestLog(logger));
  app.use(errorBoundary({ views, logger }));
  app.use(securityHeaders());
  app.use(health.routes());
  app.use(interactions.routes());
  app.use(interactions.allowedMethods());
  for (const router of deps.extraRouters ?? []) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  app.use(mount(provider));
  return app;
}
