import type { Connection } from 'mongoose';
import type { Account as OidcAccount, FindAccount } from 'oidc-provider';
import { findAccountById, type Account } from '../accounts/accounts.ts';
import type { FactorRegistry } from '../factors/registry.ts';

/**
 * Standard claims of an account (OIDC Core §5.1). oidc-provider filters them by the granted scopes and the
 * `claims` configuration; `sub` is the account id (stable, never reassigned). `email_verified` says whether the
 * customer proved control of this very address (a code mailed to it was entered: the email-code factor's
 * enrolment); an address changed since is unverified again.
 */
export function accountClaims(account: Account, emailVerified = false): { sub: string; email: string; email_verified: boolean; name: string } {
  return { sub: account.id, email: account.email, email_verified: emailVerified, name: account.name };
}

/** oidc-provider's `findAccount`: active accounts only, so a disabled account's tokens stop resolving. */
export function createFindAccount(conn: Connection, factors?: FactorRegistry): FindAccount {
  return async function findAccount(_ctx, sub): Promise<OidcAccount | undefined> {
    const account = await findAccountById(conn, sub);
    if (!account || account.status !== 'active') return undefined;
    return {
      accountId: account.id,
      async claims() {
        const verified = factors ? await factors.provesEmail(account.id, account.email) : false;
        return accountClaims(account, verified);
      },
    };
  };
}
