/**
 * Plain-text tables with aligned columns.
 * @module
 */

/** A column: its title and which side its cells line up on. */
export interface Column {
  readonly title: string;
  readonly align: 'left' | 'right';
}

/** The table as lines: header, a rule, then one line per row (cells padded to the widest). */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? '';
        return c.align === 'left' ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}
