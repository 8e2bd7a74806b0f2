/**
 * An error that crosses module boundaries. `code` is a stable lower_snake_case identifier,
 * `status` the HTTP status a page or API answers with, `expose` whether `message` may be shown to
 * the user (never a secret or an internal detail); `cause` stays private (logs only).
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;

  constructor(code: string, message: string, options: { status?: number; expose?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = options.status ?? 500;
    this.expose = options.expose ?? this.status < 500;
  }
}

/** True for a MongoDB duplicate-key error (E11000), whichever store answered it. */
export function isDuplicateKeyError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}
