/**
 * The console's sign-in answer (`GET /account/callback`: code + PKCE at the provider's token endpoint, the session
 * rotated at every sign-in) and sign-out (`POST /account/logout`: RP-initiated logout at the provider).
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { findAccountById, type Account } from '../accounts/accounts.ts';
import { sessionProofs } from '../authentication/request_state.ts';
import { deriveProven, isCurrent, type AuthenticationState } from '../authentication/state.ts';
import { requireForm } from '../http/forms.ts';
import { LEVEL, levelOf } from '../policy/acr.ts';
import { forgetAllReads } from '../store/request_reads.ts';
import { ACCOUNT_CONSOLE_CLIENT_ID, ACCOUNT_PATH, accountConsoleUris } from './client.ts';
import { consoleError, type ConsoleKit } from './kit.ts';
import { redeemCode } from './oidc.ts';
import { createSession, deleteSession, setPendingAction, takeLogin, type SignedIn } from './session.ts';

export function signInRoutes(router: Router, kit: ConsoleKit): void {
  const { conn, provider, factors, logger } = kit.deps;
  const { issuer } = kit;

  /** The authentication state of this browser's provider session, when it is a current proof of `account`. */
  async function browserProofs(ctx: Context, account: Account): Promise<AuthenticationState | undefined> {
    const sessionId = ctx.cookies.get(provider.cookieName('session'), { signed: true });
    const session = sessionId ? await provider.Session.find(sessionId) : undefined;
    if (!session?.uid || session.accountId !== account.id) return undefined;
    const proofs = await sessionProofs({ conn, factors }, ctx.req, session.uid);
    return isCurrent(proofs, account) ? proofs : undefined;
  }

  router.get('/callback', async function finishSignIn(ctx) {
    const session = await kit.currentSession(ctx);
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    const login = session ? await takeLogin(conn, session.id, state) : null;
    if (!session || !login) {
      // A replayed or forged callback, or one whose console session ended: nothing to finish.
      throw consoleError('sign_in_expired', 'console.error.sign_in_expired', 400);
    }
    if (typeof ctx.query.iss === 'string' && ctx.query.iss !== issuer) {
      throw consoleError('sign_in_failed', 'console.error.sign_in_wrong_issuer', 400);
    }
    if (typeof ctx.query.error === 'string') {
      if (session.signedIn && login.purpose === 'reauth') {
        await setPendingAction(conn, session.id, null);
        kit.seeOther(ctx, `${ACCOUNT_PATH}?done=reauth_cancelled`);
        return;
      }
      const cancelled = ctx.query.error === 'access_denied';
      kit.render(ctx, 'signed_out', {
        title: cancelled ? 'console.signed_out.cancelled_title' : 'console.signed_out.failed_title',
        heading: cancelled ? 'console.signed_out.cancelled_title' : 'console.signed_out.failed_heading',
        message: cancelled ? 'console.signed_out.cancelled_message' : 'console.signed_out.failed_message',
        code: ctx.query.error.slice(0, 64),
      }, cancelled ? 200 : 400);
      return;
    }
    const code = typeof ctx.query.code === 'string' && ctx.query.code.length <= 512 ? ctx.query.code : '';
    if (!code) throw consoleError('sign_in_failed', 'console.error.sign_in_incomplete', 400);
    const token = await redeemCode({ issuer, provider, tokenEndpoint: kit.deps.tokenEndpoint }, code, login);
    // What this request read before the code was redeemed is from before it: the account is read again.
    forgetAllReads();
    const account = await findAccountById(conn, token.sub);
    if (!account || account.status !== 'active') throw consoleError('account_unavailable', 'console.error.account_unavailable', 403);
    // The console session takes the epoch this browser's proofs were made under, checked against the account read
    // after the token: a reset or password change that landed during this callback leaves nothing signed in.
    const proofs = await browserProofs(ctx, account);
    if (!proofs) throw consoleError('sign_in_failed', 'console.error.sign_in_not_completed', 400);
    const previous = session.signedIn?.accountId === token.sub && session.signedIn.epoch === proofs.epoch ? session.signedIn : null;
    // A re-authentication counts when it completed after it was requested (auth_time is in whole seconds) at the level
    // asked for — the provider asked for every method of that level again (max_age=0, pushed: not editable) — and
    // when this browser's session proves it: its password and factor proofs made after the request reach that level.
    const reauthenticated = login.purpose === 'reauth'
      && token.authTime.getTime() >= Math.floor(login.createdAt.getTime() / 1000) * 1000
      && (levelOf(token.acr) ?? LEVEL.none) >= (login.level ?? LEVEL.pwd)
      && deriveProven(proofs, account, (id) => factors.get(id), { since: new Date(login.createdAt.getTime() - 1) }).level >= (login.level ?? LEVEL.pwd);
    const signedIn: SignedIn = {
      accountId: token.sub,
      acr: token.acr,
      amr: token.amr,
      authTime: token.authTime,
      reauthAt: reauthenticated ? token.authTime : previous?.reauthAt ?? null,
      reauthLevel: reauthenticated ? levelOf(token.acr) ?? LEVEL.none : previous?.reauthLevel ?? LEVEL.none,
      epoch: proofs.epoch,
      idToken: token.raw,
    };
    // A new session id at every sign-in (no fixation); a parked change survives only for the same account.
    await deleteSession(conn, session.id);
    const created = await createSession(conn, { signedIn, pendingAction: previous ? session.pendingAction : null });
    kit.writeCookie(ctx, created.token);
    logger.info({ event: 'account.signed_in', accountId: account.id, purpose: login.purpose, acr: token.acr }, 'console sign-in');
    const back = login.returnTo.startsWith(`${ACCOUNT_PATH}`) && (previous || login.purpose === 'sign_in') ? login.returnTo : ACCOUNT_PATH;
    kit.seeOther(ctx, back);
  });

  router.post('/logout', requireForm(), kit.parseForm, async function signOut(ctx) {
    const signed = await kit.postContext(ctx);
    await deleteSession(conn, signed.session.id);
    kit.writeCookie(ctx, null);
    const params = new URLSearchParams({
      client_id: ACCOUNT_CONSOLE_CLIENT_ID,
      post_logout_redirect_uri: accountConsoleUris(issuer).postLogoutRedirectUri,
      id_token_hint: signed.signedIn.idToken,
    });
    kit.seeOther(ctx, `/session/end?${params.toString()}`);
  });
}
