/**
 * The figures of one bench run as saved in `.bench/last.json`, their
 * comparison with the previous run, and the table printed for people.
 *
 * @module
 */
import type { Unit } from "./definitions.ts";
import type { Summary } from "./stats.ts";

/** One measurement's figures, in its unit. */
export interface MeasurementRecord extends Summary {
  /** What one call is. */
  summary: string;
  /** What the figures are. */
  unit: Unit;
}

/** One bench's verdict. */
export interface BenchRecord {
  /** The bench's name. */
  name: string;
  /** The measurement judged. */
  subject: string;
  /** The measurements whose medians add up to the floor. */
  floor: string[];
  /** Highest acceptable subject/floor ratio of medians; null: reported, not judged. */
  goal: number | null;
  /** subject median / floor median (for msg/s: floor rate / subject rate, the same thing). */
  ratio: number;
  /** Whether `ratio <= goal`; null when there is no goal. */
  pass: boolean | null;
}

/** Everything one run measured. */
export interface RunRecord {
  /** Format of this record. */
  version: 2;
  /** When the run finished (ISO 8601). */
  at: string;
  /** Where it ran. */
  machine: { deno: string; os: string; arch: string; cpus: number };
  /** How it ran (calls and warm-up before each measurement's own limit). */
  options: { calls: number; warmup: number; rounds: number; quick: boolean };
  /** Figures per measurement name. */
  measurements: Record<string, MeasurementRecord>;
  /** Verdicts, in definition order. */
  benches: BenchRecord[];
}

/** Each figure of this run divided by the same figure of the previous run (null: not in it). */
export interface Comparison {
  /** When the previous run finished. */
  at: string;
  /** Whether the previous run was a `--quick` one. */
  quick: boolean;
  /** Per measurement: median and p99 ratios. */
  measurements: Record<string, { median: number | null; p99: number | null }>;
  /** Per bench: ratio of ratios. */
  benches: Record<string, number | null>;
}

/**
 * Read a previous record; null when there is none or it is in no format this
 * version knows. A version 1 record (timings only, in `medianMs` and the
 * like) is read as version 2.
 */
export async function readRecord(path: string): Promise<RunRecord | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return null;
  }
  try {
    const value = JSON.parse(text);
    if (!value?.measurements || !Array.isArray(value.benches)) return null;
    if (value.version === 2) return value as RunRecord;
    if (value.version !== 1) return null;
    const measurements: Record<string, MeasurementRecord> = {};
    for (const [name, m] of Object.entries<Record<string, number | string>>(value.measurements)) {
      measurements[name] = {
        summary: String(m.summary),
        unit: "ms",
        calls: Number(m.calls),
        median: Number(m.medianMs),
        p99: Number(m.p99Ms),
        mean: Number(m.meanMs),
        min: Number(m.minMs),
      };
    }
    const benches = (value.benches as Record<string, unknown>[]).map((b): BenchRecord => ({
      name: String(b.name),
      subject: String(b.subject),
      floor: [String(b.floor)],
      goal: Number(b.goal),
      ratio: Number(b.ratio),
      pass: Boolean(b.pass),
    }));
    return { ...value, version: 2, measurements, benches };
  } catch {
    return null;
  }
}

/** Write a record whole or not at all. */
export async function writeRecord(path: string, record: RunRecord): Promise<void> {
  const temp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(temp, JSON.stringify(record, null, 2) + "\n");
  await Deno.rename(temp, path);
}

/** Compare `current` with `previous`, figure by figure. */
export function compare(current: RunRecord, previous: RunRecord): Comparison {
  const measurements: Comparison["measurements"] = {};
  for (const [name, figures] of Object.entries(current.measurements)) {
    const before = previous.measurements[name];
    const sameUnit = before?.unit === figures.unit;
    measurements[name] = {
      median: sameUnit ? quotient(figures.median, before.median) : null,
      p99: sameUnit ? quotient(figures.p99, before.p99) : null,
    };
  }
  const benches: Comparison["benches"] = {};
  for (const bench of current.benches) {
    benches[bench.name] = quotient(
      bench.ratio,
      previous.benches.find((b) => b.name === bench.name)?.ratio,
    );
  }
  return { at: previous.at, quick: previous.options?.quick ?? false, measurements, benches };
}

function quotient(now: number | undefined, before: number | undefined): number | null {
  return typeof now === "number" && typeof before === "number" && before > 0 && now > 0
    ? Number((now / before).toFixed(4))
    : null;
}

const times = (value: number | null | undefined) =>
  value === null || value === undefined ? "-" : `x${value.toFixed(2)}`;

/** A figure in its unit, as a number for the measurement table. */
function figure(value: number, unit: Unit): string {
  return unit === "MiB" ? value.toFixed(2) : value.toFixed(value >= 10 ? 2 : 3);
}

/** A median as people read it: a time, a rate or a size. */
function reading(value: number, unit: Unit): string {
  if (unit === "ms/msg") return `${Math.round(1000 / value).toLocaleString("en-US")} msg/s`;
  if (unit === "B/s") return `${Math.round(value).toLocaleString("en-US")} B/s`;
  return `${figure(value, unit)} ${unit}`;
}

function table(rows: string[][], rightAligned: Set<number>): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) =>
    row.map((cell, column) =>
      rightAligned.has(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column])
    ).join("  ").trimEnd()
  ).join("\n");
}

/** The report printed for people. */
export function formatReport(record: RunRecord, comparison: Comparison | null): string {
  const { machine, options } = record;
  const lines = [
    `roam bench: deno ${machine.deno}, ${machine.os} ${machine.arch}, ${machine.cpus} CPUs; ` +
    `${options.calls} sequential calls per measurement (fewer where a call is slow: see n) ` +
    `in ${options.rounds} alternating rounds after ${options.warmup} warm-up calls` +
    (options.quick ? " (quick)" : ""),
    comparison
      ? `previous run: ${comparison.at}${comparison.quick ? " (quick)" : ""}; ` +
        "xN = this run / previous run"
      : "previous run: none (.bench/last.json not found)",
    "",
  ];
  const measurementRows = [[
    "measurement",
    "n",
    "median",
    "p99",
    "mean",
    "unit",
    "vs prev median",
    "vs prev p99",
    "call",
  ]];
  for (const [name, m] of Object.entries(record.measurements)) {
    const before = comparison?.measurements[name];
    measurementRows.push([
      name,
      String(m.calls),
      figure(m.median, m.unit),
      figure(m.p99, m.unit),
      figure(m.mean, m.unit),
      m.unit,
      times(before?.median),
      times(before?.p99),
      m.summary,
    ]);
  }
  lines.push(table(measurementRows, new Set([1, 2, 3, 4, 6, 7])), "");
  const benchRows = [[
    "bench",
    "subject",
    "floor",
    "subject median",
    "floor median",
    "ratio",
    "goal",
    "result",
    "vs prev",
  ]];
  for (const bench of record.benches) {
    const subject = record.measurements[bench.subject];
    const floor = bench.floor.reduce((sum, name) => sum + record.measurements[name].median, 0);
    benchRows.push([
      bench.name,
      bench.subject,
      bench.floor.join(" + "),
      reading(subject.median, subject.unit),
      reading(floor, subject.unit),
      bench.ratio.toFixed(2),
      bench.goal === null ? "none" : `<= ${bench.goal}`,
      bench.pass === null ? "-" : bench.pass ? "PASS" : "FAIL",
      times(comparison?.benches[bench.name]),
    ]);
  }
  lines.push(
    table(benchRows, new Set([3, 4, 5, 8])),
    "",
    "ratio = subject median / floor median: how many times the floor's time or memory the " +
      "subject takes (lower is better).",
    "For msg/s rows, ratio = floor msg/s / subject msg/s: how many times slower the subject " +
      "handles messages.",
  );
  return lines.join("\n");
}
