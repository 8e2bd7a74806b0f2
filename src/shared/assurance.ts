/**
 * The assurance levels, as numbers (docs/ARCHITECTURE.md "Assurance levels and `amr`"): what a factor declares it
 * proves beside a password, and what the policy compares. Kept below every domain folder so factors and policy share
 * them without importing each other; their `acr` names live in `src/policy/acr.ts`.
 */

/** Level numbers, so callers never write a bare `2`. */
export const LEVEL = Object.freeze({ none: 0, pwd: 1, mfa: 2, mfaApp: 3 } as const);

/** The highest level this provider knows. */
export const MAX_LEVEL = LEVEL.mfaApp;
