import { expect } from 'chai';
import { createAccount, findAccountById } from '../../src/accounts/accounts.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { signInConsole, type Customer } from './support.ts';

/**
 * CSV formula injection (OWASP "CSV Injection"): a member chooses their own name, and the company admin opens the
 * users' 2FA report in a spreadsheet. Whatever delimiter the spreadsheet splits on — `,` (RFC 4180), `;` (German
 * Excel), tab or `|` — no cell may start a formula (`=`, `+`, `-`, `@`, tab, carriage return).
 */

/** Member names an attacker could choose: a formula right after each delimiter a spreadsheet may use. */
const HOSTILE_NAMES: Record<string, string> = {
  'semicolon@example.com': 'Ann;=1+1',
  'hyperlink@example.com': 'x;=HYPERLINK("http://evil.test")',
  'comma@example.com': 'Bob,@SUM(1)',
  'tab@example.com': 'tab\t=1+1',
  'pipe@example.com': 'Pip|+cmd|\' /C calc\'!A0',
  'spaced@example.com': 'Sam; -2+3',
  'newline@example.com': 'two\n-lines',
};
/** Names with a delimiter but no formula: shown exactly as typed. */
const PLAIN_NAMES: Record<string, string> = {
  'smith@example.com': 'Smith; John',
};

/** A field starting a formula, after optional whitespace (OWASP "CSV Injection"). */
const FORMULA_START = /^\s*[=+\-@]|^[\t\r]/;

interface StrictCell {
  readonly value: string;
  readonly quoted: boolean;
}

/**
 * A strict RFC 4180 parser (§2): fields separated by `,`, records by CRLF; a quoted field holds anything with
 * quotes doubled; a quote anywhere else, or text after a closing quote, is an error.
 */
function parseStrict(text: string): StrictCell[][] {
  const rows: StrictCell[][] = [];
  let row: StrictCell[] = [];
  let i = 0;
  for (;;) {
    let value = '';
    let quoted = false;
    if (text[i] === '"') {
      quoted = true;
      i += 1;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted field');
        if (text[i] === '"' && text[i + 1] === '"') { value += '"'; i += 2; } else if (text[i] === '"') { i += 1; break; } else { value += text[i]; i += 1; }
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') throw new Error(`a quote inside an unquoted field at ${i}`);
        value += text[i];
        i += 1;
      }
    }
    row.push({ value, quoted });
    if (text[i] === ',') { i += 1; continue; }
    if (text.startsWith('\r\n', i)) {
      rows.push(row);
      row = [];
      i += 2;
      if (i === text.length) return rows;
      continue;
    }
    throw new Error(`expected a comma or CRLF at ${i}, found ${JSON.stringify(text.slice(i, i + 10))}`);
  }
}

/**
 * How a spreadsheet program splits the file when it uses `delimiter` (Excel and LibreOffice): a field that starts
 * with a quote is read up to its closing quote (doubled quotes kept as one); any other character, a quote included,
 * is taken as it is up to the next delimiter or line break.
 */
function spreadsheetFields(text: string, delimiter: string): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i += 1;
      while (i < text.length) {
        if (text[i] === '"' && text[i + 1] === '"') { field += '"'; i += 2; } else if (text[i] === '"') { i += 1; break; } else { field += text[i]; i += 1; }
      }
    }
    while (i < text.length && text[i] !== delimiter && text[i] !== '\r' && text[i] !== '\n') { field += text[i]; i += 1; }
    fields.push(field);
    i += text.startsWith('\r\n', i) ? 2 : 1;
  }
  return fields;
}

describe('CSV formula injection: the users\' 2FA report', function () {
  const server = useTestServer('csv_formula_injection');
  const clock = useFrozenClock();
  let bytes: Uint8Array;
  /** The report after its byte order mark. */
  let text: string;

  before(async function () {
    const companyId = (await findAccountById(server.conn, server.mfaAccounts.fred.id))?.companyId as string;
    const admin: Customer = { id: '', email: 'ada@example.com', password: 'ada-password-9' };
    admin.id = (await createAccount(server.conn, { ...admin, name: 'Ada Admin', companyId, companyRole: 'admin' })).id;
    admin.totpSecret = await enrolTotp(server.factors.get('totp') as TotpFactor, admin);
    for (const [email, name] of Object.entries({ ...HOSTILE_NAMES, ...PLAIN_NAMES })) {
      await createAccount(server.conn, { email, password: `${email}-password-9`, name, companyId });
    }
    // the admin downloads the report like a browser: the console session's cookies, the body's bytes as sent
    const browser = new Browser();
    await signInConsole(server, browser, admin, clock);
    const url = `${server.issuer}/account/company/report.csv`;
    const response = await fetch(url, { headers: { cookie: await browser.jar.getCookieString(url) } });
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.match(/^text\/csv; charset=utf-8/);
    bytes = new Uint8Array(await response.arrayBuffer());
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes).replace(/^\ufeff/, '');
  });

  it('every cell is quoted, every line ends in CRLF and the file starts with a UTF-8 byte order mark', function () {
    expect([...bytes.slice(0, 3)], 'UTF-8 BOM').to.deep.equal([0xef, 0xbb, 0xbf]);
    expect(text.endsWith('\r\n')).to.equal(true);
    const rows = parseStrict(text);
    // the header, fred, gina, the admin and the members above
    expect(rows).to.have.length(1 + 3 + Object.keys(HOSTILE_NAMES).length + Object.keys(PLAIN_NAMES).length);
    for (const row of rows) {
      expect(row).to.have.length(8);
      const unquoted = row.filter((cell) => !cell.quoted).map((cell) => cell.value);
      expect(unquoted, `unquoted cells in ${JSON.stringify(row.map((cell) => cell.value))}`).to.deep.equal([]);
    }
    expect(rows[0]?.map((cell) => cell.value)).to.deep.equal(
      ['Name', 'Email', 'Role', 'Two-factor authentication', 'Methods', 'Recovery codes left', 'Asks at every sign-in', 'Locked'],
    );
  });

  for (const [label, delimiter] of [['a comma', ','], ['a semicolon (German Excel)', ';'], ['a tab', '\t'], ['a pipe', '|']] as const) {
    it(`a spreadsheet splitting on ${label} finds no cell that starts a formula`, function () {
      const fields = spreadsheetFields(text, delimiter);
      expect(fields.length).to.be.greaterThan(10);
      const formulas = fields.filter((field) => FORMULA_START.test(field));
      expect(formulas, `cells starting a formula when split on ${JSON.stringify(delimiter)}`).to.deep.equal([]);
    });
  }

  it('a name with a formula after a comma, semicolon, tab, pipe or line break is listed as text: a leading single quote, otherwise as typed', function () {
    const rows = parseStrict(text).map((row) => row.map((cell) => cell.value));
    const nameOf = new Map(rows.slice(1).map((row) => [row[1], row[0]]));
    for (const [email, name] of Object.entries(HOSTILE_NAMES)) expect(nameOf.get(email), email).to.equal(`'${name}`);
    for (const [email, name] of Object.entries(PLAIN_NAMES)) expect(nameOf.get(email), email).to.equal(name);
    expect(nameOf.get('fred@example.com')).to.equal('Fred Forced');
    // no part of any cell between delimiters starts a formula unless the cell is marked as text
    for (const cell of rows.flat()) {
      if (cell.split(/[,;\t|\r\n]/).some((part) => FORMULA_START.test(part))) expect(cell.startsWith('\''), JSON.stringify(cell)).to.equal(true);
    }
  });
});
