import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Factor } from '../../src/factors/contract.ts';
import mongoose from 'mongoose';
import { createDefaultFactors, createFactorRegistry } from '../../src/factors/registry.ts';
import { createSecretBox, generateKey } from '../../src/factors/shared/secret_box.ts';

/** A factor double whose enrolment is a set of account ids. */
function stubFactor(id: string, level: number, role: Factor['role'], enrolled: Set<string>, removed: string[] = []): Factor {
  return {
    id,
    amr: ['otp'],
    level,
    label: id,
    role,
    views: { challenge: `factors/${id}/challenge` },
    async verify() {
      return { ok: false, code: 'invalid_code' };
    },
    async isEnrolled(accountId: string) {
      return enrolled.has(accountId);
    },
    async remove(accountId: string) {
      removed.push(`${id}:${accountId}`);
      enrolled.delete(accountId);
    },
  };
}

describe('factor registry', () => {
  it('lists primary factors before backups and finds each by id', () => {
    const backup = stubFactor('backup_codes', 3, 'backup', new Set());
    const app = stubFactor('app', 3, 'primary', new Set());
    const mail = stubFactor('mail', 2, 'primary', new Set());
    const registry = createFactorRegistry([backup, app, mail]);
    expect(registry.all.map((factor) => factor.id)).to.deep.equal(['app', 'mail', 'backup_codes']);
    expect(registry.get('mail')).to.equal(mail);
    expect(registry.get('nope')).to.equal(undefined);
    expect(registry.get(undefined as unknown as string)).to.equal(undefined);
  });

  it('offers only enrolled factors that reach the requested level', async () => {
    const registry = createFactorRegistry([
      stubFactor('app', 3, 'primary', new Set(['alice'])),
      stubFactor('mail', 2, 'primary', new Set(['alice', 'bob'])),
      stubFactor('backup_codes', 3, 'backup', new Set(['bob'])),
    ]);
    const ids = async (accountId: string, level: number): Promise<string[]> =>
      (await registry.usableFactors(accountId, level)).map((factor) => factor.id);
    expect(await ids('alice', 2)).to.deep.equal(['app', 'mail']);
    expect(await ids('alice', 3)).to.deep.equal(['app']);
    expect(await ids('bob', 3)).to.deep.equal(['backup_codes']);
    expect(await ids('carol', 2)).to.deep.equal([]);
  });

  it('does not count a backup factor alone as a primary factor', async () => {
    const registry = createFactorRegistry([
      stubFactor('app', 3, 'primary', new Set(['alice'])),
      stubFactor('backup_codes', 3, 'backup', new Set(['alice', 'bob'])),
    ]);
    expect(await registry.hasPrimaryFactor('alice')).to.equal(true);
    expect(await registry.hasPrimaryFactor('bob')).to.equal(false);
  });

  it('lists the factors a user can enrol for a level and role', () => {
    const withEnrol = (factor: Factor): Factor => ({ ...factor, enrol: { delivers: false, begin: async () => ({ ok: true, status: 'active', view: {} }) } });
    const registry = createFactorRegistry([
      withEnrol(stubFactor('app', 3, 'primary', new Set())),
      withEnrol(stubFactor('mail', 2, 'primary', new Set())),
      withEnrol(stubFactor('backup_codes', 3, 'backup', new Set())),
      stubFactor('support_only', 3, 'primary', new Set()),
    ]);
    expect(registry.enrollableFactors(3, 'primary').map((factor) => factor.id)).to.deep.equal(['app']);
    expect(registry.enrollableFactors(2).map((factor) => factor.id)).to.deep.equal(['app', 'mail', 'backup_codes']);
  });

  it('removes every factor of an account', async () => {
    const removed: string[] = [];
    const registry = createFactorRegistry([
      stubFactor('app', 3, 'primary', new Set(['alice']), removed),
      stubFactor('backup_codes', 3, 'backup', new Set(['alice']), removed),
    ]);
    await registry.removeAll('alice');
    expect(removed.sort()).to.deep.equal(['app:alice', 'backup_codes:alice']);
    expect(await registry.usableFactors('alice', 2)).to.deep.equal([]);
  });

  it('refuses a bad list, naming every problem', () => {
    const factors = [
      stubFactor('app', 3, 'primary', new Set()),
      stubFactor('app', 3, 'primary', new Set()),
      stubFactor('Bad-Id', 3, 'primary', new Set()),
      stubFactor('weak', 1, 'primary', new Set()),
      { ...stubFactor('no_amr', 3, 'primary', new Set()), amr: [] },
      { ...stubFactor('claims_mfa', 3, 'primary', new Set()), amr: ['otp', 'mfa'] },
    ];
    expect(() => createFactorRegistry(factors)).to.throw(Error)
      .that.satisfies((err: Error) => ['registered twice', 'Bad-Id', 'level ≥ 2', 'no amr', 'must not declare "mfa"']
        .every((part) => err.message.includes(part)));
  });

  it('keeps factor ids out of callers: no source outside a factor folder and the registry names one', async () => {
    const root = join(import.meta.dirname, '../../src');
    const factorDirs = readdirSync(join(root, 'factors'))
      .filter((name) => name !== 'shared' && statSync(join(root, 'factors', name)).isDirectory());
    const idle = mongoose.createConnection();
    const ids = createDefaultFactors({
      conn: idle,
      secretBox: createSecretBox({ activeKeyId: 'k', keys: { k: generateKey() } }),
      issuer: 'x',
      recoveryPepper: generateKey(),
    }).registry.all.map((factor) => factor.id);
    expect(ids.length).to.be.greaterThan(1);
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) {
          if (dir === join(root, 'factors') && factorDirs.includes(name)) continue;
          walk(path);
        } else if (path.endsWith('.ts') && path !== join(root, 'factors', 'registry.ts')) {
          const text = readFileSync(path, 'utf8');
          for (const id of ids) {
            if (new RegExp(`['"\`]${id}['"\`]`).test(text)) offenders.push(`${relative(root, path)}: ${id}`);
          }
        }
      }
    };
    walk(root);
    await idle.close();
    expect(offenders).to.deep.equal([]);
  });
});
