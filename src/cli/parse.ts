/** node:util parseArgs with the project's conventions: strict, usage errors as `UsageError`, `--help` anywhere. */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from './io.ts';

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  help: boolean;
}

/**
 * Parses `args` against `options`; exactly `positionalNames.length` positionals are expected.
 * Every problem is a `UsageError` whose message names the command.
 */
export function parseCommandArgs(
  command: string,
  usage: string,
  args: string[],
  options: ParseArgsOptionsConfig,
  positionalNames: string[] = [],
): Parsed {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UsageError(`${command}: ${message}`, usage);
  }
  const values = parsed.values as Parsed['values'];
  if (values.help === true) return { values, positionals: parsed.positionals, help: true };
  const { positionals } = parsed;
  if (positionals.length < positionalNames.length) {
    const missing = positionalNames.slice(positionals.length).map((name) => name.toUpperCase());
    throw new UsageError(`${command}: missing ${missing.join(' and ')}`, usage);
  }
  if (positionals.length > positionalNames.length) {
    throw new UsageError(`${command}: unexpected argument "${positionals[positionalNames.length]}"`, usage);
  }
  return { values, positionals, help: false };
}

/** A required string option, non-empty after trimming. */
export function requireString(command: string, usage: string, values: Parsed['values'], name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`${command}: --${name} is required`, usage);
  return value;
}

export function optionalString(values: Parsed['values'], name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function stringList(values: Parsed['values'], name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
}
