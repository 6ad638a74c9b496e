import type { DatabaseSync } from "node:sqlite";
import { processStart } from "../client/mod.ts";

/**
 * The worker process groups this host started, kept in SQLite so that a host
 * that restarts after a crash can make sure none of them is left: the
 * watchdog normally kills them when the host dies, and this sweep catches
 * what it could not (a watchdog killed with the host's whole session, say).
 * A row is matched to a live process by pid and start time, never by pid
 * alone, so a reused pid is never signalled.
 */
export class ProcessRegistry {
  readonly #db: DatabaseSync;

  /** A registry in `db` (table `capability_processes`). */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Record a worker group that just started. */
  add(pid: number, capability: string, instanceId: string): void {
    this.#db.prepare(
      "INSERT OR REPLACE INTO capability_processes (pid, started, capability, instance_id, created_at) VALUES (?, ?, ?, ?, ?)",
    ).run(pid, processStart(pid) ?? "", capability, instanceId, Date.now());
  }

  /** Forget a worker group that has ended. */
  remove(pid: number): void {
    this.#db.prepare("DELETE FROM capability_processes WHERE pid = ?").run(pid);
  }

  /** Kill every recorded group that is still the same process, then forget them all. */
  sweep(): { killed: number[] } {
    const rows = this.#db.prepare("SELECT pid, started FROM capability_processes").all() as {
      pid: number;
      started: string;
    }[];
    const killed: number[] = [];
    for (const row of rows) {
      if (row.started && processStart(row.pid) === row.started) {
        for (const target of [-row.pid, row.pid]) {
          try {
            // The group first; the process alone if it never became a group leader.
            Deno.kill(target, "SIGKILL");
            killed.push(row.pid);
            break;
          } catch {
            // no such group (or process)
          }
        }
      }
    }
    this.#db.prepare("DELETE FROM capability_processes").run();
    return { killed };
  }
}
