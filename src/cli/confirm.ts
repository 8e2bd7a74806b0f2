/**
 * Asking an operator to confirm a destructive command on a terminal. The answer is read as one ordinary line (the
 * terminal echoes it and handles editing); only "y" or "yes" confirms. Scripts pass `--yes` instead: a command that
 * would ask must refuse to run when stdin is not a terminal (checked by the command before anything is touched).
 */
import { CliFailure, type CliIo } from './io.ts';

/** Writes `question` to stderr and reads one line from stdin; true for "y" or "yes" (any case). Ctrl-D aborts (130). */
export async function confirm(io: CliIo, question: string): Promise<boolean> {
  const { stdin, stderr } = io;
  stderr.write(question);
  stdin.setEncoding('utf8');
  let line = '';
  try {
    const answer = await new Promise<string>((resolve, reject) => {
      const finish = (error?: Error): void => {
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        if (error) reject(error);
        else resolve(line);
      };
      const onEnd = (): void => {
        stderr.write('\n');
        finish(new CliFailure('Aborted: nothing was changed.', 130));
      };
      const onData = (chunk: string | Buffer): void => {
        const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
        const end = text.search(/[\r\n]/);
        line += end === -1 ? text : text.slice(0, end);
        if (end !== -1) finish();
      };
      stdin.on('data', onData);
      stdin.on('end', onEnd);
      stdin.resume();
    });
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    stdin.pause();
  }
}
