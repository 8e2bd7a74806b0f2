/**
 * The users' 2FA report of a company: rows for the company page and the CSV download (formula-injection safe), in the
 * admin's language (`company.report.*`).
 */
import type { Connection } from 'mongoose';
import { listAccounts, signInMfaEnabled, type Account } from '../accounts/accounts.ts';
import type { Company } from '../accounts/companies.ts';
import type { LockState } from '../factors/contract.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { readLockState } from '../factors/shared/attempts.ts';
import type { Translator } from '../i18n/languages.ts';
import { activeFactors } from '../security/support_actions.ts';

/** One row of the users' 2FA report. */
export interface MemberReport {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly role: 'admin' | 'member';
  readonly self: boolean;
  readonly active: boolean;
  /** Labels of the primary methods set up: message ids (`factors.totp.label`), or a factor's own words. */
  readonly methods: readonly string[];
  /** Recovery codes left, when the user has them. */
  readonly recoveryLeft: number | undefined;
  readonly hasTwoFactor: boolean;
  /** Whether any factor (backups included) exists: what a reset would remove. */
  readonly resettable: boolean;
  /** `user`: the user turned it on; `company`: the forced policy asks; `no`. */
  readonly asks: 'user' | 'company' | 'no';
  readonly lock: LockState | undefined;
}

/** The words of a role. */
export function roleMessage(role: MemberReport['role']): string {
  return role === 'admin' ? 'company.report.role.admin' : 'company.report.role.member';
}

/** Whether sign-in asks for a code: "Yes", "Yes (company policy)", "No". */
export function asksMessage(asks: MemberReport['asks']): string {
  if (asks === 'company') return 'company.report.asks_company';
  return asks === 'user' ? 'company.report.yes' : 'company.report.no';
}

/** The lock in words: "No", "Locked until unlocked", "Locked until <time>" (in the reader's language and zone). */
export function lockText(lock: LockState | undefined, words: Translator): string {
  if (!lock) return words.t('company.report.no');
  if (lock.permanent || !lock.until) return words.t('company.report.locked_until_unlocked');
  return words.t('company.report.locked_until_time', { until: words.formatTime(lock.until) });
}

/**
 * Where a spreadsheet may start reading a formula (OWASP "CSV Injection"): at the start of the cell or after any
 * delimiter a spreadsheet may split on (`,`; `;` in German Excel; tab; `|`; a line break), after optional
 * whitespace, a `=`, `+`, `-` or `@` — or a tab or carriage return.
 */
const FORMULA_START = /(?:^|[,;\t|\r\n])(?:[ \t]*[=+\-@]|[\t\r])/;

/**
 * One CSV cell (RFC 4180 §2): always quoted, inner quotes doubled, so no spreadsheet splits it whatever delimiter it
 * uses. A cell that could start a formula anywhere ({@link FORMULA_START}) gets a leading `'` (OWASP "CSV
 * Injection"), so it is shown as text.
 */
export function csvCell(value: string): string {
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return `"${text.replace(/"/g, '""')}"`;
}

/** The report as CSV in `words`' language: a header line, one line per user, CRLF line ends. */
export function reportCsv(rows: readonly MemberReport[], words: Translator): string {
  const header = [
    words.t('company.report.column.name'),
    words.t('company.report.column.email'),
    words.t('company.report.column.role'),
    words.t('company.report.column.two_factor'),
    words.t('company.report.column.methods'),
    words.t('company.report.column.recovery_left'),
    words.t('company.report.column.asks'),
    words.t('company.report.column.locked'),
  ];
  const lines = rows.map((row) => [
    row.name,
    row.email,
    words.t(roleMessage(row.role)),
    words.t(row.hasTwoFactor ? 'company.report.yes' : 'company.report.no'),
    row.methods.map((label) => words.t(label)).join('; '),
    row.recoveryLeft === undefined ? '' : String(row.recoveryLeft),
    words.t(asksMessage(row.asks)),
    lockText(row.lock, words),
  ]);
  return [header, ...lines].map((cells) => cells.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** The report's rows: every member of `company`, the admin marked as `self`. */
export async function reportOf(deps: { conn: Connection; factors: FactorRegistry }, company: Company, admin: Account): Promise<MemberReport[]> {
  const { conn, factors } = deps;
  const members = await listAccounts(conn, { companyId: company.id });
  const backup = factors.backup[0];
  return Promise.all(members.map(async (member): Promise<MemberReport> => {
    const [active, asksUser, lock] = await Promise.all([
      activeFactors(factors, member.id),
      signInMfaEnabled(conn, member.id),
      readLockState(conn, member.id),
    ]);
    const primaries = active.filter((factor) => factors.primary.includes(factor));
    const hasBackup = backup !== undefined && active.includes(backup);
    const recoveryLeft = hasBackup ? await backup.remaining?.(member.id) : undefined;
    return {
      id: member.id,
      name: member.name,
      email: member.email,
      role: member.companyRole === 'admin' ? 'admin' : 'member',
      self: member.id === admin.id,
      active: member.status === 'active',
      methods: primaries.map((factor) => factor.label),
      recoveryLeft,
      hasTwoFactor: primaries.length > 0,
      resettable: active.length > 0,
      asks: company.mfaPolicy === 'forced' ? 'company' : asksUser ? 'user' : 'no',
      lock,
    };
  }));
}
