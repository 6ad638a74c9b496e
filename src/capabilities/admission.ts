/**
 * Admission by resources, as a pure function: given what the machine has,
 * what each resident instance holds or has reserved, and what a job needs,
 * say whether the job may start now (on which instance or GPU), must wait
 * for idle instances to be evicted, must wait (and why), or can never run
 * here.
 *
 * The ledger, per memory pool (RAM, and each GPU's VRAM):
 * - roam's own use is what its instances were last measured to use;
 * - use outside roam is the pool's measured use minus roam's own;
 * - the budget is the pool's total minus a reserve minus use outside roam;
 * - each instance commits its current use when idle, and the larger of its
 *   current use and its peak (learned, else declared) while it runs calls
 *   or starts;
 * - a job fits when the pool's budget minus every commitment covers what
 *   the job adds: the whole peak for a new instance, the growth from current
 *   use to peak for an idle one it reuses, nothing for a busy one with a free
 *   slot.
 * Evicted instances still count until they have stopped, so the sum of
 * commitments never exceeds a budget because of an eviction in flight.
 *
 * @module
 */

/** A memory pool: the machine's RAM, or one GPU's memory. */
export interface Pool {
  /** `ram`, or `gpu<index>`. */
  key: string;
  /** Words for reasons: `RAM` or `VRAM on GPU 0`. */
  label: string;
  /** Its size, MB; 0 means unknown (no admission on it). */
  totalMb: number;
  /** In use by everything now, MB. */
  usedMb: number;
  /** Held back from roam's budget, MB. */
  reserveMb: number;
}

/** A running (or starting) instance as admission sees it. */
export interface Resident {
  /** Instance id (a placeholder id while it starts). */
  id: string;
  /** For reasons: `echo-py#3f2a`. */
  label: string;
  /** Capability name. */
  capability: string;
  /** Its config's key. */
  configKey: string;
  /** The GPU pool it was placed on, or null without a GPU. */
  gpu: string | null;
  /** Calls running or admitted to it. */
  active: number;
  /** Calls it takes at once. */
  concurrency: number;
  /** When it last finished a call (ms since epoch), for least-recently-used eviction. */
  lastUsedAt: number;
  /** Measured use now, MB. */
  ramMb: number;
  /** Measured GPU use now, MB. */
  vramMb: number;
  /** Its peak (learned or declared), MB. */
  peakRamMb: number;
  /** Its GPU peak (learned or declared), MB. */
  peakVramMb: number;
  /** Still starting (not yet an instance). */
  starting: boolean;
  /** Being stopped to make room. */
  evicting: boolean;
}

/** What a job needs. */
export interface Need {
  /** Capability name. */
  capability: string;
  /** Its config's key. */
  configKey: string;
  /** RAM peak (learned, else declared), MB. */
  ramMb: number;
  /** VRAM peak (learned, else declared), MB. */
  vramMb: number;
  /** Needs a GPU (declared, or a measured VRAM peak above 0). */
  gpu: boolean;
  /** Calls one instance takes at once. */
  concurrency: number;
  /** Most instances of one (capability, config) at once. */
  maxInstances: number;
}

/** What admission decided for one job. */
export type Decision =
  | {
    kind: "admit";
    /** The instance to reuse, or null for a new one. */
    reuse: string | null;
    /** For a new instance: the GPU pool to place it on, or null. */
    gpu: string | null;
    /** What the job adds per pool key, MB. */
    adds: Record<string, number>;
  }
  | { kind: "evict"; victims: string[]; pools: string[]; reason: string }
  | { kind: "wait"; pools: string[]; reason: string }
  | { kind: "never"; reason: string };

/** Everything admission looks at. */
export interface AdmissionView {
  /** RAM first, then each GPU. */
  pools: Pool[];
  /** Every instance roam runs or is starting. */
  residents: Resident[];
}

/** What a resident commits in a pool now, MB. */
export function commitment(r: Resident, pool: string): number {
  const held = pool === "ram" ? r.ramMb : r.gpu === pool ? r.vramMb : 0;
  const peak = pool === "ram" ? r.peakRamMb : r.gpu === pool ? r.peakVramMb : 0;
  return r.active > 0 || r.starting ? Math.max(held, peak) : held;
}

/** A pool's budget and commitments now: what roam may use of it and what it has promised. */
export function ledger(view: AdmissionView, pool: Pool) {
  const mine = view.residents.filter((r) => pool.key === "ram" || r.gpu === pool.key);
  const ownUse = mine.reduce((sum, r) => sum + (pool.key === "ram" ? r.ramMb : r.vramMb), 0);
  const outside = Math.max(0, pool.usedMb - ownUse);
  const budget = pool.totalMb - pool.reserveMb - outside;
  const committed = mine.reduce((sum, r) => sum + commitment(r, pool.key), 0);
  return { budget, committed, outside, free: budget - committed };
}

/**
 * Decide for one job. Does not change `view`; call {@linkcode applyAdmission}
 * after admitting so the next decision in the same pass sees it.
 */
export function decide(need: Need, view: AdmissionView): Decision {
  const ram = view.pools.find((p) => p.key === "ram");
  const gpus = view.pools.filter((p) => p.key !== "ram");
  const ramKnown = ram !== undefined && ram.totalMb > 0;
  if (need.gpu && gpus.length === 0) {
    return {
      kind: "never",
      reason:
        `${need.capability} needs a GPU and this host has none (nvidia-smi found no GPU); run it on a host with one (job.submit 'to')`,
    };
  }
  if (ramKnown && need.ramMb > ram.totalMb - ram.reserveMb) {
    return {
      kind: "never",
      reason: `${need.capability} needs ${need.ramMb} MB RAM and this host has ${
        ram.totalMb - ram.reserveMb
      } MB for capabilities`,
    };
  }
  if (need.gpu && gpus.every((g) => need.vramMb > g.totalMb - g.reserveMb)) {
    const largest = Math.max(...gpus.map((g) => g.totalMb - g.reserveMb));
    return {
      kind: "never",
      reason:
        `${need.capability} needs ${need.vramMb} MB VRAM and the largest GPU here offers ${largest} MB`,
    };
  }

  const same = view.residents.filter((r) =>
    r.capability === need.capability && r.configKey === need.configKey && !r.evicting
  );
  // A busy instance with a free slot adds nothing; an idle one grows to its peak.
  const withSlot = same.filter((r) => r.active < r.concurrency)
    .sort((a, b) => b.active - a.active || b.lastUsedAt - a.lastUsedAt);
  const reusable = withSlot[0];
  if (reusable) {
    const adds: Record<string, number> = {};
    if (ramKnown) adds.ram = growth(reusable, "ram", need.ramMb);
    if (reusable.gpu) adds[reusable.gpu] = growth(reusable, reusable.gpu, need.vramMb);
    const short = shortfalls(view, adds);
    if (short.length === 0) {
      return { kind: "admit", reuse: reusable.id, gpu: reusable.gpu, adds };
    }
    return blocked(view, short, new Set([reusable.id]));
  }
  if (same.length >= need.maxInstances) {
    const busy = same.map((r) => `${r.label} runs ${r.active} of ${r.concurrency} calls`);
    return {
      kind: "wait",
      pools: [],
      reason: `waiting for a free call slot: ${
        busy.join(", ")
      } (at most ${need.maxInstances} instance${
        need.maxInstances === 1 ? "" : "s"
      } of ${need.capability} per config)`,
    };
  }

  // A new instance: on the GPU with the most room (after evictions, if need be).
  const candidates = need.gpu
    ? gpus.filter((g) => need.vramMb <= g.totalMb - g.reserveMb)
      .sort((a, b) => ledger(view, b).free - ledger(view, a).free)
    : [null];
  let firstBlock: Decision | undefined;
  for (const gpu of candidates) {
    const adds: Record<string, number> = {};
    if (ramKnown) adds.ram = need.ramMb;
    if (gpu) adds[gpu.key] = need.vramMb;
    const short = shortfalls(view, adds);
    if (short.length === 0) return { kind: "admit", reuse: null, gpu: gpu?.key ?? null, adds };
    const outcome = blocked(view, short, new Set());
    if (outcome.kind === "evict") return outcome;
    firstBlock ??= outcome;
  }
  return firstBlock!;
}

/** Record an admission in `view`, so that later decisions in the same pass see it. */
export function applyAdmission(
  view: AdmissionView,
  need: Need,
  decision: Extract<Decision, { kind: "admit" }>,
  placeholder: Omit<Resident, "gpu" | "starting" | "evicting" | "active">,
): Resident {
  if (decision.reuse) {
    const r = view.residents.find((x) => x.id === decision.reuse)!;
    r.active++;
    return r;
  }
  const r: Resident = {
    ...placeholder,
    gpu: decision.gpu,
    active: 1,
    starting: true,
    evicting: false,
    peakRamMb: need.ramMb,
    peakVramMb: decision.gpu ? need.vramMb : 0,
  };
  view.residents.push(r);
  return r;
}

function growth(r: Resident, pool: string, needMb: number): number {
  const peak = Math.max(needMb, pool === "ram" ? r.peakRamMb : r.peakVramMb);
  const held = pool === "ram" ? r.ramMb : r.vramMb;
  return r.active > 0 || r.starting ? 0 : Math.max(0, peak - held);
}

interface Shortfall {
  pool: Pool;
  needMb: number;
  freeMb: number;
}

function shortfalls(view: AdmissionView, adds: Record<string, number>): Shortfall[] {
  const short: Shortfall[] = [];
  for (const [key, needMb] of Object.entries(adds)) {
    const pool = view.pools.find((p) => p.key === key);
    if (!pool || pool.totalMb <= 0 || needMb <= 0) continue;
    const { free } = ledger(view, pool);
    if (needMb > free) short.push({ pool, needMb, freeMb: free });
  }
  return short;
}

/** The job does not fit: evict idle instances (least recently used first) when that makes room, else wait. */
function blocked(view: AdmissionView, short: Shortfall[], keep: Set<string>): Decision {
  const victims = new Set<string>();
  let enough = true;
  for (const s of short) {
    let missing = s.needMb - s.freeMb;
    const idle = view.residents
      .filter((r) =>
        r.active === 0 && !r.starting && !r.evicting && !keep.has(r.id) &&
        (s.pool.key === "ram" || r.gpu === s.pool.key)
      )
      .sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    for (const r of idle) {
      if (missing <= 0) break;
      const frees = commitment(r, s.pool.key);
      if (frees <= 0) continue;
      victims.add(r.id);
      missing -= frees;
    }
    if (missing > 0) enough = false;
  }
  const pools = short.map((s) => s.pool.key);
  const reason = describe(view, short, enough ? victims : new Set());
  if (enough && victims.size > 0) return { kind: "evict", victims: [...victims], pools, reason };
  return { kind: "wait", pools, reason };
}

function describe(view: AdmissionView, short: Shortfall[], victims: Set<string>): string {
  return short.map((s) => {
    const { outside } = ledger(view, s.pool);
    const holders = view.residents
      .map((r) => ({ r, mb: commitment(r, s.pool.key) }))
      .filter((h) => h.mb > 0)
      .sort((a, b) => b.mb - a.mb)
      .slice(0, 4)
      .map(({ r, mb }) => {
        const state = r.evicting
          ? "stopping to make room"
          : r.starting
          ? "starting"
          : r.active > 0
          ? `running ${r.active} call${r.active === 1 ? "" : "s"}`
          : victims.has(r.id)
          ? "idle, will be evicted"
          : "idle";
        return `${mb} held by ${r.label} (${state})`;
      });
    if (outside > 0) holders.push(`${outside} held outside roam`);
    if (s.pool.reserveMb > 0) holders.push(`${s.pool.reserveMb} kept in reserve`);
    return `waiting for ${s.needMb} MB ${s.pool.label}: ${Math.max(0, s.freeMb)} MB free${
      holders.length ? `, ${holders.join(", ")}` : ""
    }`;
  }).join("; ");
}
