/** Where a command writes; tests pass their own. */
export interface Output {
  /** Write a line to standard output. */
  out(line: string): void;
  /** Write a line to standard error. */
  err(line: string): void;
}

/** Standard output and standard error. */
export const stdio: Output = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/** A column of {@linkcode formatTable}. */
export interface Column<T> {
  /** Heading, in capitals by convention. */
  header: string;
  /** The cell text for a row. */
  value: (row: T) => string;
  /** Cut cells longer than this, with an ellipsis. */
  max?: number;
}

/** Rows as an aligned text table with a header line. */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) =>
    columns.map((c) => {
      const text = c.value(row).replace(/\s+/g, " ");
      return c.max && text.length > c.max ? text.slice(0, c.max - 1) + "…" : text;
    })
  );
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)));
  const line = (parts: string[]) =>
    parts.map((p, i) => i === parts.length - 1 ? p : p.padEnd(widths[i])).join("  ");
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join("\n");
}

/** Key-value pairs as aligned `key  value` lines. */
export function formatPairs(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

/** A duration in ms as `3d 4h`, `5m 2s` or `850ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  const units: [string, number][] = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const parts: string[] = [];
  let rest = s;
  for (const [name, size] of units) {
    if (rest >= size || (parts.length && parts.length < 2)) {
      parts.push(`${Math.floor(rest / size)}${name}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}
