/**
 * Development only: `/dev/mail` lists the mails the in-process outbox captured (no SMTP configured), newest first,
 * so a newcomer can read an email code with no setup. `createApp` mounts it only outside production and
 * only for a mailer in `outbox` mode; everywhere else the path is a plain 404.
 *
 * A mail's HTML part is shown only inside `<iframe sandbox srcdoc=…>`: an empty `sandbox` gives it an opaque origin,
 * no scripts, no forms, no popups and no top navigation, and the page's CSP (inherited by `about:srcdoc`) allows no
 * script either. The text part is shown in `<pre>`. Pug escapes both.
 */
import Router from '@koa/router';
import { DEFAULT_OUTBOX_PATH, type Mailer } from '../mail/transport.ts';
import type { Views } from './views.ts';

/** Where the outbox page lives (the mailer's log lines name the same path). */
export const DEV_MAIL_PATH = DEFAULT_OUTBOX_PATH;

/** Whether the app serves the outbox page: a mailer in outbox mode, never in production. */
export function servesDevMail(mailer: Mailer | undefined, production: boolean): mailer is Mailer {
  return !production && mailer?.mode === 'outbox' && mailer.outbox() !== undefined;
}

/** The outbox page; mount it only when {@link servesDevMail} is true. */
export function devMailRouter(deps: { mailer: Mailer; views: Views }): Router {
  const { mailer, views } = deps;
  const router = new Router();
  router.get(DEV_MAIL_PATH, function devMail(ctx) {
    const mails = (mailer.outbox() ?? []).map((mail) => ({
      to: mail.to,
      from: mail.from,
      subject: mail.subject,
      sentAt: mail.sentAt.toISOString(),
      text: mail.text,
      html: mail.html,
    }));
    const nonce = typeof ctx.state.cspNonce === 'string' ? ctx.state.cspNonce : '';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Robots-Tag', 'noindex');
    // The mails' HTML uses inline style attributes only (mail clients drop <style>); nothing else is relaxed.
    const csp = ctx.response.get('Content-Security-Policy');
    if (typeof csp === 'string' && csp) ctx.set('Content-Security-Policy', `${csp}; style-src-attr 'unsafe-inline'`);
    ctx.type = 'html';
    ctx.body = views.render('dev_mail', { title: 'Dev mail', cspNonce: nonce, mails, path: DEV_MAIL_PATH });
  });
  return router;
}
