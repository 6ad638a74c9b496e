/**
 * The figures of one bench run as saved in `.bench/last.json`, their
 * comparison with the previous run, and the table printed for people.
 *
 * @module
 */
import type { Summary } from "./stats.ts";

/** One measurement's figures. */
export interface MeasurementRecord extends Summary {
  /** What one call is. */
  summary: string;
}

/** One bench's verdict. */
export interface BenchRecord {
  /** The bench's name. */
  name: string;
  /** The measurement judged. */
  subject: string;
  /** The floor it is judged against. */
  floor: string;
  /** Highest acceptable subject/floor ratio of medians. */
  goal: number;
  /** subject median / floor median. */
  ratio: number;
  /** Whether `ratio <= goal`. */
  pass: boolean;
}

/** Everything one run measured. */
export interface RunRecord {
  /** Format of this record. */
  version: 1;
  /** When the run finished (ISO 8601). */
  at: string;
  /** Where it ran. */
  machine: { deno: string; os: string; arch: string; cpus: number };
  /** How it ran. */
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
  measurements: Record<string, { medianMs: number | null; p99Ms: number | null }>;
  /** Per bench: ratio of ratios. */
  benches: Record<string, number | null>;
}

/** Read a previous record; null when there is none or it is not one this version wrote. */
export async function readRecord(path: string): Promise<RunRecord | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return null;
  }
  try {
    const value = JSON.parse(text);
    return value?.version === 1 && value.measurements && Array.isArray(value.benches)
      ? value as RunRecord
      : null;
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
    measurements[name] = {
      medianMs: quotient(figures.medianMs, before?.medianMs),
      p99Ms: quotient(figures.p99Ms, before?.p99Ms),
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

const ms = (value: number) => value.toFixed(3);
const times = (value: number | null | undefined) =>
  value === null || value === undefined ? "-" : `x${value.toFixed(2)}`;

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
    `${options.calls} sequential calls per measurement in ${options.rounds} alternating rounds ` +
    `after ${options.warmup} warm-up calls${options.quick ? " (quick)" : ""}`,
    comparison
      ? `previous run: ${comparison.at}${comparison.quick ? " (quick)" : ""}; ` +
        "xN = this run / previous run"
      : "previous run: none (.bench/last.json not found)",
    "",
  ];
  const measurementRows = [[
    "measurement",
    "median ms",
    "p99 ms",
    "mean ms",
    "vs prev median",
    "vs prev p99",
    "call",
  ]];
  for (const [name, figures] of Object.entries(record.measurements)) {
    const before = comparison?.measurements[name];
    measurementRows.push([
      name,
      ms(figures.medianMs),
      ms(figures.p99Ms),
      ms(figures.meanMs),
      times(before?.medianMs),
      times(before?.p99Ms),
      figures.summary,
    ]);
  }
  lines.push(table(measurementRows, new Set([1, 2, 3, 4, 5])), "");
  const benchRows = [["bench", "subject / floor", "ratio", "goal", "result", "vs prev"]];
  for (const bench of record.benches) {
    benchRows.push([
      bench.name,
      `${bench.subject} / ${bench.floor}`,
      bench.ratio.toFixed(2),
      `<= ${bench.goal}`,
      bench.pass ? "PASS" : "FAIL",
      times(comparison?.benches[bench.name]),
    ]);
  }
  lines.push(table(benchRows, new Set([2, 5])));
  return lines.join("\n");
}
