/** Plain-text tables for list output: a header row and left-aligned, space-padded columns. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** JSON for `--json` output: two-space indented. */
export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
