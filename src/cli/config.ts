/**
 * The server's configuration for commands that act like the server does (support actions: the factor secrets, mail,
 * the provider's cookie keys, the audit retention). Run them with the server's environment.
 */
import { ConfigError, loadConfig, type Config } from '../config/index.ts';
import { CliFailure, type CliIo } from './io.ts';

/** `loadConfig(env)`, a broken configuration turned into one message listing every problem (exit 1). */
export function readCliConfig(env: CliIo['env']): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new CliFailure(
      `The configuration has ${err.problems.length} problem(s):\n${err.problems.map((problem) => `  - ${problem}`).join('\n')}\n`
        + 'Run this command with the same environment as the server (see config/example.env).',
    );
  }
}
