import type { Account as OidcAccount, FindAccount } from 'oidc-provider';
import type { Account } from '../accounts/accounts.ts';
import { accountFacts, sessionProofs, type AuthenticationDeps } from '../authentication/request_state.ts';
import { isCurrent } from '../authentication/state.ts';

/**
 * Standard claims of an account (OIDC Core §5.1). oidc-provider filters them by the granted scopes and the
 * `claims` configuration; `sub` is the account id (stable, never reassigned). `email_verified` says whether the
 * customer proved control of this very address (a code mailed to it was entered: the email-code factor's
 * enrolment); an address changed since is unverified again.
 */
export function accountClaims(account: Account, emailVerified = false): { sub: string; email: string; email_verified: boolean; name: string } {
  return { sub: account.id, email: account.email, email_verified: emailVerified, name: account.name };
}

/**
 * oidc-provider's `findAccount`: active accounts only, so a disabled account's tokens stop resolving. With a token (an
 * authorization code or refresh token at the token endpoint, an access token at userinfo), the token's session must
 * still hold a current proof of the account: a token issued before a password change, a factor reset or a disable —
 * even one issued by a request that was in flight during the change — finds no account (`invalid_grant`).
 */
export function createFindAccount(deps: AuthenticationDeps): FindAccount {
  return async function findAccount(ctx, sub, token): Promise<OidcAccount | undefined> {
    const { account } = await accountFacts(deps, ctx.req, sub);
    if (!account) return undefined;
    if (token) {
      const sessionUid = (token as { sessionUid?: unknown }).sessionUid;
      if (typeof sessionUid !== 'string' || !isCurrent(await sessionProofs(deps, ctx.req, sessionUid), account)) return undefined;
    }
    return {
      accountId: account.id,
      async claims() {
        const verified = deps.factors ? await deps.factors.provesEmail(account.id, account.email) : false;
        return accountClaims(account, verified);
      },
    };
  };
}
