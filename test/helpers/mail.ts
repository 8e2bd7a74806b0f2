/** Reading the codes the test server mailed (its dev outbox, newest first). */
import type { TestServer } from './server.ts';

/** The 6-digit code of the newest mail to `address`; throws when there is none. */
export function lastCodeMailedTo(server: Pick<TestServer, 'mailer'>, address: string): string {
  const mail = [...(server.mailer?.outbox() ?? [])].find((entry) => entry.to.includes(address));
  const code = /\b(\d{6})\b/.exec(mail?.text ?? '')?.[1];
  if (!code) throw new Error(`no code mailed to ${address}`);
  return code;
}
