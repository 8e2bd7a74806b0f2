import type { Connection } from 'mongoose';
import type { Account as OidcAccount, FindAccount } from 'oidc-provider';
import { findAccountById, type Account } from '../accounts/accounts.ts';

/**
 * Standard claims of an account (OIDC Core §5.1). oidc-provider filters them by the granted scopes and the
 * `claims` configuration; `sub` is the account id (stable, never reassigned). `email_verified` is false:
 * this provider does not verify addresses yet, and a shop must not assume it did.
 */
export function accountClaims(account: Account): { sub: string; email: string; email_verified: boolean; name: string } {
  return { sub: account.id, email: account.email, email_verified: false, name: account.name };
}

/** oidc-provider's `findAccount`: active accounts only, so a disabled account's tokens stop resolving. */
export function createFindAccount(conn: Connection): FindAccount {
  return async function findAccount(_ctx, sub): Promise<OidcAccount | undefined> {
    const account = await findAccountById(conn, sub);
    if (!account || account.status !== 'active') return undefined;
    return {
      accountId: account.id,
      claims() {
        return accountClaims(account);
      },
    };
  };
}
