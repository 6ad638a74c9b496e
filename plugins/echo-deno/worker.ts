/**
 * echo-deno: a capability in a Deno worker, run with only the permissions
 * its plugin.json grants (here none beyond its own loopback port).
 *
 * @module
 */
import { CapabilityError, serve } from "roam_worker";

serve({
  name: "echo-deno",
  version: "1.0.0",
  methods: {
    echo: (args) => ({ echo: args, pid: Deno.pid }),
    count: async (args, call) => {
      const { to = 10, delayMs = 10 } = (args ?? {}) as { to?: number; delayMs?: number };
      for (let i = 1; i <= to; i++) {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        call.checkCancel();
        call.progress({ fraction: i / to, message: `counted ${i} of ${to}`, partial: i });
      }
      return { counted: to };
    },
    readFile: async (args) => {
      // Denied: the plugin grants no read permission, so this fails as NotCapable.
      return { text: await Deno.readTextFile(String((args as { path?: string })?.path)) };
    },
    fail: (args) => {
      const { mode = "fatal" } = (args ?? {}) as {
        mode?: "user_input" | "transient" | "resource" | "fatal";
      };
      throw new CapabilityError(mode, `a ${mode} failure, as asked`);
    },
  },
});
