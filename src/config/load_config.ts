/**
 * Server configuration: the only reader of `process.env` (main.ts passes it in). Every key is validated
 * at start-up and **every** problem is reported at once, so an operator fixes a broken deployment in one go.
 */
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { parseKeyRing, type KeyRing } from './key_ring.ts';
import { MAIL_REQUIRED_IN_PRODUCTION, SMTP_URL_SETTING, formatFrom, parseSmtpUrl } from './mail_settings.ts';
import { parseConfiguredKeys, type ProviderKeys } from './provider_keys.ts';
import { LOG_LEVELS, type LogLevel } from '../shared/logger.ts';
import type { SupportContact } from '../shared/support.ts';
import { LOGO_FILE, brandLogoPath, colourProblem, normaliseColour, type Brand } from '../shared/brand.ts';


/** Default retention of audit records: 400 days (a year of history plus a margin for yearly reviews). */
export const DEFAULT_AUDIT_RETENTION_DAYS = 400;

/** One API (resource server) that receives JWT access tokens (RFC 8707 resource indicators, RFC 9068). */
export interface ResourceServerConfig {
  /** `aud` of its access tokens; defaults to the resource indicator itself. */
  readonly audience: string;
  /** Space-separated scopes this API accepts (e.g. `"invoice orders:read"`). */
  readonly scope: string;
  /** Always `'jwt'`: the shop's API verifies the token itself and reads `acr`/`amr`/`auth_time` (RFC 9470). */
  readonly accessTokenFormat: 'jwt';
  /** Lifetime of its access tokens in seconds; defaults to `ACCESS_TOKEN_TTL`. */
  readonly accessTokenTTL?: number;
}

/** Lifetimes of the oidc-provider artefacts, in seconds. */
export interface TtlConfig {
  /** `ACCESS_TOKEN_TTL`, default 600 (10 min): short, so a step-up's `auth_time` stays meaningful. */
  readonly accessTokenSeconds: number;
  /** `AUTHORIZATION_CODE_TTL`, default 60 (OAuth 2.0 Security BCP: short-lived, single-use). */
  readonly authorizationCodeSeconds: number;
  /** `CLIENT_CREDENTIALS_TTL`, default 600. */
  readonly clientCredentialsSeconds: number;
  /** `ID_TOKEN_TTL`, default 3600. */
  readonly idTokenSeconds: number;
  /** `REFRESH_TOKEN_TTL`, default 1209600 (14 days). */
  readonly refreshTokenSeconds: number;
  /** `INTERACTION_TTL`, default 1800 (30 min to finish a sign-in). */
  readonly interactionSeconds: number;
  /** `SESSION_TTL`, default 1209600 (14 days; only for "keep me signed in" sessions, others end with the browser). */
  readonly sessionSeconds: number;
  /** `GRANT_TTL`, default 1209600 (14 days). */
  readonly grantSeconds: number;
}

/** Outgoing mail: email codes and security notifications. */
export interface MailConfig {
  /**
   * `SMTP_URL`: `smtp://user:pass@host:587[?requireTLS=true]` or `smtps://user:pass@host:465` (validated with
   * `parseSmtpUrl`). Required in production; unset outside production → the in-process dev outbox, readable at
   * `/dev/mail`. Holds a password: never log it.
   */
  readonly smtpUrl: string | undefined;
  /**
   * `MAIL_FROM`: the sender, a bare address (`no-reply@shop.example`, shown with {@link Config.issuerName} as its
   * display name) or `Name <address>`. Required in production; default `no-reply@localhost` outside production,
   * i.e. `oidc-stepup <no-reply@localhost>` with the default issuer name.
   */
  readonly from: string;
}

/** Default `ISSUER_NAME`. */
export const DEFAULT_ISSUER_NAME = 'oidc-stepup';
/** Default `MAIL_FROM` outside production (the mailer adds `ISSUER_NAME` as display name). */
export const DEV_MAIL_FROM = 'no-reply@localhost';
/** Shortest accepted `MFA_PEPPER`, in decoded bytes (HMAC-SHA256 key: RFC 2104 §3 recommends ≥ the hash length). */
export const MIN_MFA_PEPPER_BYTES = 32;
/** Shortest accepted `METRICS_TOKEN`, in characters. */
export const MIN_METRICS_TOKEN_LENGTH = 16;

/** The validated, frozen server configuration. */
export interface Config {
  /** `NODE_ENV`: `development` (default), `test` or `production`. */
  readonly env: 'development' | 'test' | 'production';
  readonly production: boolean;
  /** `PORT`, default 3000 (0 = any free port). */
  readonly port: number;
  /** `HOST`, default `127.0.0.1` (dev/test) or `0.0.0.0` (production). */
  readonly host: string;
  /** `ISSUER`, default `http://localhost:PORT`: the public base URL shops discover (no trailing slash). */
  readonly issuer: string;
  /** `MONGODB_URI`: unset → the embedded MongoDB-wire engine (refused in production). */
  readonly mongodbUri: string | undefined;
  /** `DATA_DIR`, default `.data`: dev files (embedded engine URI file and snapshot). */
  readonly dataDir: string;
  /**
   * `EMBEDDED_DB_SNAPSHOT`: file the embedded engine saves its data to, so dev users and keys survive a restart.
   * Default `${DATA_DIR}/embedded-db.snapshot` in development, none in test; `off` keeps data in memory only.
   */
  readonly embeddedDbSnapshot: string | undefined;
  /** From `JWKS` + `COOKIE_KEYS` (required in production); unset in dev → keys generated once and kept in the DB. */
  readonly keys: ProviderKeys | undefined;
  /** `TRUST_PROXY`, default false: trust `X-Forwarded-*` from a TLS-terminating proxy / load balancer. */
  readonly trustProxy: boolean;
  /**
   * How many proxies append to `X-Forwarded-For` before a request reaches the provider (`TRUST_PROXY=true` is 1, a
   * number says how many): the client's address is the entry that many from the right, never one the client wrote.
   */
  readonly proxyHops: number;
  /** `LOG_LEVEL`, default `info`. */
  readonly logLevel: LogLevel;
  /** `DEV_SEED`, default true outside production (must be false in production): demo shop client and users. */
  readonly devSeed: boolean;
  /** `RESOURCE_SERVERS`, default `{}`: JSON map resource indicator → {@link ResourceServerConfig}. */
  readonly resourceServers: Readonly<Record<string, ResourceServerConfig>>;
  readonly ttl: TtlConfig;
  readonly mail: MailConfig;
  /**
   * `ISSUER_NAME`, default `oidc-stepup`: the provider's name as customers know it — the sender name and wording of
   * mails, and the `issuer` of TOTP enrolments (otpauth URI) in authenticator apps. 1-64 characters, no `:` (the
   * Key URI Format forbids it in the issuer) and none of `< > " \`.
   */
  readonly issuerName: string;
  /**
   * `AUDIT_RETENTION_DAYS`, default 400: days an audit record is kept (1-3650); `0` or `forever` → `null`, kept
   * forever (no TTL index).
   */
  readonly auditRetentionDays: number | null;
  /**
   * `FACTOR_KEYS`: the AES-256-GCM key ring that encrypts TOTP secrets at rest, `id:base64key,id:base64key`
   * (32-byte keys; the first encrypts new secrets, the others still decrypt: rotate by prepending a key). Required
   * in production; unset outside production → generated once and kept in the database (`dev_secrets`).
   */
  readonly factorKeys: KeyRing | undefined;
  /**
   * `MFA_PEPPER`: a secret of at least 32 bytes, base64 or base64url (`openssl rand -base64 32`), keying the HMACs of
   * stored recovery codes and email codes (one sub-key per use is derived from it). Never stored in the database;
   * changing it invalidates every stored recovery code. Required in production; unset outside production →
   * generated once and kept in the database (`dev_secrets`).
   */
  readonly mfaPepper: Buffer | undefined;
  /** `METRICS_TOKEN`: when set (≥ 16 characters), `/metrics` requires `Authorization: Bearer <token>`; default open. */
  readonly metricsToken: string | undefined;
  /**
   * Where customers get help, shown on the pages where they may be stuck (a locked second factor, a blocked sign-in,
   * a lost phone, an error): `SUPPORT_URL` (an https page; http only outside production) and/or `SUPPORT_EMAIL`.
   * Without either the pages say "the shop's customer support".
   */
  readonly support: SupportContact;
  /**
   * The shop's brand on pages and mails: `BRAND_NAME` (default `ISSUER_NAME`; it is also the name customers see in
   * their authenticator app and as the mail sender), `BRAND_LOGO_URL` (an https image; http only outside production)
   * and `BRAND_PRIMARY_COLOR` (`#rrggbb`, refused below WCAG AA contrast with white).
   */
  readonly brand: Brand;
  /**
   * `DEFAULT_LOCALE`: the language of pages and mails when neither the customer's choice, the shop's `ui_locales`,
   * the account nor the browser's `Accept-Language` names one with a catalogue in `locales/`. Default `en`; a
   * language without a catalogue is refused at start-up.
   */
  readonly defaultLocale: string;
}

/** Thrown by {@link loadConfig}; `problems` lists every invalid or missing key, one sentence each. */
export class ConfigError extends Error {
  readonly code = 'invalid_configuration';
  readonly problems: readonly string[];

  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

const booleanValue = z.string().trim().toLowerCase().refine((v) => TRUE_WORDS.has(v) || FALSE_WORDS.has(v), {
  message: 'must be true or false',
}).transform((v) => TRUE_WORDS.has(v));

const seconds = (max: number) => z.coerce.number({ message: 'must be a whole number of seconds' })
  .int('must be a whole number of seconds').min(1, 'must be at least 1 second').max(max, `must be at most ${max} seconds`);

const resourceServerSchema = z.object({
  audience: z.string().min(1).optional(),
  scope: z.string().trim().min(1, 'scope must list at least one scope'),
  accessTokenFormat: z.literal('jwt').default('jwt'),
  accessTokenTTL: z.number().int().min(1).max(86_400).optional(),
}).strict();

const resourceServersSchema = z.record(
  z.url({ message: 'each resource indicator must be an absolute URI' }),
  resourceServerSchema,
);

/** Per-key parsers; each returns a value or a list of problems, independently of the others. */
const fields = {
  NODE_ENV: z.enum(['development', 'test', 'production'], { message: 'must be development, test or production' }),
  PORT: z.coerce.number({ message: 'must be a port number' }).int('must be a port number').min(0).max(65_535, 'must be a port number (0-65535)'),
  HOST: z.string().trim().min(1),
  ISSUER: z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' })
    .refine((v) => !/[?#]/.test(v), 'must not contain a query or fragment'),
  MONGODB_URI: z.string().trim().regex(/^mongodb(\+srv)?:\/\/\S+$/, 'must be a mongodb:// or mongodb+srv:// URI'),
  DATA_DIR: z.string().trim().min(1),
  EMBEDDED_DB_SNAPSHOT: z.string().trim().min(1),
  TRUST_PROXY: z.string().trim().toLowerCase()
    .refine((v) => TRUE_WORDS.has(v) || FALSE_WORDS.has(v) || /^([1-9]|10)$/.test(v), { message: 'must be true, false, or the number of proxies in front (1-10)' })
    .transform((v) => (TRUE_WORDS.has(v) ? 1 : FALSE_WORDS.has(v) ? 0 : Number(v))),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }),
  DEV_SEED: booleanValue,
  ACCESS_TOKEN_TTL: seconds(86_400),
  AUTHORIZATION_CODE_TTL: seconds(600),
  CLIENT_CREDENTIALS_TTL: seconds(86_400),
  ID_TOKEN_TTL: seconds(86_400),
  REFRESH_TOKEN_TTL: seconds(31_536_000),
  INTERACTION_TTL: seconds(86_400),
  SESSION_TTL: seconds(31_536_000),
  GRANT_TTL: seconds(31_536_000),
  ISSUER_NAME: z.string().trim().min(1).max(64, 'must be at most 64 characters')
    // eslint-disable-next-line no-control-regex
    .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must not contain control characters')
    .refine((v) => !v.includes(':'), 'must not contain ":" (authenticator apps split "issuer:account" at it)')
    .refine((v) => !/[<>"\\]/.test(v), 'must not contain < > " or \\ (it becomes the mail sender\'s display name)'),
  AUDIT_RETENTION_DAYS: z.string().trim().toLowerCase()
    .refine((v) => v === 'forever' || (/^\d{1,4}$/.test(v) && Number(v) <= 3650), 'must be a whole number of days from 1 to 3650, or 0 / forever to keep records forever')
    .transform((v) => (v === 'forever' || Number(v) === 0 ? null : Number(v))),
  BRAND_NAME: z.string().trim().min(1).max(64, 'must be at most 64 characters')
    // eslint-disable-next-line no-control-regex
    .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must not contain control characters')
    .refine((v) => !v.includes(':'), 'must not contain ":" (authenticator apps split "issuer:account" at it)')
    .refine((v) => !/[<>"\\]/.test(v), 'must not contain < > " or \\ (it becomes the mail sender\'s display name)'),
  BRAND_LOGO_URL: z.string().trim().max(2000)
    .refine((v) => (/^https?:\/\//i.test(v) ? URL.canParse(v) : LOGO_FILE.test(v)),
      'must be an http(s) URL of an image (https://shop.example/logo.svg) or an image file name in DATA_DIR (logo.png: png, svg, jpg, webp or gif)'),
  BRAND_PRIMARY_COLOR: z.string().trim().superRefine((v, ctx) => {
    const problem = colourProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  DEFAULT_LOCALE: z.string().trim().toLowerCase().regex(/^[a-z]{2,3}(-[a-z0-9]{2,8})*$/, 'must be a language tag with a catalogue in locales/ (en, de)'),
  SUPPORT_URL: z.string().trim().max(2000).url('must be an absolute URL (https://shop.example/help)')
    .refine((v) => /^https?:\/\//i.test(v), 'must be an http(s) URL'),
  SUPPORT_EMAIL: z.string().trim().max(254).email('must be an email address (help@shop.example)'),
  METRICS_TOKEN: z.string().trim().min(MIN_METRICS_TOKEN_LENGTH, `must be at least ${MIN_METRICS_TOKEN_LENGTH} characters`)
    .refine((v) => /^[\x21-\x7e]+$/.test(v), 'must be printable ASCII without spaces (it is sent as a Bearer token)'),
} as const;

type FieldName = keyof typeof fields;
type FieldValue<K extends FieldName> = z.output<(typeof fields)[K]>;

/** Every environment variable this server reads (the README's configuration reference lists the same). */
export const CONFIG_KEYS: readonly string[] = Object.freeze([
  ...Object.keys(fields), 'JWKS', 'COOKIE_KEYS', 'RESOURCE_SERVERS', SMTP_URL_SETTING, 'MAIL_FROM', 'FACTOR_KEYS', 'MFA_PEPPER',
]);

/** Freezes plain objects and arrays; Buffers (key material) cannot be frozen and are left as they are. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** Quoted values longer than a key id could be (a key pasted in the wrong place) are not repeated in problems. */
function hideLongQuotes(problem: string): string {
  return problem.replace(/"[^"]{33,}"/g, '(a long value, not shown)');
}

/** Decodes standard or URL-safe base64 (padding optional); `undefined` when the text is not base64. */
function decodeBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return undefined;
  return Buffer.from(text, /[-_]/.test(text) ? 'base64url' : 'base64');
}

/**
 * `MFA_PEPPER` → its bytes, or the problem (never quoting the value). Exported for the dev-secrets store, which
 * keeps a generated pepper in the same text form.
 */
export function parseMfaPepper(text: string): { pepper: Buffer; problem?: undefined } | { pepper?: undefined; problem: string } {
  const bytes = decodeBase64(text.trim());
  if (!bytes) return { problem: 'must be base64 or base64url text (e.g. the output of `openssl rand -base64 32`)' };
  if (bytes.length < MIN_MFA_PEPPER_BYTES) return { problem: `must decode to at least ${MIN_MFA_PEPPER_BYTES} bytes, got ${bytes.length}` };
  return { pepper: bytes };
}

function describeIssues(key: string, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.length > 0 ? ` (${issue.path.map(String).join('.')})` : '';
    return `${key}${path}: ${issue.message}`;
  });
}

/**
 * Validates the environment and returns the frozen {@link Config}. Empty values count as unset.
 * @throws {ConfigError} listing every problem found.
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const problems: string[] = [];

  function read<K extends FieldName>(key: K): FieldValue<K> | undefined;
  function read<K extends FieldName>(key: K, fallback: FieldValue<K>): FieldValue<K>;
  function read<K extends FieldName>(key: K, fallback?: FieldValue<K>): FieldValue<K> | undefined {
    const raw = env[key];
    if (raw === undefined || raw.trim() === '') return fallback;
    const result = fields[key].safeParse(raw);
    if (result.success) return result.data as FieldValue<K>;
    problems.push(...describeIssues(key, result.error.issues));
    return fallback;
  }
  const isSet = (key: string): boolean => env[key] !== undefined && env[key]?.trim() !== '';

  const nodeEnv = read('NODE_ENV', 'development');
  const production = nodeEnv === 'production';
  const port = read('PORT', 3000);
  const host = read('HOST', production ? '0.0.0.0' : '127.0.0.1');
  const issuer = read('ISSUER', `http://localhost:${port}`).replace(/\/+$/, '');

  const mongodbUri = read('MONGODB_URI');
  if (production && !isSet('MONGODB_URI')) {
    problems.push('MONGODB_URI is required when NODE_ENV=production (the embedded engine is for development and tests only)');
  }

  const dataDir = read('DATA_DIR', '.data');
  const snapshotSetting = read('EMBEDDED_DB_SNAPSHOT');
  let embeddedDbSnapshot: string | undefined;
  if (snapshotSetting !== undefined && FALSE_WORDS.has(snapshotSetting.toLowerCase())) embeddedDbSnapshot = undefined;
  else if (snapshotSetting !== undefined) embeddedDbSnapshot = snapshotSetting;
  else if (nodeEnv === 'development') embeddedDbSnapshot = join(dataDir, 'embedded-db.snapshot');
  if (embeddedDbSnapshot !== undefined && !isAbsolute(embeddedDbSnapshot)) embeddedDbSnapshot = join(process.cwd(), embeddedDbSnapshot);

  const proxyHops = read('TRUST_PROXY', 0);
  const trustProxy = proxyHops > 0;
  const logLevel = read('LOG_LEVEL', 'info');
  const devSeed = read('DEV_SEED', !production);
  if (production && devSeed) problems.push('DEV_SEED must be false or unset when NODE_ENV=production (it creates demo users with known passwords)');

  let keys: ProviderKeys | undefined;
  const jwks = isSet('JWKS') ? env.JWKS : undefined;
  const cookieKeys = isSet('COOKIE_KEYS') ? env.COOKIE_KEYS : undefined;
  if (production && !jwks) problems.push('JWKS is required when NODE_ENV=production (a JSON Web Key Set with private signing keys)');
  if (production && !cookieKeys) problems.push('COOKIE_KEYS is required when NODE_ENV=production (comma-separated secrets, newest first)');
  if (!production && Boolean(jwks) !== Boolean(cookieKeys)) {
    problems.push('JWKS and COOKIE_KEYS go together: set both, or neither to use generated development keys');
  }
  if (jwks || cookieKeys) {
    // Missing halves are reported above in our own words; the rest of the key problems are listed as they are.
    const parsed = parseConfiguredKeys({ jwks, cookieKeys });
    for (const problem of parsed.problems) {
      if (/^(jwks|cookieKeys) is missing/.test(problem)) continue;
      problems.push(`${problem.startsWith('cookieKeys') ? 'COOKIE_KEYS' : 'JWKS'}: ${problem}`);
    }
    keys = parsed.keys;
  }

  let resourceServers: Record<string, ResourceServerConfig> = {};
  if (isSet('RESOURCE_SERVERS')) {
    let json: unknown;
    try {
      json = JSON.parse(env.RESOURCE_SERVERS as string);
    } catch {
      problems.push('RESOURCE_SERVERS: must be JSON, e.g. {"https://api.shop.example":{"scope":"invoice"}}');
    }
    if (json !== undefined) {
      const result = resourceServersSchema.safeParse(json);
      if (result.success) {
        resourceServers = Object.fromEntries(Object.entries(result.data).map(([indicator, rs]) => [indicator, {
          audience: rs.audience ?? indicator,
          scope: rs.scope,
          accessTokenFormat: rs.accessTokenFormat,
          ...(rs.accessTokenTTL === undefined ? {} : { accessTokenTTL: rs.accessTokenTTL }),
        }]));
      } else {
        problems.push(...describeIssues('RESOURCE_SERVERS', result.error.issues));
      }
    }
  }

  const ttl: TtlConfig = {
    accessTokenSeconds: read('ACCESS_TOKEN_TTL', 600),
    authorizationCodeSeconds: read('AUTHORIZATION_CODE_TTL', 60),
    clientCredentialsSeconds: read('CLIENT_CREDENTIALS_TTL', 600),
    idTokenSeconds: read('ID_TOKEN_TTL', 3600),
    refreshTokenSeconds: read('REFRESH_TOKEN_TTL', 14 * 24 * 3600),
    interactionSeconds: read('INTERACTION_TTL', 1800),
    sessionSeconds: read('SESSION_TTL', 14 * 24 * 3600),
    grantSeconds: read('GRANT_TTL', 14 * 24 * 3600),
  };

  const issuerName = read('BRAND_NAME') ?? read('ISSUER_NAME', DEFAULT_ISSUER_NAME);
  const logo = read('BRAND_LOGO_URL');
  const logoFromDataDir = logo !== undefined && !/^https?:\/\//i.test(logo);
  if (logo !== undefined && !logoFromDataDir && production && !logo.toLowerCase().startsWith('https://')) {
    problems.push('BRAND_LOGO_URL: must be an https URL when NODE_ENV=production');
  }
  const primaryColor = read('BRAND_PRIMARY_COLOR');

  const smtpUrl = isSet(SMTP_URL_SETTING) ? (env[SMTP_URL_SETTING] as string).trim() : undefined;
  if (smtpUrl !== undefined) {
    // parseSmtpUrl never quotes the URL (it may hold a password)
    problems.push(...parseSmtpUrl(smtpUrl).problems.map((problem) => `${SMTP_URL_SETTING}: ${problem}`));
  } else if (production) {
    problems.push(MAIL_REQUIRED_IN_PRODUCTION);
  }
  const mailFrom = isSet('MAIL_FROM') ? (env.MAIL_FROM as string).trim() : undefined;
  if (mailFrom !== undefined) {
    // the mailer's own rule, applied now
    try {
      formatFrom(mailFrom, issuerName);
    } catch {
      problems.push('MAIL_FROM: must be an address (no-reply@shop.example) or "Name <address>"');
    }
  } else if (production) {
    problems.push('MAIL_FROM is required when NODE_ENV=production (the sender customers see, e.g. "Shop Login <no-reply@id.shop.example>")');
  }

  const auditRetentionDays = read('AUDIT_RETENTION_DAYS', DEFAULT_AUDIT_RETENTION_DAYS);

  let factorKeys: KeyRing | undefined;
  if (isSet('FACTOR_KEYS')) {
    const parsed = parseKeyRing(env.FACTOR_KEYS as string);
    if (parsed.ring) factorKeys = parsed.ring;
    else problems.push(...parsed.problems.map((problem) => `FACTOR_KEYS: ${hideLongQuotes(problem)}`));
  } else if (production) {
    problems.push('FACTOR_KEYS is required when NODE_ENV=production (the key ring encrypting TOTP secrets: "id:base64key,…" with 32-byte keys, the first encrypts; `npm run cli -- keys generate` prints one)');
  }
  let mfaPepper: Buffer | undefined;
  if (isSet('MFA_PEPPER')) {
    const parsed = parseMfaPepper(env.MFA_PEPPER as string);
    if (parsed.pepper) mfaPepper = parsed.pepper;
    else problems.push(`MFA_PEPPER: ${parsed.problem}`);
  } else if (production) {
    problems.push(`MFA_PEPPER is required when NODE_ENV=production (a secret of at least ${MIN_MFA_PEPPER_BYTES} bytes in base64 keying the recovery-code and email-code hashes; \`npm run cli -- keys generate\` prints one)`);
  }

  const metricsToken = read('METRICS_TOKEN');
  const supportUrl = read('SUPPORT_URL');
  if (supportUrl !== undefined && production && !supportUrl.toLowerCase().startsWith('https://')) {
    problems.push('SUPPORT_URL: must be an https URL when NODE_ENV=production');
  }
  const supportEmail = read('SUPPORT_EMAIL');

  if (problems.length > 0) throw new ConfigError(problems);

  return deepFreeze<Config>({
    env: nodeEnv,
    production,
    port,
    host,
    issuer,
    mongodbUri,
    dataDir,
    embeddedDbSnapshot,
    keys,
    trustProxy,
    proxyHops,
    logLevel,
    devSeed,
    resourceServers,
    ttl,
    mail: { smtpUrl, from: mailFrom ?? DEV_MAIL_FROM },
    issuerName,
    auditRetentionDays,
    factorKeys,
    mfaPepper,
    metricsToken,
    support: { url: supportUrl, email: supportEmail },
    defaultLocale: read('DEFAULT_LOCALE', 'en'),
    brand: {
      name: issuerName,
      // A file in DATA_DIR is served by the provider itself (`/assets/brand-logo.<ext>`).
      logoUrl: logo === undefined ? undefined : logoFromDataDir ? `${issuer}${brandLogoPath(logo)}` : logo,
      ...(logoFromDataDir ? { logoFile: join(dataDir, logo) } : {}),
      primaryColor: primaryColor === undefined ? undefined : normaliseColour(primaryColor),
    },
  });
}
