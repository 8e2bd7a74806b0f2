/**
 * Reading a password without putting it on the command line: all of stdin (`--password-stdin`, for scripts
 * and pipes), or a hidden prompt on a terminal (asked twice). The typed characters are never echoed.
 */
import { CliFailure, type CliIo } from './io.ts';

/** Reads stdin to its end and strips one trailing line break (what `echo` or a here-string adds). */
export async function readPasswordFromStdin(stdin: CliIo['stdin']): Promise<string> {
  const chunks: string[] = [];
  stdin.setEncoding('utf8');
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
  return chunks.join('').replace(/\r?\n$/, '');
}

/**
 * Prompts on stderr for each of `prompts` in turn and reads one hidden line per prompt from a terminal in raw
 * mode (Enter ends a line, Backspace erases, Ctrl-C or Ctrl-D on an empty line aborts).
 */
export async function promptHidden(io: CliIo, prompts: string[]): Promise<string[]> {
  const { stdin, stderr } = io;
  const answers: string[] = [];
  let current = '';
  stderr.write(prompts[0] ?? '');
  stdin.setEncoding('utf8');
  stdin.setRawMode?.(true);
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const finish = (error?: Error): void => {
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        if (error) reject(error);
        else resolve(answers);
      };
      const onEnd = (): void => finish(new CliFailure('No password entered.'));
      const onData = (chunk: string | Buffer): void => {
        for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
          if (ch === '\u0003' || (ch === '\u0004' && current === '')) {
            stderr.write('\n');
            finish(new CliFailure('Aborted.', 130));
            return;
          }
          if (ch === '\r' || ch === '\n') {
            stderr.write('\n');
            answers.push(current);
            current = '';
            if (answers.length === prompts.length) {
              finish();
              return;
            }
            stderr.write(prompts[answers.length] ?? '');
          } else if (ch === '\u007f' || ch === '\b') {
            current = [...current].slice(0, -1).join('');
          } else if (ch >= ' ') {
            current += ch;
          }
        }
      };
      stdin.on('data', onData);
      stdin.on('end', onEnd);
      stdin.resume();
    });
  } finally {
    stdin.setRawMode?.(false);
    stdin.pause();
  }
}

/** A new password from a terminal: asked twice, the two must match. */
export async function promptNewPassword(io: CliIo): Promise<string> {
  const [first, second] = await promptHidden(io, ['Password: ', 'Repeat the password: ']);
  if (first !== second) throw new CliFailure('The passwords do not match.');
  return first ?? '';
}
