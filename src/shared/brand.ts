/**
 * The shop's brand on every page and mail (`BRAND_NAME`, `BRAND_LOGO_URL`, `BRAND_PRIMARY_COLOR`): the name in the
 * header and the titles, the logo, and the primary colour of buttons and links — served as a generated stylesheet, so
 * the CSP keeps styles to the provider's own origin and per-response nonces (no inline style attributes).
 *
 * The colour carries white button text and sits as link text on white: WCAG 2.x AA asks 4.5:1 for normal text
 * (SC 1.4.3), so a colour below it is refused at start-up ({@link colourProblem}).
 */

/** The brand: its name always; a logo and a primary colour when the operators set them. */
export interface Brand {
  readonly name: string;
  /** An absolute http(s) URL of the logo image. */
  readonly logoUrl?: string | undefined;
  /** The logo as a file the provider serves itself (`logoUrl` then points at {@link brandLogoPath}). */
  readonly logoFile?: string | undefined;
  /** `#rrggbb`. */
  readonly primaryColor?: string | undefined;
}

/** A logo file name in `DATA_DIR`: no path, an image extension. */
export const LOGO_FILE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}\.(png|svg|jpe?g|webp|gif)$/i;

/** The content types of the logo files. */
export const LOGO_TYPES: Readonly<Record<string, string>> = Object.freeze({
  png: 'image/png', svg: 'image/svg+xml', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif',
});

/** Where the provider serves a logo file: `/assets/brand-logo.<ext>`. */
export function brandLogoPath(fileName: string): string {
  return `/assets/brand-logo.${(fileName.split('.').pop() ?? '').toLowerCase()}`;
}

/** WCAG 2.x AA contrast for normal text. */
export const MIN_CONTRAST = 4.5;

const HEX = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;

/** `#abc` → `#aabbcc`, lower case; `undefined` for anything that is not a hex colour. */
export function normaliseColour(value: string): string | undefined {
  const trimmed = value.trim();
  if (!HEX.test(trimmed)) return undefined;
  const hex = trimmed.slice(1).toLowerCase();
  return `#${hex.length === 3 ? [...hex].map((digit) => digit + digit).join('') : hex}`;
}

function channels(hex: string): [number, number, number] {
  return [1, 3, 5].map((start) => Number.parseInt(hex.slice(start, start + 2), 16)) as [number, number, number];
}

/** WCAG 2.x relative luminance of `#rrggbb`. */
export function luminance(hex: string): number {
  const [r, g, b] = channels(hex).map((value) => {
    const channel = value / 255;
    return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2.x contrast ratio of two `#rrggbb` colours (1 to 21). */
export function contrastRatio(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

/** Why `colour` cannot be the primary colour, or `undefined` when it can. */
export function colourProblem(colour: string): string | undefined {
  const hex = normaliseColour(colour);
  if (!hex) return 'must be a hex colour (#0b5cad or #06c)';
  const ratio = contrastRatio(hex, '#ffffff');
  if (ratio < MIN_CONTRAST) {
    return `${hex} has a contrast of ${ratio.toFixed(2)}:1 with white button text and a white page; WCAG AA needs at least ${MIN_CONTRAST}:1 — choose a darker colour`;
  }
  return undefined;
}

/** `hex` darkened by `amount` (0-1): the hover shade of buttons. */
function darken(hex: string, amount: number): string {
  return `#${channels(hex).map((value) => Math.round(value * (1 - amount)).toString(16).padStart(2, '0')).join('')}`;
}

/** The generated stylesheet: the brand's colour as the pages' accent (empty without one). */
export function brandStylesheet(brand: Brand | undefined): string {
  const hex = brand?.primaryColor ? normaliseColour(brand.primaryColor) : undefined;
  if (!hex) return '';
  return `:root{--accent:${hex};--accent-dark:${darken(hex, 0.18)}}\n`;
}
