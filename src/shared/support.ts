/**
 * How customers reach support (the operators' `SUPPORT_URL` / `SUPPORT_EMAIL`): shown as a link or an address on the
 * pages where a customer may be stuck — a locked second factor, a blocked sign-in, a lost phone, an error — never as
 * "contact customer support" in plain text when the deployment says where support is.
 */

/** Either, both or neither. */
export interface SupportContact {
  /** An http(s) page of the shop's help. */
  readonly url?: string | undefined;
  /** An address customers may write to. */
  readonly email?: string | undefined;
}

/** The `support` local of a page: set only when the deployment names a way to reach support. */
export function supportLocals(contact: SupportContact | undefined): { url?: string; email?: string } | undefined {
  if (!contact?.url && !contact?.email) return undefined;
  return { ...(contact.url ? { url: contact.url } : {}), ...(contact.email ? { email: contact.email } : {}) };
}
