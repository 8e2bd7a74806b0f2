/**
 * Masks an address for pages and log lines: the first character of the local part, three dots, the domain
 * (`max@example.com` → `m•••@example.com`). Enough for a customer to recognise their own address, not enough to
 * harvest it from a screenshot or a log. Anything that is not `local@domain` becomes `•••`.
 */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) return '•••';
  // Array.from: the first *code point*, so an address starting with a non-BMP character is not cut in half
  const first = Array.from(email.slice(0, at))[0] ?? '';
  return `${first}•••${email.slice(at)}`;
}
