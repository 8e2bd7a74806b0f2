/**
 * The `acr` values this provider advertises (`acr_values_supported`) and what a password login records.
 * The values and the level arithmetic live in `src/policy/acr.ts`; this module only picks what the provider
 * configuration and the login step need, so there is one list.
 */
import { ACR, MULTI_FACTOR_ALIAS, PASSWORD_METHOD } from '../policy/acr.ts';

export const ACR_PWD: string = ACR.pwd;
export const ACR_MFA: string = ACR.mfa;
export const ACR_MFA_APP: string = ACR.mfaApp;
/** The PAPE multi-factor policy (the Auth0/Okta step-up value), an alias of {@link ACR_MFA}. */
export const ACR_PAPE_MFA: string = MULTI_FACTOR_ALIAS;

/** `acr_values_supported` in discovery: weakest to strongest (DESIGN.md §4), the PAPE alias last. */
export const ACR_VALUES: readonly string[] = Object.freeze([ACR.pwd, ACR.mfa, ACR.mfaApp, MULTI_FACTOR_ALIAS]);

/** What a password login records on the session: the password level and RFC 8176 `amr: ["pwd"]`. */
export function passwordLoginAuthentication(): { acr: string; amr: string[] } {
  return { acr: ACR.pwd, amr: [...PASSWORD_METHOD.amr] };
}
