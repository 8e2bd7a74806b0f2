/**
 * Method choice (the customer sets one method as primary in the security console): with several active methods the
 * challenge opens on the customer's **primary** method and offers the others ("use another method") — only those
 * that satisfy the requested level, so a level-3 request never lists a level-2 method such as an email code.
 *
 * The choice is stored per account in `factor_preferences` (`_id` = account id). Without a stored choice — or when
 * the chosen factor was removed — the primary is the first enrolled primary-role factor (by
 * {@link Factor.enrolledAt}; a factor that cannot tell counts as enrolled first, ties keep registry order). A backup
 * factor (recovery codes) is never the primary method; it opens the challenge only when nothing else satisfies the
 * level. Works on the {@link Factor} contract only: no factor is known by name here.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKeyError } from '../shared/errors.ts';
import { forgetsRequestReads, readModelDocument } from '../store/model_reads.ts';
import type { Factor } from './contract.ts';
import type { FactorRegistry } from './registry.ts';
import { checkAccountId } from './shared/account_id.ts';

interface PreferenceDoc {
  _id: string;
  primaryFactorId: string;
  updatedAt: Date;
}

const preferenceSchema = new Schema<PreferenceDoc>(
  {
    _id: { type: String, required: true },
    primaryFactorId: { type: String, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, strict: 'throw' },
);
preferenceSchema.plugin(forgetsRequestReads);

/** The collection of the stored choices, one document per account (`_id`: the account id), read with an account. */
export const METHOD_CHOICE_COLLECTION = 'factor_preferences';

function preferenceModel(conn: Connection): Model<PreferenceDoc> {
  return (conn.models.FactorPreference as Model<PreferenceDoc> | undefined)
    ?? conn.model<PreferenceDoc>('FactorPreference', preferenceSchema, METHOD_CHOICE_COLLECTION);
}

/** What a challenge page needs: the method it opens on and the "use another method" list. */
export interface MethodOptions {
  /** The method to open on; `undefined` when no enrolled factor satisfies the level (enrol, or fail the request). */
  readonly primary: Factor | undefined;
  /** The other enrolled factors that satisfy the level, in registry order (primary-role factors, then backups). */
  readonly alternatives: readonly Factor[];
}

/** `choosePrimary`'s refusals: an unknown id or a backup factor (`invalid_factor`), or one not enrolled. */
export type ChoosePrimaryResult = { readonly ok: true } | { readonly ok: false; readonly code: 'invalid_factor' | 'not_enrolled' };

export interface MethodChoice {
  /** Stores `factorId` as the account's primary method: only a registered, primary-role, enrolled factor. */
  choosePrimary(accountId: string, factorId: string): Promise<ChoosePrimaryResult>;
  /** The primary method if it satisfies `minLevel`, else the first usable factor (see the module comment). */
  primaryFactor(accountId: string, minLevel: number): Promise<Factor | undefined>;
  /** The enrolled factors other than {@link primaryFactor} that satisfy `minLevel`. */
  alternativeFactors(accountId: string, minLevel: number): Promise<Factor[]>;
  /**
   * Both at once (one round of enrolment look-ups). `usable`, when the caller already knows the account's active
   * factors, saves those look-ups: the stored choice and the enrolment dates are read only when several primary
   * methods compete.
   */
  methodOptions(accountId: string, minLevel: number, usable?: readonly Factor[]): Promise<MethodOptions>;
  /** Forgets the stored choice (support reset); idempotent. */
  clear(accountId: string): Promise<void>;
}

/** Creates the method choice over the registry's factors. */
export function createMethodChoice(options: { conn: Connection; registry: FactorRegistry }): MethodChoice {
  const { registry } = options;
  const model = preferenceModel(options.conn);

  /** The enrolled primary-role factors, first enrolled first. */
  async function enrolledPrimaries(accountId: string): Promise<Factor[]> {
    const candidates = registry.all.filter((factor) => factor.role === 'primary');
    const states = await Promise.all(candidates.map(async (factor) => {
      if (!await factor.isEnrolled(accountId)) return undefined;
      const at = factor.enrolledAt ? await factor.enrolledAt(accountId) : undefined;
      return { factor, at: at?.getTime() ?? Number.NEGATIVE_INFINITY };
    }));
    return states
      .filter((state): state is { factor: Factor; at: number } => state !== undefined)
      .sort((a, b) => a.at - b.at || candidates.indexOf(a.factor) - candidates.indexOf(b.factor))
      .map((state) => state.factor);
  }

  /** {@link MethodChoice.methodOptions} when the active factors are known. */
  async function optionsAmong(accountId: string, minLevel: number, active: readonly Factor[]): Promise<MethodOptions> {
    const usable = registry.all.filter((factor) => factor.level >= minLevel && active.includes(factor));
    const primaries = usable.filter((factor) => factor.role === 'primary');
    if (primaries.length <= 1) return { primary: usable[0], alternatives: usable.slice(1) };
    const stored = await readModelDocument(model, accountId);
    let primary = primaries.find((factor) => factor.id === stored?.primaryFactorId);
    if (!primary) {
      const dates = await Promise.all(primaries.map(async (factor) => (await factor.enrolledAt?.(accountId))?.getTime() ?? Number.NEGATIVE_INFINITY));
      primary = primaries
        .map((factor, index) => ({ factor, at: dates[index] as number, index }))
        .sort((a, b) => a.at - b.at || a.index - b.index)[0]?.factor;
    }
    return { primary, alternatives: usable.filter((factor) => factor !== primary) };
  }

  async function methodOptions(accountId: string, minLevel: number, known?: readonly Factor[]): Promise<MethodOptions> {
    checkAccountId(accountId);
    if (known) return optionsAmong(accountId, minLevel, known);
    const [usable, primaries, stored] = await Promise.all([
      registry.usableFactors(accountId, minLevel),
      enrolledPrimaries(accountId),
      readModelDocument(model, accountId),
    ]);
    const chosen = stored ? primaries.find((factor) => factor.id === stored.primaryFactorId) : undefined;
    if (stored && !chosen) {
      // The chosen factor was removed: forget the choice, so re-adding it later does not silently make it primary
      // again. Conditional, so a choice stored meanwhile survives.
      await model.deleteOne({ _id: accountId, primaryFactorId: stored.primaryFactorId });
    }
    const ranked = [...(chosen ? [chosen] : []), ...primaries.filter((factor) => factor !== chosen)];
    const primary = ranked.find((factor) => usable.includes(factor)) ?? usable[0];
    return { primary, alternatives: usable.filter((factor) => factor !== primary) };
  }

  return Object.freeze({
    async choosePrimary(accountId: string, factorId: string): Promise<ChoosePrimaryResult> {
      checkAccountId(accountId);
      const factor = registry.get(factorId);
      if (!factor || factor.role !== 'primary') return { ok: false, code: 'invalid_factor' };
      if (!await factor.isEnrolled(accountId)) return { ok: false, code: 'not_enrolled' };
      const set = { $set: { primaryFactorId: factor.id, updatedAt: new Date(Date.now()) } };
      try {
        await model.updateOne({ _id: accountId }, set, { upsert: true });
      } catch (err) {
        // Two first-time choices at once: the loser's upsert collides; as an update it wins last.
        if (!isDuplicateKeyError(err)) throw err;
        await model.updateOne({ _id: accountId }, set);
      }
      return { ok: true };
    },
    async primaryFactor(accountId: string, minLevel: number): Promise<Factor | undefined> {
      return (await methodOptions(accountId, minLevel)).primary;
    },
    async alternativeFactors(accountId: string, minLevel: number): Promise<Factor[]> {
      return [...(await methodOptions(accountId, minLevel)).alternatives];
    },
    methodOptions,
    async clear(accountId: string): Promise<void> {
      checkAccountId(accountId);
      await model.deleteOne({ _id: accountId });
    },
  });
}
