/** What the CLI tests share: a fake terminal, and the check that a refusal is a message, not a stack trace. */
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import type { CliIo } from '../../src/cli/run.ts';

/** A terminal on which the operator types `typed` once the program reads. */
export function terminal(typed: string): CliIo['stdin'] {
  const stream = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => undefined });
  setImmediate(() => stream.write(typed));
  return stream;
}

/** The run's error output is a message for the operator: no stack trace, no "Unexpected error". */
export function noStackTrace(run: { readonly stderr: string }): void {
  expect(run.stderr).to.not.match(/\n\s+at /);
  expect(run.stderr).to.not.include('Unexpected error');
}
