/** The bytes a `Range` header asks for, both ends inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Read a `Range: bytes=...` header against a blob of `size` bytes: one range
 * (`a-b`, `a-` or `-n`); `null` when there is no header or it is not one
 * this server serves as a range (several ranges, another unit: the whole
 * blob is sent); `"unsatisfiable"` when it starts past the end.
 */
export function parseRange(
  header: string | null,
  size: number,
): ByteRange | null | "unsatisfiable" {
  if (header === null) return null;
  const match = header.trim().match(/^bytes=(\d*)-(\d*)$/);
  if (!match) return null;
  const [, first, last] = match;
  if (first === "" && last === "") return null;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== "" && Number(last) < start) return null;
  if (start >= size) return "unsatisfiable";
  return { start, end };
}
