/** What the example shop sells: licence keys, priced in euro cents. */
export interface Product {
  readonly sku: string;
  readonly name: string;
  readonly description: string;
  readonly priceCents: number;
}

export const CATALOGUE: readonly Product[] = Object.freeze([
  { sku: 'office-suite-2026', name: 'Office Suite 2026', description: 'Licence key for one PC, lifetime', priceCents: 14_900 },
  { sku: 'antivirus-pro-1y', name: 'Antivirus Pro', description: 'Licence key for 3 devices, 1 year', priceCents: 3_990 },
  { sku: 'os-pro', name: 'Operating System Pro', description: 'Licence key for one PC, upgrade from Home', priceCents: 19_900 },
  { sku: 'vpn-2y', name: 'Private VPN', description: 'Licence key for 5 devices, 2 years', priceCents: 5_900 },
]);

export function productOf(sku: unknown): Product | undefined {
  return typeof sku === 'string' ? CATALOGUE.find((product) => product.sku === sku) : undefined;
}

/** One line of a cart or an order. */
export interface Line {
  readonly sku: string;
  readonly name: string;
  readonly quantity: number;
  readonly priceCents: number;
}

/** The lines of a cart (sku → quantity), unknown products left out. */
export function linesOf(cart: Readonly<Record<string, number>>): Line[] {
  return Object.entries(cart).flatMap(([sku, quantity]) => {
    const product = productOf(sku);
    return product && quantity > 0 ? [{ sku, name: product.name, quantity, priceCents: product.priceCents }] : [];
  });
}

export function totalOf(lines: readonly Line[]): number {
  return lines.reduce((sum, line) => sum + line.quantity * line.priceCents, 0);
}

export function formatPrice(cents: number): string {
  return `€${(cents / 100).toFixed(2)}`;
}
