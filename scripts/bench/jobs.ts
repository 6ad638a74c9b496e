/**
 * The job queue's bench: queue overhead per job, a no-op call submitted
 * and run to its end through the queue (priorities, admission, journal in
 * SQLite, the learned-peak update) on the fake capability runtime, against
 * calling the same fake instance directly. Run only these with
 * `deno task bench --filter queue`.
 *
 * @module
 */
import { JobQueue } from "../../src/capabilities/queue.ts";
import { FakeProbe, FakeRuntime } from "../../src/capabilities/queue_fake.ts";
import { openStore } from "../../src/store/mod.ts";
import type { BenchContext, BenchDefinition, Measurement } from "./definitions.ts";

/** A queue on a fake runtime with one no-op capability, in a database file of its own. */
async function fakeQueue(context: BenchContext) {
  const dir = await context.makeTempDir("roam-bench-jobs-");
  const db = openStore({ path: `${dir}/roam.db` });
  const runtime = new FakeRuntime([{ name: "noop", handler: () => null }]);
  const probe = new FakeProbe({ ramTotalMb: 64_000, ramAvailableMb: 60_000 });
  const queue = new JobQueue({ db, runtime, probe, limits: { retainFinished: 1_000 } });
  queue.start();
  context.defer(async () => {
    await queue.close();
    await runtime.close();
    db.close();
  });
  return { queue, runtime };
}

/** The queue's measurements. */
export const JOB_MEASUREMENTS: readonly Measurement[] = [
  {
    name: "fake-instance.execute",
    summary: "a no-op call on a fake capability instance, directly",
    async setup(context) {
      const { runtime } = await fakeQueue(context);
      const instance = await runtime.instance("noop", {});
      return async () => {
        await instance.execute("noop", null);
      };
    },
  },
  {
    name: "queue.job/fake",
    summary: "job submit + wait of a no-op call on the fake runtime (journal in SQLite)",
    async setup(context) {
      const { queue } = await fakeQueue(context);
      return async () => {
        const job = await queue.submit({ capability: "noop", method: "noop" });
        const done = await queue.wait(job.id, 10_000);
        if (done.status !== "succeeded") throw new Error(`job ${job.id} ${done.status}`);
      };
    },
  },
];

/** The queue's benches. */
export const JOB_BENCHES: readonly BenchDefinition[] = [
  {
    name: "queue overhead per job (fake runtime)",
    subject: "queue.job/fake",
    floor: "fake-instance.execute",
  },
];
