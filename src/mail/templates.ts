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
 * Words live in the catalogues (`mail.*` of `locales/<language>.json`): each mail is rendered in one reader's
 * language ({@link mailWords}: the account's, else the page's that caused it, else the deployment's default), with
 * times in the account's time zone. The notifications are one generic renderer driven by {@link NOTIFICATIONS}, one
 * row per kind.
 */
import { fileURLToPath } from 'node:url';
import Bowser from 'bowser';
import pug from 'pug';
import { loadLanguages, msg, type Languages, type Message, type Translator } from '../i18n/languages.ts';
import type { SupportContact } from '../shared/support.ts';

export { maskEmail } from '../shared/mask_email.ts';

/** `views/mail/` at the repository (or image) root: `src/mail/` and `dist/mail/` both sit two levels below it. */
export const MAIL_VIEWS_DIR = fileURLToPath(new URL('../../views/mail/', import.meta.url));

/** A rendered message, ready for `Mailer.send` with a recipient. */
export interface RenderedMail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** The language it is written in (its `Content-Language`, RFC 3282). */
  readonly language: string;
}

/**
 * The catalogues of a renderer whose caller passes none (a tool or test that builds a mailer of its own): the
 * package's `locales/`, English by default, loaded once. A deployment passes its own (`views.languages`), so pages
 * and mails share one set.
 */
let packageLanguages: Languages | undefined;
export function defaultMailLanguages(): Languages {
  packageLanguages ??= loadLanguages();
  return packageLanguages;
}

/** Whose mail it is: the language and time zone chosen in the security settings, when any. */
export interface MailReader {
  readonly language?: string | undefined;
  readonly timeZone?: string | undefined;
}

/**
 * The words of a mail to `reader`: the account's language, else `fallback` (the language of the page whose request
 * caused the mail), else the deployment's default; times in the account's time zone (UTC when it chose none).
 */
export function mailWords(languages: Languages, reader?: MailReader, fallback?: string): Translator {
  const language = languages.match(reader?.language) ?? languages.match(fallback) ?? languages.defaultLanguage;
  return languages.translator(language, { timeZone: reader?.timeZone });
}

/** The browser and system names bowser itself knows (its maps' display names). */
const KNOWN_BROWSERS: ReadonlySet<string> = new Set(Object.values(Bowser.BROWSER_MAP));
const KNOWN_SYSTEMS: ReadonlySet<string> = new Set(Object.values(Bowser.OS_MAP));

/** A short browser/device summary from a User-Agent ("Firefox on Windows"), in `words`' language; bowser parses. */
export function summarizeUserAgent(userAgent: string, words: Translator): string {
  const parser = Bowser.getParser(userAgent.slice(0, 512));
  // Only names bowser knows: its fallback takes a "browser name" from the User-Agent text as written, and anyone
  // who asks for a reset link chooses that text (it would arrive in a genuine mail, links and all).
  const browser = KNOWN_BROWSERS.has(parser.getBrowserName()) ? parser.getBrowserName() : '';
  const os = KNOWN_SYSTEMS.has(parser.getOSName()) ? parser.getOSName() : '';
  if (browser && os) return words.t('mail.device.browser_on_os', { browser, os });
  if (browser) return browser;
  return os ? words.t('mail.device.any_browser_on_os', { os }) : words.t('mail.device.unknown');
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

/**
 * One line of the facts table ("When: …"): `label` a message id; the value a time (written in the reader's language
 * and time zone, with `<time datetime>`), words (a message), or text shown as it is (an address, a count, a name).
 */
interface Fact {
  readonly label: string;
  readonly value?: string | Message;
  readonly time?: Date;
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
    support: supportUrl || look?.support?.email ? { url: supportUrl, email: look?.support?.email } : undefined,
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

function contextFacts(data: Partial<EventContext>, words: Translator): Fact[] {
  const facts: Fact[] = [];
  if (data.at) facts.push({ label: 'mail.fact.when', time: validTime(data.at) });
  const ip = displayIp(data.ip);
  if (ip) facts.push({ label: 'mail.fact.ip', value: ip });
  if (data.userAgent) facts.push({ label: 'mail.fact.device', value: summarizeUserAgent(data.userAgent, words) });
  return facts;
}

function validTime(date: Date): Date {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new TypeError('a mail time must be a valid Date');
  return date;
}

function greeting(name: string | undefined): Message {
  const clean = name?.replace(/\s+/g, ' ').trim().slice(0, 100);
  return clean ? msg('mail.greeting', { name: clean }) : msg('mail.greeting_anonymous');
}

const compiled = new Map<string, pug.compileTemplate>();

/**
 * Renders `views/mail/<name>.pug` (compiled once) with `words`: the template writes every word with `t`, times with
 * `formatTime`. HTML templates escape every value; `.text` ones write it raw.
 */
function renderView(name: string, locals: Record<string, unknown>, words: Translator): string {
  let template = compiled.get(name);
  if (!template) {
    template = pug.compileFile(`${MAIL_VIEWS_DIR}${name}.pug`, { basedir: MAIL_VIEWS_DIR });
    compiled.set(name, template);
  }
  return template({ ...locals, lang: words.language, t: words.t, formatTime: words.formatTime });
}

/** Both parts of a mail and its subject (already in the reader's language: it goes into the mail's header). */
function rendered(view: string, subject: string, locals: Record<string, unknown>, words: Translator): RenderedMail {
  const all = { ...locals, subject };
  return { subject, html: renderView(view, all, words), text: renderView(`${view}.text`, all, words), language: words.language };
}

/** The wordings of the email-code mail. */
export const EMAIL_CODE_PURPOSES = ['confirm', 'sign_in', 'verify'] as const;
export type EmailCodePurpose = (typeof EMAIL_CODE_PURPOSES)[number];

/** The subject and opening line of each wording. */
const EMAIL_CODE_WORDS: { readonly [P in EmailCodePurpose]: { readonly subject: string; readonly intro: string } } = {
  confirm: { subject: 'mail.email_code.subject.confirm', intro: 'mail.email_code.intro.confirm' },
  sign_in: { subject: 'mail.email_code.subject.sign_in', intro: 'mail.email_code.intro.sign_in' },
  verify: { subject: 'mail.email_code.subject.verify', intro: 'mail.email_code.intro.verify' },
};

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

/** The email-code mail in `words`' language: the code once in each part, its validity, and what to do if it wasn't them. */
export function renderEmailCode(data: EmailCodeData, words: Translator): RenderedMail {
  if (!/^\d{4,10}$/.test(data.code)) throw new TypeError('an email code must be 4-10 digits');
  if (!Number.isInteger(data.validMinutes) || data.validMinutes < 1) throw new TypeError('validMinutes must be a positive whole number');
  const issuer = data.issuerName;
  const purpose = data.purpose ?? 'confirm';
  if (!EMAIL_CODE_PURPOSES.includes(purpose)) throw new TypeError(`unknown email code purpose ${JSON.stringify(purpose)}`);
  const wording = EMAIL_CODE_WORDS[purpose];
  return rendered('email_code', words.t(wording.subject, { issuer }), {
    issuer,
    greeting: greeting(data.name),
    intro: msg(wording.intro, { issuer }),
    code: data.code,
    validity: msg('mail.email_code.validity', { minutes: data.validMinutes }),
    neverShare: msg('mail.email_code.never_share', { issuer }),
    facts: contextFacts(data, words),
    advice: msg('mail.email_code.not_you', { issuer }),
    accountUrl: checkUrl(data.accountUrl),
    ...lookLocals(data.look),
  }, words);
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
  /**
   * `method`: the factor's label — a message id of the catalogue (`factors.totp.label`), or the words of a factor
   * shipped without catalogue entries, shown as they are.
   */
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

/** One row of the notification table: its words (message ids) and its kind-specific facts. */
interface NotificationSpec<K extends NotificationKind> {
  readonly subject: string;
  /** The summary paragraphs (what happened). */
  summary(data: NotificationData<K>, issuer: string, words: Translator): Message[];
  /** Facts besides when / IP / device. */
  facts(data: NotificationData<K>, issuer: string, words: Translator): Fact[];
  readonly advice: string;
  /** The advice is to reset the password: the mail links the reset page (when the deployment has one). */
  readonly linksReset?: boolean;
}

/** The factor's label in the reader's language (a message id, or a factor's own words as they are). */
function methodLabel(method: string, words: Translator): string {
  const clean = typeof method === 'string' ? method.replace(/\s+/g, ' ').trim().slice(0, 60) : '';
  if (!clean) throw new TypeError('a factor notification needs the method label');
  return words.t(clean);
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

/** Who reset the factors or changed the policy, as a fact's value. */
function actor(by: 'support' | 'admin', issuer: string): Message {
  return by === 'admin' ? msg('mail.actor.admin') : msg('mail.actor.support', { issuer });
}

/** The notification table: adding a kind = one row here (and one audit event name). */
export const NOTIFICATIONS: { readonly [K in NotificationKind]: NotificationSpec<K> } = {
  factor_added: {
    subject: 'mail.factor_added.subject',
    summary: (d, issuer, words) => [msg('mail.factor_added.summary', { issuer, method: methodLabel(d.method, words) })],
    facts: (d, _issuer, words) => [{ label: 'mail.fact.method', value: methodLabel(d.method, words) }],
    advice: 'mail.factor_added.advice',
  },
  factor_removed: {
    subject: 'mail.factor_removed.subject',
    summary: (d, issuer, words) => [msg('mail.factor_removed.summary', { issuer, method: methodLabel(d.method, words) })],
    facts: (d, _issuer, words) => [{ label: 'mail.fact.method', value: methodLabel(d.method, words) }],
    advice: 'mail.factor_removed.advice',
  },
  factors_reset: {
    subject: 'mail.factors_reset.subject',
    summary: (d, issuer) => [msg('mail.factors_reset.summary', { by: d.by === 'admin' ? 'admin' : 'support', issuer })],
    facts: (d, issuer) => [{ label: 'mail.fact.reset_by', value: actor(d.by, issuer) }],
    advice: 'mail.factors_reset.advice',
  },
  recovery_code_used: {
    subject: 'mail.recovery_code_used.subject',
    summary: (d, issuer) => [
      msg('mail.recovery_code_used.summary', { issuer }),
      msg('mail.recovery_code_used.remaining', { remaining: remainingCount(d.remaining) }),
    ],
    facts: (d) => [{ label: 'mail.fact.remaining', value: String(remainingCount(d.remaining)) }],
    advice: 'mail.recovery_code_used.advice',
  },
  recovery_codes_regenerated: {
    subject: 'mail.recovery_codes_regenerated.subject',
    summary: (_d, issuer) => [msg('mail.recovery_codes_regenerated.summary', { issuer })],
    facts: () => [],
    advice: 'mail.recovery_codes_regenerated.advice',
  },
  account_locked: {
    subject: 'mail.account_locked.subject',
    summary: (d, issuer) => [msg(d.until ? 'mail.account_locked.summary' : 'mail.account_locked.summary_permanent', { issuer })],
    facts: (d) => [
      ...(d.failures !== undefined ? [{ label: 'mail.fact.failures', value: String(remainingCount(d.failures)) }] : []),
      d.until
        ? { label: 'mail.fact.locked_until', time: validTime(d.until) }
        : { label: 'mail.fact.locked_until', value: msg('mail.account_locked.until_support') },
    ],
    advice: 'mail.account_locked.advice',
  },
  password_changed: {
    subject: 'mail.password_changed.subject',
    summary: (_d, issuer) => [msg('mail.password_changed.summary', { issuer })],
    facts: () => [],
    advice: 'mail.password_changed.advice',
    linksReset: true,
  },
  password_reset: {
    subject: 'mail.password_reset.subject',
    summary: (d, issuer) => [msg('mail.password_reset.summary', { issuer }), ...(d.otherBrowser ? [msg('mail.password_reset.other_browser')] : [])],
    facts: (d) => [{
      label: 'mail.fact.link_opened_in',
      value: msg(d.otherBrowser ? 'mail.password_reset.opened_in.other_browser' : 'mail.password_reset.opened_in.same_browser'),
    }],
    advice: 'mail.password_reset.advice',
    linksReset: true,
  },
  company_policy_forced: {
    subject: 'mail.company_policy_forced.subject',
    summary: (d) => [msg(d.enrolled ? 'mail.company_policy_forced.summary_enrolled' : 'mail.company_policy_forced.summary', { company: companyName(d.company) })],
    facts: (d, issuer) => [{ label: 'mail.fact.company', value: companyName(d.company) }, { label: 'mail.fact.changed_by', value: actor('admin', issuer) }],
    advice: 'mail.company_policy_forced.advice',
  },
};

/**
 * Renders a security notification in `words`' language: what happened, when (in the reader's time zone), from which
 * IP and device, the kind's own facts (method, recovery codes left, locked until) and what to do if it wasn't them.
 */
export function renderNotification<K extends NotificationKind>(kind: K, data: NotificationData<K>, words: Translator): RenderedMail {
  const spec = NOTIFICATIONS[kind] as NotificationSpec<K> | undefined;
  if (!spec) throw new TypeError(`unknown notification kind ${JSON.stringify(kind)}`);
  const issuer = data.issuerName;
  return rendered('notification', words.t(spec.subject, { issuer }), {
    issuer,
    greeting: greeting(data.name),
    summary: spec.summary(data, issuer, words),
    facts: [...contextFacts(data, words), ...spec.facts(data, issuer, words)],
    advice: msg(spec.advice, { issuer }),
    accountUrl: checkUrl(data.accountUrl),
    resetUrl: spec.linksReset ? checkUrl(data.resetUrl, 'resetUrl') : undefined,
    ...lookLocals(data.look),
  }, words);
}

/** Data of the password-reset mail. */
export interface PasswordResetLinkData extends MailContext, Partial<EventContext> {
  /** The link to the new-password page, with its token: the one secret of this mail. */
  readonly url: string;
  /** How long the link works, in whole minutes. */
  readonly validMinutes: number;
}

/** The password-reset mail in `words`' language: the link once in each part, its validity, and what to do if it wasn't them. */
export function renderPasswordResetLink(data: PasswordResetLinkData, words: Translator): RenderedMail {
  const url = checkUrl(data.url, 'url') as string;
  if (!Number.isInteger(data.validMinutes) || data.validMinutes < 1) throw new TypeError('validMinutes must be a positive whole number');
  const issuer = data.issuerName;
  return rendered('password_reset', words.t('mail.password_reset_link.subject', { issuer }), {
    issuer,
    greeting: greeting(data.name),
    intro: msg('mail.password_reset_link.intro', { issuer }),
    url,
    validity: msg('mail.password_reset_link.validity', { minutes: data.validMinutes }),
    secondFactor: msg('mail.password_reset_link.second_factor'),
    facts: contextFacts(data, words),
    advice: msg('mail.password_reset_link.not_you', { issuer }),
    ...lookLocals(data.look),
  }, words);
}
