import { isAbsolute } from "node:path";
import {
  capabilityAdd,
  capabilityInfo,
  capabilityInstances,
  capabilityList,
  capabilityLogs,
  capabilityRemove,
  capabilityStart,
  capabilityStop,
} from "../api/capabilities.ts";
import { RoamError } from "../errors/mod.ts";
import { implement, type MethodImpl } from "../rpc/mod.ts";
import type { WorkerInstance } from "./instance.ts";
import type { CapabilityHost } from "./runtime.ts";

/** The `capability.*` methods of the runtime (not `capability.call`, which the queue serves). */
export function capabilityMethods(runtime: CapabilityHost): MethodImpl[] {
  const describe = async (instance: WorkerInstance) => ({
    id: instance.id,
    capability: instance.capability,
    configKey: instance.configKey,
    pid: instance.pid,
    active: instance.active,
    startedAt: new Date(instance.startedAt).toISOString(),
    lastUsedAt: new Date(instance.lastUsedAt).toISOString(),
    startMs: Math.round(instance.startMs),
    ...(await instance.measure()),
  });
  const counted = (name: string) => runtime.instances().filter((i) => i.capability === name).length;
  return [
    implement(capabilityList, () => ({
      capabilities: runtime.list().map((c) => ({ ...c, instances: counted(c.name) })),
      problems: runtime.catalog.problems(),
    })),
    implement(capabilityInfo, async ({ name }) => {
      const installed = runtime.catalog.get(name);
      const summary = runtime.get(name);
      if (!installed || !summary) {
        throw new RoamError(
          "not_found",
          `no capability named ${name} is installed; see 'roam cap list'`,
          {
            name,
          },
        );
      }
      const running = runtime.instances().filter((i) => i.capability === name);
      return {
        ...summary,
        instances: running.length,
        dir: installed.dir,
        manifest: installed.manifest as Record<string, unknown>,
        running: await Promise.all(running.map(describe)),
      };
    }),
    implement(capabilityAdd, async ({ dir }) => {
      if (!isAbsolute(dir)) {
        throw new RoamError("invalid_input", `capability.add needs an absolute path, not ${dir}`, {
          dir,
        });
      }
      return await runtime.add(dir);
    }),
    implement(capabilityRemove, async ({ name }) => await runtime.remove(name)),
    implement(capabilityStart, async ({ name, config }, call) => {
      const instance = await runtime.instance(name, config, { signal: call.signal });
      return await describe(instance as WorkerInstance);
    }),
    implement(capabilityStop, async ({ target }) => {
      const stopped = await runtime.stop(target);
      if (stopped.length === 0 && !runtime.get(target)) {
        throw new RoamError(
          "not_found",
          `no running instance or capability named ${target}; see 'roam cap list'`,
          { target },
        );
      }
      return { stopped };
    }),
    implement(capabilityInstances, async ({ name }) => ({
      instances: await Promise.all(
        runtime.instances().filter((i) => !name || i.capability === name).map(describe),
      ),
    })),
    implement(capabilityLogs, async ({ name, lines, files }) => ({
      files: await runtime.diagnostics.read(name, { lines, files }),
    })),
  ];
}
