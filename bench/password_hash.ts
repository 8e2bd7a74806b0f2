/**
 * Cost of one password check: Argon2id at the default parameters (OWASP: m=19 MiB, t=2, p=1) against the scrypt
 * setting of earlier releases (N=2^15, r=8, p=1) and OWASP's scrypt minimum (N=2^17, r=8, p=1), measured in the
 * same run, alternating, one hash at a time. Prints wall time and process CPU time per hash (median, min … max).
 * Run: `npm run bench:passwords` (about half a minute). Option: `--rounds N` (default 25).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_PASSWORD_PARAMS, passwordInternals, type PasswordParams } from '../src/accounts/passwords.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '25' } } });
const ROUNDS = Number(values.rounds);

const SETTINGS: ReadonlyArray<{ name: string; params: PasswordParams }> = [
  { name: 'Argon2id m=19 MiB, t=2, p=1 (default)', params: DEFAULT_PASSWORD_PARAMS },
  { name: 'scrypt N=2^15, r=8, p=1 (earlier releases)', params: { N: 2 ** 15, r: 8, p: 1, keyLength: 32 } },
  { name: 'scrypt N=2^17, r=8, p=1 (OWASP minimum)', params: { N: 2 ** 17, r: 8, p: 1, keyLength: 32 } },
];

interface Stats { median: number; min: number; max: number }

function stats(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}

const fmt = ({ median, min, max }: Stats): string => `${median.toFixed(1)} ms (${min.toFixed(1)} … ${max.toFixed(1)})`;

async function main(): Promise<void> {
  const salt = Buffer.alloc(16, 7);
  const wall = SETTINGS.map(() => [] as number[]);
  const cpu = SETTINGS.map(() => [] as number[]);
  // One warm-up hash each, then rounds that alternate the settings so machine noise hits all alike.
  for (const { params } of SETTINGS) await passwordInternals.derive('warm-up password', salt, params);
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [i, { params }] of SETTINGS.entries()) {
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      await passwordInternals.derive(`password ${round}`, salt, params);
      wall[i]?.push(performance.now() - start);
      const used = process.cpuUsage(cpuStart);
      cpu[i]?.push((used.user + used.system) / 1000);
    }
  }
  console.log(`rounds: ${ROUNDS}, node ${process.version}, one hash at a time`);
  for (const [i, { name }] of SETTINGS.entries()) {
    console.log(`${name.padEnd(44)} wall ${fmt(stats(wall[i] ?? []))}, CPU ${fmt(stats(cpu[i] ?? []))}`);
  }
  const argon = stats(cpu[0] ?? []).median;
  console.log(`CPU per check, Argon2id ÷ scrypt N=2^15: ${(argon / stats(cpu[1] ?? []).median).toFixed(2)}; ÷ scrypt N=2^17: ${(argon / stats(cpu[2] ?? []).median).toFixed(2)}`);
}

await main();
