/**
 * What the provider's interaction policy and the sign-in pages agree on (docs/ARCHITECTURE.md "The step-up
 * decision"): where the pages answer, and the reasons the policy gives when it sends the browser there. Both sides
 * import these; neither imports the other.
 */

/** Where interactions live; the `_interaction` cookie is scoped to this path, so every step's route sits below it. */
export const INTERACTION_PATH = '/interaction';

/** The step-up check's reason (wire-visible in `prompt.reasons`). */
export const MFA_REQUIRED_REASON = 'mfa_required';

/** The reason of the check that asks a session whose authentication no longer holds to sign in again. */
export const SESSION_OUTDATED_REASON = 'session_outdated';
