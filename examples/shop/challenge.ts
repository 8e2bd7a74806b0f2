/**
 * The client's reading of an API's `WWW-Authenticate: Bearer …` answer (RFC 6750 §3, RFC 9470 §3): what went wrong,
 * and for `insufficient_user_authentication` what to ask the provider for (`acr_values`, `max_age`).
 */
export interface BearerChallenge {
  readonly error: string | undefined;
  readonly errorDescription: string | undefined;
  /** RFC 9470: the acr values to send in the new authorization request. */
  readonly acrValues: string | undefined;
  /** RFC 9470: the `max_age` to send, in seconds. */
  readonly maxAge: number | undefined;
  readonly scope: string | undefined;
}

/** Parses the Bearer challenge of a `WWW-Authenticate` value; `undefined` when there is none. */
export function parseBearerChallenge(header: string | null | undefined): BearerChallenge | undefined {
  const match = /(?:^|,\s*)Bearer(?:\s+(.*))?$/i.exec(header ?? '');
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const param of (match[1] ?? '').matchAll(/([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))/g)) {
    const name = (param[1] as string).toLowerCase();
    if (!(name in params)) params[name] = param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : (param[3] as string);
  }
  const maxAge = params.max_age !== undefined && /^\d+$/.test(params.max_age) ? Number(params.max_age) : undefined;
  return { error: params.error, errorDescription: params.error_description, acrValues: params.acr_values, maxAge, scope: params.scope };
}
