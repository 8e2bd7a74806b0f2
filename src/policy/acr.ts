/**
 * Authentication assurance levels (`acr`) and methods (`amr`, RFC 8176); docs/ARCHITECTURE.md "Assurance levels and
 * `amr`". Pure: no I/O, no clock.
 *
 * Levels, weakest to strongest; a stronger level always satisfies a weaker request:
 * - 1 `urn:oidc-stepup:acr:pwd`: password;
 * - 2 `urn:oidc-stepup:acr:mfa`: password + any second factor (app code, email code, recovery code);
 * - 3 `urn:oidc-stepup:acr:mfa-app`: password + authenticator-app code or recovery code (NIST SP 800-63B does not
 *   accept email as an out-of-band channel, so an email code proves level 2 only).
 *
 * The session level is *derived* from the completed methods (ory/kratos style): each method declares the level it
 * proves and its RFC 8176 `amr` values; the policy never knows a factor by name.
 */
import { LEVEL, MAX_LEVEL } from '../shared/assurance.ts';

/** The default ACR values. */
export const ACR = Object.freeze({
  pwd: 'urn:oidc-stepup:acr:pwd',
  mfa: 'urn:oidc-stepup:acr:mfa',
  mfaApp: 'urn:oidc-stepup:acr:mfa-app',
} as const);

/** The OpenID PAPE multi-factor policy URI that Auth0 and Okta use for step-up; accepted as an alias of level 2. */
export const MULTI_FACTOR_ALIAS = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

/** `acr_values_supported` in discovery: the levels weakest to strongest, the PAPE alias last. */
export const ACR_VALUES: readonly string[] = Object.freeze([ACR.pwd, ACR.mfa, ACR.mfaApp, MULTI_FACTOR_ALIAS]);

export { LEVEL, MAX_LEVEL };

/** A completed authentication method: what it proves and its RFC 8176 `amr` values. */
export interface CompletedMethod {
  /** The level this method proves on its own terms (a second factor's level assumes a first factor beside it). */
  readonly level: number;
  /** RFC 8176 Authentication Method Reference values (`pwd`, `otp`, …). */
  readonly amr: readonly string[];
}

/** The password, as a completed method (level 1, `amr` `pwd`). */
export const PASSWORD_METHOD: CompletedMethod = Object.freeze({ level: LEVEL.pwd, amr: Object.freeze(['pwd']) });

/** Overrides for the ACR values (config). Every value must be distinct. */
export interface AcrOptions {
  /** ACR value of level 1. Default {@link ACR.pwd}. */
  readonly pwd?: string;
  /** ACR value of level 2. Default {@link ACR.mfa}. */
  readonly mfa?: string;
  /** ACR value of level 3. Default {@link ACR.mfaApp}. */
  readonly mfaApp?: string;
  /** Extra values accepted in requests, with the level each stands for. Default: {@link MULTI_FACTOR_ALIAS} → 2. */
  readonly aliases?: Readonly<Record<string, number>>;
}

/** The level arithmetic bound to one set of ACR values. */
export interface AcrPolicy {
  /** The canonical ACR values, weakest first (for `acr_values_supported`). */
  readonly values: readonly string[];
  /** The level an ACR value stands for; `undefined` for an unknown value (which requests ignore). */
  levelOf(acr: string | undefined | null): number | undefined;
  /** The level a request asks for: the highest known level among `requested`, 0 when none is known. */
  requiredLevel(requested: readonly string[]): number;
  /** Whether a session with `sessionAcr` meets a request for `requested` (compared by level, never by string). */
  satisfies(sessionAcr: string | undefined | null, requested: readonly string[]): boolean;
  /** The canonical ACR value of a level (1…3); throws for any other number. */
  acrForLevel(level: number): string;
  /** The level the completed methods prove together (0 when none). */
  levelFromMethods(methods: readonly CompletedMethod[]): number;
  /** The session's ACR value derived from the completed methods; `undefined` when nothing was completed. */
  acrFromFactors(methods: readonly CompletedMethod[]): string | undefined;
  /**
   * The `acr` to answer a request that named `requested` when the authentication reached `level`: the strongest
   * requested value the level satisfies (the first named among equals), so a relying party comparing strings finds
   * what it asked for; with none satisfied (or none named), the canonical value of the level reached; `undefined`
   * when nothing was reached.
   */
  answer(level: number, requested: readonly string[]): string | undefined;
}

/**
 * RFC 8176 §2 values grouped by the factor category they belong to (NIST SP 800-63B §5.1): a login is multi-factor
 * only when its methods span at least two categories. A recovery code is a look-up secret, "something you have"
 * (SP 800-63B §5.1.2), so it lands with `otp` in the possession category.
 */
const KNOWLEDGE = new Set(['pwd', 'pin', 'kba']);
const POSSESSION = new Set(['otp', 'hwk', 'swk', 'sms', 'tel', 'sc', 'pop']);
const INHERENCE = new Set(['bio', 'face', 'fpt', 'iris', 'retina', 'vbm']);

function categoryOf(amr: string): string | undefined {
  if (KNOWLEDGE.has(amr)) return 'knowledge';
  if (POSSESSION.has(amr)) return 'possession';
  if (INHERENCE.has(amr)) return 'inherence';
  return undefined;
}

function isMultiFactor(methods: readonly CompletedMethod[]): boolean {
  const categories = new Set<string>();
  for (const method of methods) {
    for (const value of method.amr) {
      const category = categoryOf(value);
      if (category) categories.add(category);
    }
  }
  return categories.size >= 2;
}

/**
 * The `amr` claim for the completed methods (RFC 8176): the union of the methods' values in a stable order, plus
 * `mfa` when they span two factor categories. Password + TOTP → `['pwd','otp','mfa']`; password + recovery code →
 * the same, because a recovery code is a one-time code (RFC 8176 §2 `otp`: "one-time password") — there is no
 * registered value for look-up secrets, and a custom one would break relying parties that check for `otp`.
 */
export function amrFor(methods: readonly CompletedMethod[]): string[] {
  const values: string[] = [];
  for (const method of methods) {
    for (const value of method.amr) {
      if (value !== 'mfa' && !values.includes(value)) values.push(value);
    }
  }
  if (isMultiFactor(methods)) values.push('mfa');
  return values;
}

/** Builds the level arithmetic for a set of ACR values (defaults: {@link ACR}). Throws on a bad config. */
export function createAcrPolicy(options: AcrOptions = {}): AcrPolicy {
  const canonical: [string, number][] = [
    [options.pwd ?? ACR.pwd, LEVEL.pwd],
    [options.mfa ?? ACR.mfa, LEVEL.mfa],
    [options.mfaApp ?? ACR.mfaApp, LEVEL.mfaApp],
  ];
  const aliases = options.aliases ?? { [MULTI_FACTOR_ALIAS]: LEVEL.mfa };
  const levels = new Map<string, number>();
  const problems: string[] = [];
  for (const [value, level] of canonical) {
    if (!value) problems.push(`the ACR value of level ${level} is empty`);
    if (levels.has(value)) problems.push(`the ACR value ${value} is used twice`);
    levels.set(value, level);
  }
  for (const [value, level] of Object.entries(aliases)) {
    if (levels.has(value)) problems.push(`the ACR alias ${value} repeats a canonical value`);
    if (!Number.isInteger(level) || level < LEVEL.pwd || level > MAX_LEVEL) {
      problems.push(`the ACR alias ${value} has level ${level}, expected ${LEVEL.pwd}…${MAX_LEVEL}`);
    }
    levels.set(value, level);
  }
  if (problems.length > 0) throw new Error(`invalid ACR configuration: ${problems.join('; ')}`);
  const byLevel = new Map(canonical.map(([value, level]) => [level, value]));

  function levelOf(acr: string | undefined | null): number | undefined {
    return typeof acr === 'string' ? levels.get(acr) : undefined;
  }

  function requiredLevel(requested: readonly string[]): number {
    let level: number = LEVEL.none;
    for (const value of requested) level = Math.max(level, levelOf(value) ?? LEVEL.none);
    return level;
  }

  function levelFromMethods(methods: readonly CompletedMethod[]): number {
    let level: number = LEVEL.none;
    for (const method of methods) level = Math.max(level, method.level);
    // A second factor's level presumes a first factor of another category beside it; alone it is one factor.
    return isMultiFactor(methods) ? level : Math.min(level, LEVEL.pwd);
  }

  return Object.freeze({
    values: Object.freeze(canonical.map(([value]) => value)),
    levelOf,
    requiredLevel,
    satisfies(sessionAcr: string | undefined | null, requested: readonly string[]): boolean {
      return (levelOf(sessionAcr) ?? LEVEL.none) >= requiredLevel(requested);
    },
    acrForLevel(level: number): string {
      const value = byLevel.get(level);
      if (value === undefined) throw new RangeError(`no ACR value for level ${level}`);
      return value;
    },
    levelFromMethods,
    acrFromFactors(methods: readonly CompletedMethod[]): string | undefined {
      const level = levelFromMethods(methods);
      return level === LEVEL.none ? undefined : byLevel.get(level);
    },
    answer(level: number, requested: readonly string[]): string | undefined {
      let best: { value: string; level: number } | undefined;
      for (const value of requested) {
        const asked = levels.get(value);
        if (asked !== undefined && asked <= level && (!best || asked > best.level)) best = { value, level: asked };
      }
      return best?.value ?? byLevel.get(Math.min(level, MAX_LEVEL));
    },
  });
}

/** The default policy ({@link ACR} values, the PAPE alias at level 2). */
export const defaultAcrPolicy: AcrPolicy = createAcrPolicy();

/** {@link AcrPolicy.levelOf} with the default values. */
export const levelOf = defaultAcrPolicy.levelOf;
/** {@link AcrPolicy.requiredLevel} with the default values. */
export const requiredLevel = defaultAcrPolicy.requiredLevel;
/** {@link AcrPolicy.satisfies} with the default values. */
export const satisfies = defaultAcrPolicy.satisfies;
/** {@link AcrPolicy.acrForLevel} with the default values. */
export const acrForLevel = defaultAcrPolicy.acrForLevel;
/** {@link AcrPolicy.levelFromMethods} with the default values. */
export const levelFromMethods = defaultAcrPolicy.levelFromMethods;
/** {@link AcrPolicy.acrFromFactors} with the default values. */
export const acrFromFactors = defaultAcrPolicy.acrFromFactors;
