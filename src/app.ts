/**
 * createApp: the outer Koa app. Middleware order is the design: the request log, HTTP metrics, the one error
 * boundary, security headers, health probes and `/metrics`, the dev outbox page (development only), the step-up
 * pages and the customers' security console (`stepUp.middleware`, as a plugin user mounts them), extra routers, and oidc-provider (itself a Koa app)
 * mounted last.
 */
import type Router from '@koa/router';
import Koa from 'koa';
import mount from 'koa-mount';
import type { Connection } from 'mongoose';
import type Provider from 'oidc-provider';
import type { Config } from './config/index.ts';
import { devMailRouter, servesDevMail } from './http/dev_mail.ts';
import { errorBoundary } from './http/error_boundary.ts';
import { healthRouter } from './http/health.ts';
import { createMetrics, httpMetrics, labelProviderRoutes, metricsRouter, type AppMetrics } from './http/metrics.ts';
import { requestLog } from './http/request_log.ts';
import { securityHeaders } from './http/security_headers.ts';
import type { Views } from './http/views.ts';
import type { Mailer } from './mail/transport.ts';
import type { StepUp } from './plugin.ts';
import type { Logger } from './shared/logger.ts';

export interface AppDeps {
  config: Config;
  conn: Connection;
  provider: Provider;
  logger: Logger;
  /** Defaults to the step-up layer's views. */
  views?: Views;
  /** Extra routers mounted before the provider (e.g. the dev demo shop). */
  extraRouters?: Router[];
  /** The step-up layer the provider was configured with (`createStepUp`): its pages are mounted here. */
  stepUp: StepUp;
  /**
   * The outgoing mailer (the one given to `createStepUp`). In `outbox` mode, outside production, its captured mails
   * are served at `/dev/mail`.
   */
  mailer?: Mailer;
  /** The app's metrics registry; default a fresh one (served at `/metrics`). */
  metrics?: AppMetrics;
}

export function createApp(deps: AppDeps): Koa {
  const { config, conn, provider, logger } = deps;
  const views = deps.views ?? deps.stepUp.views;
  const app = new Koa({ proxy: config.trustProxy });
  // oidc-provider signs its cookies with cookies.keys; mounted, it reads them through the outer app's keys.
  if (!Array.isArray(provider.keys) || provider.keys.length === 0) throw new Error('the provider has no cookie keys (cookies.keys)');
  app.keys = [...provider.keys];
  app.proxy = config.trustProxy;
  // Behind proxies the client's address is the entry the proxies appended to X-Forwarded-For (`proxyHops` from the
  // right), never one the client itself wrote (the reset limits and the audit's IP rely on it).
  if (config.trustProxy) app.maxIpsCount = config.proxyHops;
  app.silent = true;
  app.on('error', (err: unknown) => logger.error({ err }, 'error after the response started'));

  const health = healthRouter(conn);
  const metrics = deps.metrics ?? createMetrics();

  app.use(requestLog(logger));
  app.use(httpMetrics(metrics));
  app.use(errorBoundary({ views, logger, support: config.support }));
  app.use(securityHeaders({ imageUrls: [config.brand.logoUrl] }));
  app.use(health.routes());
  app.use(metricsRouter(metrics, { token: config.metricsToken }).routes());
  if (servesDevMail(deps.mailer, config.production)) app.use(devMailRouter({ mailer: deps.mailer, views }).routes());
  app.use(deps.stepUp.middleware(provider));
  for (const router of deps.extraRouters ?? []) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  app.use(labelProviderRoutes());
  app.use(mount(provider));
  return app;
}
