/**
 * A fourth second factor that exists only in the tests: a printed code card (one serial, one code). It is the proof
 * that a factor is one folder implementing the contract — its state, its two templates beside it — plus one line where
 * the registry is built; the sign-in and console pages are not touched for it. Kept in memory: tests only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Factor, FactorAccount } from '../../../src/factors/contract.ts';

export const CODE_CARD_ID = 'code_card';

export interface CodeCardFactor extends Factor {
  /** The code printed on `serial`'s card for `accountId` (what the customer reads from the card). */
  codeOf(accountId: string, serial: string): string;
  /** The serial of the account's active card, or of its pending one. */
  serialOf(accountId: string): string | undefined;
}

const template = (name: string): string => fileURLToPath(new URL(`./${name}.pug`, import.meta.url));

export function createCodeCardFactor(): CodeCardFactor {
  const active = new Map<string, { serial: string; confirmedAt: Date }>();
  const pending = new Map<string, { serial: string; binding: string | undefined }>();
  const codeOf = (accountId: string, serial: string): string => createHash('sha256').update(`${accountId}:${serial}`).digest('hex').slice(0, 8);

  return Object.freeze({
    id: CODE_CARD_ID,
    amr: ['hwk'],
    level: 2,
    label: 'Code card',
    role: 'primary' as const,
    views: { challenge: template('challenge'), enrol: template('enrol') },
    enrol: {
      delivers: false,
      async begin(account: FactorAccount, options: { renew?: boolean; replace?: boolean; binding?: string } = {}) {
        if (active.has(account.id) && !options.replace) return { ok: false as const, code: 'already_enrolled' as const };
        const current = pending.get(account.id);
        if (!current || options.renew || current.binding !== options.binding) {
          pending.set(account.id, { serial: randomBytes(4).toString('hex').toUpperCase(), binding: options.binding });
        }
        return { ok: true as const, status: 'pending' as const, view: { serial: pending.get(account.id)?.serial } };
      },
      async confirm(accountId: string, input: unknown, binding?: string) {
        const card = pending.get(accountId);
        if (!card || card.binding !== binding) return { ok: false as const, code: 'not_enrolled' as const };
        if (input !== codeOf(accountId, card.serial)) return { ok: false as const, code: 'invalid_code' as const };
        pending.delete(accountId);
        const replaced = active.has(accountId);
        active.set(accountId, { serial: card.serial, confirmedAt: new Date() });
        return { ok: true as const, replaced };
      },
    },
    async verify(accountId: string, input: unknown) {
      const card = active.get(accountId);
      if (!card) return { ok: false as const, code: 'not_enrolled' as const };
      if (input !== codeOf(accountId, card.serial)) return { ok: false as const, code: 'invalid_code' as const };
      return { ok: true as const, factorId: CODE_CARD_ID, amr: ['hwk'], level: 2 };
    },
    async isEnrolled(accountId: string) {
      return active.has(accountId);
    },
    async enrolledAt(accountId: string) {
      return active.get(accountId)?.confirmedAt;
    },
    async remove(accountId: string) {
      active.delete(accountId);
      pending.delete(accountId);
    },
    codeOf,
    serialOf(accountId: string) {
      return active.get(accountId)?.serial ?? pending.get(accountId)?.serial;
    },
  });
}
