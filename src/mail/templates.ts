/**
 * Mail templates: the email code and the security notifications of OWASP ASVS 2.5.5 (a factor added,
 * removed or reset, a recovery code used, recovery codes regenerated, the account locked) and 2.2.3 (the password
 * changed), and the notice to a company's members that its admin made two-factor authentication mandatory (the
 * `forced` policy).
 *
 * Every message has an HTML and a plain-text part rendered by pug from `views/mail/`, carries the issuer's name,
 * and loads nothing: no images, no tracking pixels, no rewritten links — the only links are the optional
 * `accountUrl` to the customer's own security settings, the page that asks for a password reset (`resetUrl`, in
 * the notifications that advise one) and, in the reset mail, its one link. The only secrets in any mail are the code
 * in the code mail and the link in the reset mail, never in the subject (subjects reach log lines and lock screens).
 *
 * Words live in one table of stable message ids ({@link MAIL_MESSAGES}); the notifications are one generic
 * renderer driven by {@link NOTIFICATIONS}, one row per kind.
 */
import { fileURLToPath } from 'node:url';
import Bowser from 'bowser';
import pug from 'pug';
import type { SupportContact } from '../shared/support.ts';

export { maskEmail } from '../shared/mask_email.ts';

/** `views/mail/` at the repository (or image) root: `src/mail/` and `dist/mail/` both sit two levels below it. */
export const MAIL_VIEWS_DIR = fileURLToPath(new URL('../../views/mail/', import.meta.url));

/** A rendered message, ready for `Mailer.send` with a recipient. */
export interface RenderedMail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** User-facing strings by stable message id; `{name}` placeholders are filled by the renderers. */
export const MAIL_MESSAGES = {
  greeting: 'Hello {name},',
  greeting_anonymous: 'Hello,',
  footer: 'This is an automatic security message from {issuer}. Replies to it are not read.',
  footer_notification: '{issuer} sends this message for every change to how you sign in, so that you notice changes you did not make.',
  account_link: 'Review your security settings',
  reset_link: 'Reset your password',
  support_label: 'Need help? Contact support:',

  email_code_subject_confirm: 'Your {issuer} authentication code',
  email_code_subject_sign_in: 'Your {issuer} sign-in code',
  email_code_subject_verify: 'Confirm your email address for {issuer}',
  email_code_intro_confirm: 'Enter this code on the {issuer} page that asked for it, to confirm that it is you:',
  email_code_intro_sign_in: 'Enter this code to finish signing in to {issuer}:',
  email_code_intro_verify: 'Enter this code to start receiving sign-in codes by email for your {issuer} account:',
  email_code_validity_one: 'The code is valid for 1 minute and works only once.',
  email_code_validity_other: 'The code is valid for {minutes} minutes and works only once.',
  email_code_never_share: 'Do not share this code with anyone: {issuer} will never ask you for it by phone, chat or email.',
  email_code_not_you: "If this wasn't you, do not enter the code anywhere. Someone may know your password: sign in to {issuer} and change it.",

  fact_when: 'When',
  fact_ip: 'IP address',
  fact_device: 'Device',
  fact_method: 'Method',
  fact_reset_by: 'Reset by',
  fact_company: 'Company',
  fact_changed_by: 'Changed by',
  fact_remaining: 'Recovery codes left',
  fact_failures: 'Failed attempts',
  fact_locked_until: 'Locked until',
  locked_until_support: 'support unlocks it, or you sign in with a recovery code',
  reset_by_support: '{issuer} support',
  reset_by_admin: 'your company administrator',
  device_unknown: 'Unrecognised browser or app',

  factor_added_subject: 'A sign-in method was added to your {issuer} account',
  factor_added_summary: '{method} was added as a way to confirm your sign-ins to {issuer}.',
  factor_added_advice: "If this wasn't you, someone else may have access to your account: change your password, remove the method in your security settings and contact {issuer} support.",

  factor_removed_subject: 'A sign-in method was removed from your {issuer} account',
  factor_removed_summary: '{method} was removed from your {issuer} account and can no longer be used to confirm your sign-ins.',
  factor_removed_advice: "If this wasn't you, change your password at once, set up two-factor authentication (2FA) again and contact {issuer} support.",

  factors_reset_subject: 'Your {issuer} two-factor authentication (2FA) was reset',
  factors_reset_summary: 'All your two-factor authentication (2FA) methods were removed by {by}. You will be asked to set up a new one when you next need it.',
  factors_reset_advice: "If you did not ask for this, contact {issuer} support at once and change your password.",

  recovery_code_used_subject: 'A recovery code was used for your {issuer} account',
  recovery_code_used_summary: 'One of your recovery codes was used to sign in to {issuer}. Each code works only once.',
  recovery_code_used_remaining_none: 'You have no recovery codes left: create new ones in your security settings now.',
  recovery_code_used_remaining_one: 'You have 1 recovery code left: consider creating new ones in your security settings.',
  recovery_code_used_remaining_other: 'You have {remaining} recovery codes left.',
  recovery_code_used_advice: "If this wasn't you, someone has your password and one of your recovery codes: change your password, create new recovery codes and contact {issuer} support.",

  recovery_codes_regenerated_subject: 'New recovery codes were created for your {issuer} account',
  recovery_codes_regenerated_summary: 'A new set of recovery codes was created for your {issuer} account. Your earlier recovery codes no longer work.',
  recovery_codes_regenerated_advice: "If this wasn't you, change your password, create new recovery codes and contact {issuer} support.",

  password_changed_subject: 'The password of your {issuer} account was changed',
  password_changed_summary: 'The password of your {issuer} account was changed. Your other devices were signed out and need the new password.',
  password_changed_advice: "If this wasn't you, someone else may have access to your account: reset your password at once with the link below, then check the methods in your security settings.",

  password_reset_link_subject: 'Reset your {issuer} password',
  password_reset_link_intro: 'Someone, hopefully you, asked to reset the password of your {issuer} account. Open this link to choose a new password:',
  password_reset_link_validity_one: 'The link works once, for 1 minute.',
  password_reset_link_validity_other: 'The link works once, for {minutes} minutes.',
  password_reset_link_second_factor: 'If you use two-factor authentication (2FA), you will still be asked for a code at your next sign-in.',
  password_reset_link_not_you: "If you did not ask for this, ignore this message: your password stays as it is. Do not forward it: the link lets anyone choose your password.",

  password_reset_subject: 'The password of your {issuer} account was reset',
  password_reset_summary: 'The password of your {issuer} account was reset with a link sent to this address. All your devices were signed out and need the new password.',
  password_reset_other_browser: 'The link was opened in a different browser than the one that asked for it.',
  fact_link_opened_in: 'Link opened in',
  link_opened_same_browser: 'the browser that asked for it',
  link_opened_other_browser: 'a different browser',
  password_reset_advice: "If this wasn't you, someone can read your email: secure your email account first, then reset your password again and contact {issuer} support.",

  account_locked_subject: 'Your {issuer} sign-in was locked after failed attempts',
  account_locked_summary: 'Too many wrong codes were entered while signing in to your {issuer} account, so confirming sign-ins is locked for now.',
  account_locked_summary_permanent: 'Too many wrong codes were entered while signing in to your {issuer} account, so confirming sign-ins is locked until support unlocks it or you use a recovery code.',
  account_locked_advice: "If these attempts weren't yours, someone knows your password: change it now, and contact {issuer} support if this happens again.",

  company_policy_forced_subject: 'Your company now requires two-factor authentication for {issuer}',
  company_policy_forced_summary: '{company} now requires two-factor authentication: at your next sign-in you will be asked to set up an authenticator app or email codes.',
  company_policy_forced_summary_enrolled: '{company} now requires two-factor authentication: you will be asked for a code at every sign-in.',
  company_policy_forced_advice: 'If you have questions about this policy, ask your company administrator. {issuer} will never ask you for a code by phone, chat or email.',
} as const;

/** A stable message id (lower_snake_case). */
export type MailMessageId = keyof typeof MAIL_MESSAGES;

/** Fills `{name}` placeholders; a missing value is a programmer error. */
function t(id: MailMessageId, vars: Readonly<Record<string, string | number>> = {}): string {
  return MAIL_MESSAGES[id].replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = vars[key];
    if (value === undefined) throw new TypeError(`mail message ${id} needs {${key}}`);
    return String(value);
  });
}

/** Times in mails are UTC, spelled out (a customer may read the mail in another time zone than the server's). */
const TIME_FORMAT = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', dateStyle: 'long', timeStyle: 'short' });

/** `25 November 2026 at 19:20 UTC`. */
export function formatMailTime(date: Date): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new TypeError('a mail time must be a valid Date');
  return `${TIME_FORMAT.format(date)} UTC`;
}

/** A short browser/device summary from a User-Agent ("Firefox on Windows"); bowser does the parsing. */
export function summarizeUserAgent(userAgent: string): string {
  const parser = Bowser.getParser(userAgent.slice(0, 512));
  const browser = parser.getBrowserName();
  const os = parser.getOSName();
  if (browser && os) return `${browser} on ${os}`;
  return browser || (os ? `A browser on ${os}` : MAIL_MESSAGES.device_unknown);
}

/** An IP address as the mail shows it (IPv4-mapped IPv6 unwrapped); anything that is not an address is dropped. */
function displayIp(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const trimmed = ip.trim().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  return /^[0-9a-f:.]{2,45}$/i.test(trimmed) ? trimmed : undefined;
}

function checkUrl(url: string | undefined, name = 'accountUrl'): string | undefined {
  if (url === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`${name} must be an absolute http(s) URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new TypeError(`${name} must be an absolute http(s) URL`);
  return parsed.href;
}

/** One line of the facts table ("When: …"). */
interface Fact {
  readonly label: string;
  readonly value: string;
  /** ISO time for `<time datetime>`. */
  readonly datetime?: string;
}

/** What every mail knows about its context. */
export interface MailContext {
  /** The provider's name as customers know it. */
  readonly issuerName: string;
  /** The account holder's name, for the greeting. */
  readonly name?: string | undefined;
  /** Absolute URL of the customer's security settings, linked as the place to act; no link without it. */
  readonly accountUrl?: string | undefined;
  /** Absolute URL of the page that asks for a password reset, linked by the notifications that advise one. */
  readonly resetUrl?: string | undefined;
  /** The shop's look and help: its logo in the header, its colour on links and buttons, where to get support. */
  readonly look?: MailLook | undefined;
}

/** What a mail shows of the shop besides its name. */
export interface MailLook {
  /** An absolute http(s) URL of the logo image. */
  readonly logoUrl?: string | undefined;
  /** `#rrggbb`. */
  readonly primaryColor?: string | undefined;
  readonly support?: SupportContact | undefined;
}

/** The locals every mail template takes from {@link MailLook}. */
function lookLocals(look: MailLook | undefined): Record<string, unknown> {
  const colour = look?.primaryColor && /^#[0-9a-f]{6}$/i.test(look.primaryColor) ? look.primaryColor : '#0b57d0';
  const supportUrl = look?.support?.url ? checkUrl(look.support.url, 'support.url') : undefined;
  return {
    logoUrl: look?.logoUrl ? checkUrl(look.logoUrl, 'logoUrl') : undefined,
    colour,
    support: supportUrl || look?.support?.email ? { url: supportUrl, email: look?.support?.email, label: t('support_label') } : undefined,
  };
}

/** Where and from what a security event came. */
export interface EventContext {
  /** When it happened. */
  readonly at: Date;
  readonly ip?: string | undefined;
  /** The raw User-Agent; the mail shows a summary ("Safari on iOS"). */
  readonly userAgent?: string | undefined;
}

function contextFacts(data: Partial<EventContext>): Fact[] {
  const facts: Fact[] = [];
  if (data.at) facts.push({ label: t('fact_when'), value: formatMailTime(data.at), datetime: data.at.toISOString() });
  const ip = displayIp(data.ip);
  if (ip) facts.push({ label: t('fact_ip'), value: ip });
  if (data.userAgent) facts.push({ label: t('fact_device'), value: summarizeUserAgent(data.userAgent) });
  return facts;
}

function greeting(name: string | undefined): string {
  const clean = name?.replace(/\s+/g, ' ').trim().slice(0, 100);
  return clean ? t('greeting', { name: clean }) : t('greeting_anonymous');
}

const compiled = new Map<string, pug.compileTemplate>();

/** Renders `views/mail/<name>.pug` (compiled once). HTML templates escape every value; `.text` ones write it raw. */
function renderView(name: string, locals: Record<string, unknown>): string {
  let template = compiled.get(name);
  if (!template) {
    template = pug.compileFile(`${MAIL_VIEWS_DIR}${name}.pug`, { basedir: MAIL_VIEWS_DIR });
    compiled.set(name, template);
  }
  return template(locals);
}

/** The wordings of the email-code mail. */
export const EMAIL_CODE_PURPOSES = ['confirm', 'sign_in', 'verify'] as const;
export type EmailCodePurpose = (typeof EMAIL_CODE_PURPOSES)[number];

/** Data of the email-code mail. */
export interface EmailCodeData extends MailContext, Partial<EventContext> {
  /** The one-time code (digits). The only secret any mail carries. */
  readonly code: string;
  /** How long the code is valid, in whole minutes (10 for sign-in codes). */
  readonly validMinutes: number;
  /**
   * The wording: `confirm` (default) fits every use; `sign_in` for a sign-in or step-up challenge; `verify` for
   * confirming the address while setting up email codes.
   */
  readonly purpose?: EmailCodePurpose | undefined;
}

/** The email-code mail: the code once in each part, its validity, and what to do if it wasn't them. */
export function renderEmailCode(data: EmailCodeData): RenderedMail {
  if (!/^\d{4,10}$/.test(data.code)) throw new TypeError('an email code must be 4-10 digits');
  if (!Number.isInteger(data.validMinutes) || data.validMinutes < 1) throw new TypeError('validMinutes must be a positive whole number');
  const issuer = data.issuerName;
  const purpose = data.purpose ?? 'confirm';
  if (!EMAIL_CODE_PURPOSES.includes(purpose)) throw new TypeError(`unknown email code purpose ${JSON.stringify(purpose)}`);
  const subject = t(`email_code_subject_${purpose}`, { issuer });
  const locals = {
    subject,
    issuer,
    greeting: greeting(data.name),
    intro: t(`email_code_intro_${purpose}`, { issuer }),
    code: data.code,
    validity: data.validMinutes === 1 ? t('email_code_validity_one') : t('email_code_validity_other', { minutes: data.validMinutes }),
    neverShare: t('email_code_never_share', { issuer }),
    facts: contextFacts(data),
    advice: t('email_code_not_you', { issuer }),
    accountUrl: checkUrl(data.accountUrl),
    accountLink: t('account_link'),
    footer: t('footer', { issuer }),
    ...lookLocals(data.look),
  };
  return { subject, html: renderView('email_code', locals), text: renderView('email_code.text', locals) };
}

/** The security notifications (OWASP ASVS 2.5.5); also their audit event names. */
export const NOTIFICATION_KINDS = [
  'factor_added',
  'factor_removed',
  'factors_reset',
  'recovery_code_used',
  'recovery_codes_regenerated',
  'account_locked',
  'password_changed',
  'password_reset',
  'company_policy_forced',
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** The facts particular to each kind. */
export interface NotificationFacts {
  /** `method`: the factor's human label ("Authenticator app"). */
  factor_added: { readonly method: string };
  factor_removed: { readonly method: string };
  /** `by`: who reset them (support through the operators' CLI, or a company admin). */
  factors_reset: { readonly by: 'support' | 'admin' };
  /** `remaining`: unused recovery codes left after this one. */
  recovery_code_used: { readonly remaining: number };
  recovery_codes_regenerated: Readonly<Record<never, never>>;
  /** `until`: end of a temporary lock; absent = locked until support or a recovery code lifts it. */
  account_locked: { readonly until?: Date | undefined; readonly failures?: number | undefined };
  /** No facts: the mail never carries the password, old or new. */
  password_changed: Readonly<Record<never, never>>;
  /** `otherBrowser`: the link was opened in another browser than the one that asked for it. */
  password_reset: { readonly otherBrowser: boolean };
  /**
   * A company admin made two-factor authentication mandatory for the company. `company`: its name; `enrolled`:
   * the member already has a second factor (asked for a code at every sign-in) rather than setting one up.
   */
  company_policy_forced: { readonly company: string; readonly enrolled: boolean };
}

/** Everything a notification of kind `K` is rendered from. */
export type NotificationData<K extends NotificationKind> = MailContext & EventContext & NotificationFacts[K];

/** One row of the notification table: its words and its kind-specific facts. */
interface NotificationSpec<K extends NotificationKind> {
  readonly subject: MailMessageId;
  /** The summary paragraphs (what happened). */
  summary(data: NotificationData<K>, issuer: string): string[];
  /** Facts besides when / IP / device. */
  facts(data: NotificationData<K>, issuer: string): Fact[];
  readonly advice: MailMessageId;
  /** The advice is to reset the password: the mail links the reset page (when the deployment has one). */
  readonly linksReset?: boolean;
}

function methodLabel(method: string): string {
  const clean = method.replace(/\s+/g, ' ').trim().slice(0, 60);
  if (!clean) throw new TypeError('a factor notification needs the method label');
  return clean;
}

function companyName(company: string): string {
  const clean = company.replace(/\s+/g, ' ').trim().slice(0, 100);
  if (!clean) throw new TypeError('a company notification needs the company name');
  return clean;
}

function remainingCount(remaining: number): number {
  if (!Number.isInteger(remaining) || remaining < 0) throw new TypeError('remaining must be a whole number ≥ 0');
  return remaining;
}

/** The notification table: adding a kind = one row here (and one audit event name). */
export const NOTIFICATIONS: { readonly [K in NotificationKind]: NotificationSpec<K> } = {
  factor_added: {
    subject: 'factor_added_subject',
    summary: (d, issuer) => [t('factor_added_summary', { issuer, method: methodLabel(d.method) })],
    facts: (d) => [{ label: t('fact_method'), value: methodLabel(d.method) }],
    advice: 'factor_added_advice',
  },
  factor_removed: {
    subject: 'factor_removed_subject',
    summary: (d, issuer) => [t('factor_removed_summary', { issuer, method: methodLabel(d.method) })],
    facts: (d) => [{ label: t('fact_method'), value: methodLabel(d.method) }],
    advice: 'factor_removed_advice',
  },
  factors_reset: {
    subject: 'factors_reset_subject',
    summary: (d, issuer) => [t('factors_reset_summary', { by: t(d.by === 'admin' ? 'reset_by_admin' : 'reset_by_support', { issuer }) })],
    facts: (d, issuer) => [{ label: t('fact_reset_by'), value: t(d.by === 'admin' ? 'reset_by_admin' : 'reset_by_support', { issuer }) }],
    advice: 'factors_reset_advice',
  },
  recovery_code_used: {
    subject: 'recovery_code_used_subject',
    summary: (d, issuer) => {
      const remaining = remainingCount(d.remaining);
      const left = remaining === 0 ? t('recovery_code_used_remaining_none')
        : remaining === 1 ? t('recovery_code_used_remaining_one') : t('recovery_code_used_remaining_other', { remaining });
      return [t('recovery_code_used_summary', { issuer }), left];
    },
    facts: (d) => [{ label: t('fact_remaining'), value: String(remainingCount(d.remaining)) }],
    advice: 'recovery_code_used_advice',
  },
  recovery_codes_regenerated: {
    subject: 'recovery_codes_regenerated_subject',
    summary: (_d, issuer) => [t('recovery_codes_regenerated_summary', { issuer })],
    facts: () => [],
    advice: 'recovery_codes_regenerated_advice',
  },
  account_locked: {
    subject: 'account_locked_subject',
    summary: (d, issuer) => [t(d.until ? 'account_locked_summary' : 'account_locked_summary_permanent', { issuer })],
    facts: (d) => [
      ...(d.failures !== undefined ? [{ label: t('fact_failures'), value: String(remainingCount(d.failures)) }] : []),
      d.until
        ? { label: t('fact_locked_until'), value: formatMailTime(d.until), datetime: d.until.toISOString() }
        : { label: t('fact_locked_until'), value: t('locked_until_support') },
    ],
    advice: 'account_locked_advice',
  },
  password_changed: {
    subject: 'password_changed_subject',
    summary: (_d, issuer) => [t('password_changed_summary', { issuer })],
    facts: () => [],
    advice: 'password_changed_advice',
    linksReset: true,
  },
  password_reset: {
    subject: 'password_reset_subject',
    summary: (d, issuer) => [t('password_reset_summary', { issuer }), ...(d.otherBrowser ? [t('password_reset_other_browser')] : [])],
    facts: (d) => [{ label: t('fact_link_opened_in'), value: t(d.otherBrowser ? 'link_opened_other_browser' : 'link_opened_same_browser') }],
    advice: 'password_reset_advice',
    linksReset: true,
  },
  company_policy_forced: {
    subject: 'company_policy_forced_subject',
    summary: (d) => [t(d.enrolled ? 'company_policy_forced_summary_enrolled' : 'company_policy_forced_summary', { company: companyName(d.company) })],
    facts: (d) => [{ label: t('fact_company'), value: companyName(d.company) }, { label: t('fact_changed_by'), value: t('reset_by_admin') }],
    advice: 'company_policy_forced_advice',
  },
};

/**
 * Renders a security notification: what happened, when, from which IP and device, the kind's own facts (method,
 * recovery codes left, locked until) and what to do if it wasn't them.
 */
export function renderNotification<K extends NotificationKind>(kind: K, data: NotificationData<K>): RenderedMail {
  const spec = NOTIFICATIONS[kind] as NotificationSpec<K> | undefined;
  if (!spec) throw new TypeError(`unknown notification kind ${JSON.stringify(kind)}`);
  const issuer = data.issuerName;
  const subject = t(spec.subject, { issuer });
  const locals = {
    subject,
    issuer,
    greeting: greeting(data.name),
    summary: spec.summary(data, issuer),
    facts: [...contextFacts(data), ...spec.facts(data, issuer)],
    advice: t(spec.advice, { issuer }),
    accountUrl: checkUrl(data.accountUrl),
    accountLink: t('account_link'),
    resetUrl: spec.linksReset ? checkUrl(data.resetUrl, 'resetUrl') : undefined,
    resetLink: t('reset_link'),
    footer: t('footer', { issuer }),
    ...lookLocals(data.look),
    footerNotification: t('footer_notification', { issuer }),
  };
  return { subject, html: renderView('notification', locals), text: renderView('notification.text', locals) };
}

/** Data of the password-reset mail. */
export interface PasswordResetLinkData extends MailContext, Partial<EventContext> {
  /** The link to the new-password page, with its token: the one secret of this mail. */
  readonly url: string;
  /** How long the link works, in whole minutes. */
  readonly validMinutes: number;
}

/** The password-reset mail: the link once in each part, its validity, and what to do if it wasn't them. */
export function renderPasswordResetLink(data: PasswordResetLinkData): RenderedMail {
  const url = checkUrl(data.url, 'url') as string;
  if (!Number.isInteger(data.validMinutes) || data.validMinutes < 1) throw new TypeError('validMinutes must be a positive whole number');
  const issuer = data.issuerName;
  const subject = t('password_reset_link_subject', { issuer });
  const locals = {
    subject,
    issuer,
    greeting: greeting(data.name),
    intro: t('password_reset_link_intro', { issuer }),
    url,
    button: t('reset_link'),
    validity: data.validMinutes === 1 ? t('password_reset_link_validity_one') : t('password_reset_link_validity_other', { minutes: data.validMinutes }),
    secondFactor: t('password_reset_link_second_factor'),
    facts: contextFacts(data),
    advice: t('password_reset_link_not_you', { issuer }),
    footer: t('footer', { issuer }),
    ...lookLocals(data.look),
  };
  return { subject, html: renderView('password_reset', locals), text: renderView('password_reset.text', locals) };
}
