/**
 * The `acr` values this provider advertises (`acr_values_supported`).
 * The values and the level arithmetic live in `src/policy/acr.ts`; this module only picks what the provider
 * configuration needs, so there is one list.
 */
import { ACR, MULTI_FACTOR_ALIAS } from '../policy/acr.ts';

export const ACR_PWD: string = ACR.pwd;
export const ACR_MFA: string = ACR.mfa;
export const ACR_MFA_APP: string = ACR.mfaApp;
/** The PAPE multi-factor policy (the Auth0/Okta step-up value), an alias of {@link ACR_MFA}. */
export const ACR_PAPE_MFA: string = MULTI_FACTOR_ALIAS;

/** `acr_values_supported` in discovery: weakest to strongest (see `src/policy/acr.ts`), the PAPE alias last. */
export const ACR_VALUES: readonly string[] = Object.freeze([ACR.pwd, ACR.mfa, ACR.mfaApp, MULTI_FACTOR_ALIAS]);

