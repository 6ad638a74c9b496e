import {
  capabilityCall,
  JOB_PROGRESS_NOTIFICATION,
  jobCancel,
  jobCapacity,
  jobGet,
  jobList,
  jobResources,
  jobSubmit,
  jobWait,
} from "../api/jobs.ts";
import { RoamError } from "../errors/mod.ts";
import { implement, type MethodImpl } from "../rpc/mod.ts";
import type { Jobs } from "./jobs_service.ts";

/** The `job.*` RPC methods and `capability.call`, over {@linkcode Jobs}. */
export function jobMethods(jobs: Jobs): MethodImpl[] {
  return [
    implement(jobSubmit, (p, ctx) => jobs.submit(p, ctx.subject)),
    implement(jobGet, (p) => jobs.get(p.id, p.journal ?? false)),
    implement(jobWait, (p, ctx) => jobs.wait(p.id, p.timeoutMs, ctx.signal)),
    implement(jobCancel, (p, ctx) => jobs.cancel(p.id, ctx.subject)),
    implement(jobList, (p) => ({ jobs: jobs.list(p) })),
    implement(jobCapacity, (p) => jobs.capacity(p.capability, p.config)),
    implement(jobResources, () => jobs.queue.resources()),
    implement(capabilityCall, (p, ctx) => {
      const session = ctx.session;
      return jobs.call(p, {
        by: ctx.subject,
        signal: ctx.signal,
        onProgress: session
          ? (progress, jobId) => session.notify(JOB_PROGRESS_NOTIFICATION, { jobId, ...progress })
          : undefined,
      });
    }),
  ];
}

/**
 * `ctx.capability(name).call(...)` for agents: the agent's params checked
 * like `capability.call`'s, run on its behalf (`agent:ID`), the result
 * returned.
 */
export function agentCapabilityCalls(jobs: Jobs): {
  call(agent: { id: string }, params: Record<string, unknown>): Promise<unknown>;
} {
  return {
    async call(agent, params) {
      const parsed = capabilityCall.params.safeParse(params);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new RoamError(
          "invalid_input",
          `ctx.capability().call: ${issue.path.join(".") || "params"}: ${issue.message}`,
          {},
        );
      }
      return (await jobs.call(parsed.data, { by: `agent:${agent.id}` })).result;
    },
  };
}
