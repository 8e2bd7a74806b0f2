/**
 * The factor contract (docs/ARCHITECTURE.md "The factor contract"): every second factor is a plugin folder
 * `src/factors/<id>/` exporting one object of this shape, and `registry.ts` lists them. Callers (policy,
 * interactions, console) ask for capabilities — `factor.enrol`, `factor.challenge`, `factor.level` — never for a
 * factor by name.
 *
 * Expected user failures are values (`{ ok: false, code }`, codes below); programmer and infrastructure errors
 * throw.
 */

/** What a factor needs to know about the account it works for. */
export interface FactorAccount {
  /** The account id (the OIDC `sub`). */
  readonly id: string;
  /** The account's email: the label in authenticator apps, the address email codes go to. */
  readonly email: string;
  /** The customer's display name, for the greeting of mails the factor sends (optional). */
  readonly name?: string;
  /**
   * The language of the mails the factor sends (`de`): the account's own, else the language of the page that asked
   * for the mail; the deployment's default when absent.
   */
  readonly language?: string | undefined;
}

/** A lockout as the attempt limiter reports it (see `shared/attempts.ts`). */
export interface LockState {
  /** When the temporary lockout ends; absent for a permanent lock. */
  readonly until?: Date;
  /**
   * A permanent lock (NIST SP 800-63B §5.2.2: at most 100 consecutive failures per account — 90 for app and
   * email codes, 10 for recovery codes): the second factor stays locked until support resets it or the user
   * redeems a recovery code.
   */
  readonly permanent: boolean;
  /** The consecutive failures counted so far, where the limiter reports them (the lockout mail shows the count). */
  readonly failures?: number;
}

/**
 * Stable failure codes (wire-visible, lower_snake_case); each page renders its own message for each.
 * - `invalid_code`: wrong, malformed or unknown input (no hint which);
 * - `code_replayed`: a code that was already accepted once (RFC 6238 §5.2; NIST SP 800-63B §5.1.4.2);
 * - `locked`: too many failures, see {@link LockedFailure};
 * - `expired`: a pending enrolment or a sent code is too old;
 * - `not_enrolled`: the account has no active enrolment of this factor (or no pending one, for `confirm`);
 * - `already_enrolled`: `enrol.begin` on an active factor without `replace: true`;
 * - `resend_too_soon`: `challenge` asked again within its cooldown (`retryAfterSeconds` says how long to wait);
 * - `too_many_codes`: the account's budget of sent codes is spent for now (no mail bombing; `retryAfterSeconds`);
 * - `too_many_tries`: the sent code was entered wrongly too often and is dead: request a new one;
 * - `mail_failed`: the code could not be delivered; nothing was stored, nothing was used up: retry or pick another
 *   method.
 */
export type FactorFailureCode =
  | 'invalid_code'
  | 'code_replayed'
  | 'locked'
  | 'expired'
  | 'not_enrolled'
  | 'already_enrolled'
  | 'resend_too_soon'
  | 'too_many_codes'
  | 'too_many_tries'
  | 'mail_failed';

/** The attempt limiter refused before checking anything. */
export interface LockedFailure extends LockState {
  readonly ok: false;
  readonly code: 'locked';
}

/** Any other expected failure. `lock` is set when this very failure started a lockout (say so on the page). */
export interface PlainFailure {
  readonly ok: false;
  readonly code: Exclude<FactorFailureCode, 'locked'>;
  readonly lock?: LockState;
  /** `invalid_code` of a sent code: how many more tries this code allows (0: request a new one). */
  readonly triesLeft?: number;
  /** `resend_too_soon`, `too_many_codes`: whole seconds until sending is allowed again. */
  readonly retryAfterSeconds?: number;
}

/** An expected user failure. */
export type FactorFailure = LockedFailure | PlainFailure;

/** A successful verification: what the session records (kratos style: the session level is derived from it). */
export interface VerifySuccess {
  readonly ok: true;
  /** The factor's id. */
  readonly factorId: string;
  /** The RFC 8176 values the factor proves. */
  readonly amr: readonly string[];
  /** The assurance level the factor proves (with a password beside it). */
  readonly level: number;
  /**
   * Factors of counted single-use codes: how many are left after this one. Set only by them, so its presence means
   * "a backup code was used": the customer is notified and told how many remain.
   */
  readonly remaining?: number;
  /** Whether this success lifted a lockout of the second factor (a recovery code does; tell the user). */
  readonly unlocked?: boolean;
}

/** What {@link Factor.verify} answers: a success with what it proves, or an expected failure. */
export type VerifyResult = VerifySuccess | FactorFailure;

/** Options of {@link FactorEnrolment.begin}. */
export interface EnrolBeginOptions {
  /**
   * Discard the pending enrolment and start a new one ("new QR code"). Nothing active changes. Default `false`:
   * `begin` keeps and returns the same pending enrolment for the same binding (the session that started it).
   */
  readonly renew?: boolean;
  /**
   * Allow replacing an **active** enrolment. Only pass it after a fresh second-factor verification of the same
   * session (enrolment hijack protection, OWASP ASVS 7.5.1): without it `begin` on an active factor fails with
   * `already_enrolled` and nothing changes. Even with it, the active factor keeps working until the new one is
   * confirmed.
   */
  readonly replace?: boolean;
  /**
   * Opaque id of the session or sign-in flow that enrols (the console session, the interaction uid). A factor that
   * shows a secret on the page binds the pending enrolment to it: another binding never sees that secret, and
   * `confirm` must present the same binding. Pages always pass it; factors that show nothing ignore it.
   */
  readonly binding?: string;
  /**
   * The page directly follows the confirmation of the account's first second factor (recovery codes: the first set
   * is handed out there without a fresh second factor). Factors that need no such exception ignore it.
   */
  readonly initial?: boolean;
}

/** What `begin` hands to the enrolment view. Factor-specific fields live in `view`. */
export interface EnrolBeginSuccess<View = Record<string, unknown>> {
  readonly ok: true;
  /**
   * `pending`: the view shows `view` and the user confirms with {@link FactorEnrolment.confirm};
   * `active`: the factor is active already (recovery codes: `view` holds the codes, shown once).
   */
  readonly status: 'pending' | 'active';
  /** Data for the enrolment view (QR code, manual key, recovery codes …). Never log it. */
  readonly view: View;
  /**
   * A factor that delivers (`FactorEnrolment.delivers`): where the code went (masked, safe to show) and when "send a
   * new code" is allowed.
   */
  readonly sent?: { readonly to: string; readonly resendAvailableAt?: Date };
}

/** The result of a successful {@link FactorEnrolment.confirm}. */
export interface ConfirmSuccess {
  readonly ok: true;
  /** Whether an earlier active enrolment was replaced (notify the user: ASVS 2.5.5). */
  readonly replaced: boolean;
}

/**
 * Enrolment: optional, for factors a user sets up themselves.
 *
 * Re-authentication is the caller's job: the page asks for the password again (OWASP ASVS 7.5.1) before calling
 * `begin`, and for a fresh second factor before passing `replace: true`. A factor cannot check that itself: it
 * never sees the password.
 */
export interface FactorEnrolment<View = Record<string, unknown>> {
  /**
   * `true` when `begin` delivers the code that `confirm` checks (a mail): pages call `begin` only when the customer
   * asks ("Send code", "Send a new code"), never just because a page is shown. `false` when `begin` only prepares
   * what the page shows (a QR code) and may run on every showing of the page.
   */
  readonly delivers: boolean;
  /**
   * Starts (or resumes) an enrolment; see {@link EnrolBeginOptions}. Factors that deliver something (email codes)
   * send it here and may fail like {@link FactorChallenge.send} (`resend_too_soon`, `too_many_codes`,
   * `mail_failed`).
   */
  begin(account: FactorAccount, options?: EnrolBeginOptions): Promise<EnrolBeginSuccess<View> | FactorFailure>;
  /**
   * Activates the pending enrolment when `input` is correct; a wrong input keeps the pending enrolment
   * (`invalid_code`) and changes nothing active. Absent when `begin` activates directly (`status: 'active'`).
   */
  confirm?(accountId: string, input: unknown, binding?: string): Promise<ConfirmSuccess | FactorFailure>;
}

/** What {@link FactorChallenge.send} reports when the challenge went out. */
export interface ChallengeSent {
  readonly ok: true;
  /** When the sent code stops being accepted. */
  readonly expiresAt: Date;
  /** Where it went, masked (`m•••@example.com`): safe to show. */
  readonly sentTo?: string;
  /** The earliest time a resend is allowed (the page's "send a new code" button). */
  readonly resendAvailableAt?: Date;
}

/** Challenge: optional, for factors that send something before the user can answer (email codes). */
export interface FactorChallenge {
  /**
   * Sends a fresh challenge, which makes any earlier one dead; `resend_too_soon` within the cooldown,
   * `too_many_codes` past the hourly budget, `mail_failed` when delivery failed (then nothing changed: the earlier
   * challenge, if any, stays as it was, and the cooldown and budget are not used up). `sentTo` is safe to show.
   */
  send(account: FactorAccount): Promise<ChallengeSent | FactorFailure>;
}

/**
 * The factor's own parts of the pages (docs/ARCHITECTURE.md "The factor contract"): pug templates rendered into the
 * sign-in and console pages, which keep the frame (heading, the shop's name, cancel). Each is a view name under
 * `views/` (`factors/totp/challenge`) or an absolute path to a `.pug` file (a factor shipped outside this package).
 * Every template gets a {@link FactorViewModel}.
 */
export interface FactorViews {
  /** The input of a challenge: what to enter and the form that posts it (and "send code" for delivering factors). */
  readonly challenge: string;
  /**
   * The enrolment: before `begin` (what will happen; for delivering factors the "send code" form), and after it
   * (the pending enrolment's view and the form that confirms it; for `status: 'active'` factors, what was issued).
   */
  readonly enrol?: string;
}

/** What a factor's template receives from the page that renders it. */
export interface FactorViewModel {
  /** The factor: id, label. */
  readonly factor: { readonly id: string; readonly label: string };
  /** `before`: nothing begun yet; `pending`: `begin` answered with `enrolment`; `challenge`: the sign-in challenge. */
  readonly stage: 'before' | 'pending' | 'challenge';
  /** The `view` of {@link EnrolBeginSuccess} (pending stage). */
  readonly enrolment?: Readonly<Record<string, unknown>>;
  /** Where the factor delivers its codes, masked (see {@link Factor.destination}). */
  readonly destination?: string;
  /** Where a code was just sent, masked, and when a new one may be asked for (whole seconds from now). */
  readonly sent?: { readonly to: string; readonly resendInSeconds: number };
  /** The form token every form of the page carries (field `csrf`). */
  readonly csrf: string;
  /**
   * Where the factor's forms post (absent: the page offers no such form here). `verify`/`confirm` take the field
   * `code`; `send` and `renew` take none. Challenge forms also carry the field `method` (the factor's id).
   */
  readonly actions: { readonly verify?: string; readonly send?: string; readonly confirm?: string; readonly renew?: string };
  /** The page's error message, already shown at the top; `aria-describedby` of the input points at `form-error`. */
  readonly error?: string;
}

/** A second factor. */
export interface Factor {
  /** Stable lower_snake_case id (wire-visible: form fields, audit events, stored session methods). */
  readonly id: string;
  /** RFC 8176 `amr` values this factor contributes (`otp` …); `mfa` is added by the policy, never here. */
  readonly amr: readonly string[];
  /** The assurance level it proves beside a password: 2 or 3 (`src/policy/acr.ts`). */
  readonly level: number;
  /**
   * The label on pages and in mails: a message id of the catalogues (`factors.totp.label` → "Authenticator app"), or,
   * for a factor that ships no catalogue entries, text shown as is in every language.
   */
  readonly label: string;
  /** The label inside a sentence ("Remove authenticator app"): a message id or text; default: {@link label}. */
  readonly inSentence?: string;
  /**
   * `primary`: offered as a method to set up and to sign in with; `backup`: only offered as a fallback
   * ("use a recovery code"), set up after a primary factor.
   */
  readonly role: 'primary' | 'backup';
  /** What the pages offer to switch to this factor ("Use a recovery code"), a message id or text; default: the label. */
  readonly offer?: string;
  /**
   * The factor's own words for a code it refused (`invalid_code`), a message id or text: what is wrong and what to do
   * with this kind of code ("wait for the next code in your app", "check the latest email"); default: a wording for
   * any code.
   */
  readonly wrongCode?: string;
  readonly views: FactorViews;
  readonly enrol?: FactorEnrolment;
  readonly challenge?: FactorChallenge;
  /**
   * The collection of the factor's one document per account (`_id` = the account id), for a factor that keeps one and
   * reads it through the request's reads (`readModelDocument` in `src/store/model_reads.ts`): a request that reads
   * the account may then fetch it in the same command (docs/OPERATIONS.md "Reads within one request"). Optional: a
   * factor without it reads its state its own way, in commands of its own.
   */
  readonly accountCollection?: string;
  /**
   * Checks the user's input (a string from a form, but any value must be handled: non-strings, huge strings →
   * `invalid_code`, never a throw). Counts the attempt against the account's attempt budget first (`locked`
   * when exhausted) and consumes the accepted code atomically (a second use → `code_replayed` or `invalid_code`).
   */
  verify(accountId: string, input: unknown): Promise<VerifyResult>;
  /**
   * Whether `input` could be a code of this factor at all (the right length and alphabet, once spaces and the like
   * are dropped). Pages refuse an empty or malformed entry before `verify`, so it never counts as an attempt: it
   * cannot be right, and a customer who pressed Enter too early must not lock themselves out. Optional: without it
   * only an empty entry is refused.
   */
  wellFormed?(input: unknown): boolean;
  /** Whether the account has an **active** enrolment (a pending one does not count). */
  isEnrolled(accountId: string): Promise<boolean>;
  /** Removes every enrolment of the account (active and pending); idempotent. Notify and audit in the caller. */
  remove(accountId: string): Promise<void>;
  /**
   * When the active enrolment was confirmed (`undefined` when not enrolled). Optional: method choice uses it to
   * default the primary method to the first enrolled one; a factor without it counts as enrolled first.
   */
  enrolledAt?(accountId: string): Promise<Date | undefined>;
  /**
   * The address the customer proved to control by completing this factor's enrolment (email codes: the address the
   * enrolment code went to), or `undefined`. Optional: the `email_verified` claim is true only when a factor proved
   * the account's current address.
   */
  verifiedEmail?(accountId: string): Promise<string | undefined>;
  /**
   * Where the factor delivers its codes for this account, masked so it is safe to show (`m•••@example.com`), or
   * `undefined` for a factor that delivers nothing. Optional.
   */
  destination?(account: FactorAccount): string | undefined;
  /**
   * How many single-use codes the account has left (`undefined` when it holds none). Optional: factors of counted
   * codes report it, the console shows it, and a success of such a factor tells the customer how many remain.
   */
  remaining?(accountId: string): Promise<number | undefined>;
}

/** Whether `input` could be a code of `factor` (see {@link Factor.wellFormed}); an empty entry never is. */
export function isWellFormed(factor: Factor, input: unknown): boolean {
  return typeof input === 'string' && input.trim() !== '' && (factor.wellFormed?.(input) ?? true);
}

/** Whether `value` is a valid factor id: lower_snake_case, 1-32 characters. */
export function isFactorId(value: string): boolean {
  return /^[a-z][a-z0-9_]{0,31}$/.test(value);
}

/**
 * Whether `factor` delivers its codes to an email address (it has `verifiedEmail`): it proves what the mailbox proves,
 * so after a password reset by emailed link it adds nothing to the link and does not count as the second factor due.
 */
export function reachesMailbox(factor: Pick<Factor, 'verifiedEmail'>): boolean {
  return typeof factor.verifiedEmail === 'function';
}
