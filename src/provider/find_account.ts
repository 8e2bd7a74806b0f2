import type { Account as OidcAccount, FindAccount } from 'oidc-provider';
import type { Account } from '../accounts/accounts.ts';
import { accountAndProofs, accountFacts, type AuthenticationDeps } from '../authentication/request_state.ts';
import { isCurrent } from '../authentication/state.ts';

/**
 * Standard claims of an account (OIDC Core §5.1). oidc-provider filters them by the granted scopes and the
 * `claims` configuration; `sub` is the account id (stable, never reassigned). `email_verified` says whether the
 * customer proved control of this very address (a code mailed to it was entered: the email-code factor's
 * enrolment); an address changed since is unverified again. `invoice_eligible` (scope `invoice_eligibility`): the
 * account holds the invoice privilege, so a shop offers paying by invoice.
 */
export function accountClaims(
  account: Account,
  emailVerified = false,
): { sub: string; email: string; email_verified: boolean; name: string; invoice_eligible: boolean } {
  return { sub: account.id, email: account.email, email_verified: emailVerified, name: account.name, invoice_eligible: account.privileges.includes('invoice') };
}

/**
 * oidc-provider's `findAccount`: active accounts only, so a disabled account's tokens stop resolving. With a token (an
 * authorization code or refresh token at the token endpoint, an access token at userinfo), the token's session must
 * still hold a current proof of the account: a token issued before a password change, a factor reset or a disable —
 * even one issued by a request that was in flight during the change — finds no account (`invalid_grant`).
 */
/** The uid of the request's stored provider session signed in as `sub`, if any. */
function browserSessionOf(ctx: Parameters<FindAccount>[0], sub: string): string | undefined {
  const session = (ctx as { oidc?: { session?: { uid?: string; accountId?: string; new?: boolean } } }).oidc?.session;
  return session && !session.new && session.accountId === sub ? session.uid : undefined;
}

export function createFindAccount(deps: AuthenticationDeps): FindAccount {
  return async function findAccount(ctx, sub, token): Promise<OidcAccount | undefined> {
    // With a token: the token's session. At the authorization endpoint: the browser's session, whose proofs the
    // step-up checks read next (loaded with the account in one command).
    const sessionUid = token ? (token as { sessionUid?: unknown }).sessionUid : browserSessionOf(ctx, sub);
    if (token && typeof sessionUid !== 'string') return undefined;
    const [{ account }, state] = typeof sessionUid === 'string' ? await accountAndProofs(deps, ctx.req, sub, sessionUid) : [await accountFacts(deps, ctx.req, sub), undefined];
    if (!account) return undefined;
    if (token && !isCurrent(state, account)) return undefined;
    return {
      accountId: account.id,
      async claims() {
        const verified = deps.factors ? await deps.factors.provesEmail(account.id, account.email) : false;
        return accountClaims(account, verified);
      },
    };
  };
}
