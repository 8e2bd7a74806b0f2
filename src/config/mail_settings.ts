/**
 * The mail settings (`SMTP_URL`, `MAIL_FROM`, docs/OPERATIONS.md): parsed and checked at start-up, every problem
 * listed; the transport (`src/mail/transport.ts`) uses the parsed values.
 */
import { AppError } from '../shared/errors.ts';

/** The configuration key the SMTP URL is read from (named in start-up problems). */
export const SMTP_URL_SETTING = 'SMTP_URL';

/** The start-up problem when production has no SMTP server (config should refuse it before `createMailer`). */
export const MAIL_REQUIRED_IN_PRODUCTION =
  `${SMTP_URL_SETTING} is required when NODE_ENV=production (e.g. smtps://user:pass@smtp.example.com:465): `
  + 'without it, mail would only be kept in process memory and no customer would receive a code or a security notice';

/** SMTP settings parsed from the URL. `auth` holds the password: never log this object. */
export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  /** `smtps:`: TLS from the first byte (usually port 465). */
  readonly secure: boolean;
  /** `?requireTLS=true` on `smtp:`: fail unless STARTTLS succeeds (otherwise STARTTLS is used when offered). */
  readonly requireTLS: boolean;
  readonly auth?: { readonly user: string; readonly pass: string };
}

const SCHEMES: Record<string, { secure: boolean; defaultPort: number }> = {
  'smtp:': { secure: false, defaultPort: 587 },
  'smtps:': { secure: true, defaultPort: 465 },
};

const QUERY_OPTIONS = ['requireTLS'] as const;

/**
 * Validates an SMTP URL and lists **every** problem (for the start-up report); `settings` is set when there are none.
 * Problems never quote the URL (it may hold a password), only the parts at fault that are not secret.
 *
 * Accepted: `smtp://[user:pass@]host[:port][?requireTLS=true]` (default port 587, STARTTLS when the server offers it)
 * and `smtps://[user:pass@]host[:port]` (default 465, implicit TLS). User and password are percent-decoded.
 */
export function parseSmtpUrl(url: string): { problems: string[]; settings?: SmtpSettings } {
  const problems: string[] = [];
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url.trim());
  if (!scheme?.[1]) {
    return { problems: ['must be a URL like smtp://user:pass@smtp.example.com:587 or smtps://user:pass@smtp.example.com:465'] };
  }
  const protocol = `${scheme[1].toLowerCase()}:`;
  const kind = SCHEMES[protocol];
  if (!kind) problems.push(`scheme must be smtp:// or smtps:// (got ${protocol}//)`);

  // The port is checked before WHATWG parsing, which rejects a bad port without saying so.
  const authority = /^[^:]+:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)(?::([^/?#]*))?/.exec(url.trim());
  const rawPort = authority?.[2];
  let port = kind?.defaultPort ?? 0;
  if (rawPort !== undefined && rawPort !== '') {
    const n = /^\d{1,5}$/.test(rawPort) ? Number(rawPort) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 65_535) problems.push('port must be a number from 1 to 65535'); // not quoted: a bad port may be a misplaced password
    else port = n;
  }
  if (!authority?.[1]) problems.push('host is missing (e.g. smtp://smtp.example.com:587)');
  if (problems.length > 0) return { problems };

  let parsed: URL;
  try {
    // parse as http(s) so the WHATWG parser treats the authority as a host (it is opaque for unknown schemes)
    parsed = new URL(url.trim().replace(/^[^:]+:/, 'http:'));
  } catch {
    return { problems: ['is not a valid URL (check the host name, and percent-encode special characters in the user name and password)'] };
  }
  if (parsed.pathname !== '/' && parsed.pathname !== '') problems.push('must not have a path (only smtp://user:pass@host:port)');
  if (parsed.hash) problems.push('must not have a fragment (#…)');

  let requireTLS = false;
  for (const [key, value] of parsed.searchParams) {
    if (key === 'requireTLS') {
      if (value === 'true' || value === 'false') requireTLS = value === 'true';
      else problems.push('requireTLS must be true or false');
    } else {
      // quoted only when it cannot be a misplaced user:password (`smtp://us?er:pass@host` puts it in the query)
      const quotable = /^[A-Za-z0-9_.-]{1,40}$/.test(key) && !parsed.search.includes('@');
      problems.push(`unknown option${quotable ? ` "${key}"` : ''} (known: ${QUERY_OPTIONS.join(', ')})`);
    }
  }
  if (requireTLS && kind?.secure) problems.push('requireTLS applies to smtp:// (STARTTLS); smtps:// is always encrypted');

  let auth: SmtpSettings['auth'];
  if (parsed.username || parsed.password) {
    try {
      auth = { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) };
    } catch {
      problems.push('user name or password has a broken percent-encoding');
    }
    if (!parsed.username) problems.push('a password needs a user name (smtp://user:pass@host)');
    if (!parsed.password) problems.push('a user name needs a password (smtp://user:pass@host)');
  }

  if (problems.length > 0 || !kind) return { problems };
  // an IPv6 literal comes bracketed ([::1]); net.connect wants it bare
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { problems, settings: { host, port, secure: kind.secure, requireTLS, ...(auth ? { auth } : {}) } };
}

/** A single bare address: no display name, no list, no header-breaking characters. */
export const RECIPIENT = /^[^\s@<>(),;:"[\]\\]+@[^\s@<>(),;:"[\]\\]+$/;

/** The sender of the mails: a bare address (shown with the issuer's name) or `Name <address>`; throws otherwise. */
export function formatFrom(from: string, issuerName: string): string | { name: string; address: string } {
  const trimmed = from.trim();
  if (RECIPIENT.test(trimmed)) return { name: issuerName, address: trimmed };
  if (/^[^<>\r\n]*<[^\s@<>]+@[^\s@<>]+>$/.test(trimmed)) return trimmed;
  throw new AppError('invalid_mail_from', 'the mail sender must be an address (no-reply@shop.example) or "Name <address>"');
}

