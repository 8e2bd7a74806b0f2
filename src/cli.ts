/** Entry point of `npm run cli`: the one place that reads the process's arguments, streams and environment. */
import { runCli } from './cli/run.ts';

async function main(): Promise<void> {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
  });
}

await main();
