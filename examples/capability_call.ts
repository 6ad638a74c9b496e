/**
 * Call a capability through the host's job queue, then show the queue.
 *
 *   deno run --allow-net --allow-read --allow-env examples/capability_call.ts echo-py echo '{"text":"hi"}'
 *
 * Arguments: CAPABILITY METHOD [ARGS_JSON]. With no options it finds the host
 * on this machine and mints a token from its secret; elsewhere set ROAM_HOST
 * and ROAM_TOKEN (see `roam token`).
 */
import { capability, connect } from "../mod.ts";

const [name = "echo-py", method = "echo", args = "{}"] = Deno.args;
const mesh = await connect();
try {
  const started = performance.now();
  const result = await capability(mesh, name).call(method, JSON.parse(args), { priority: 7 });
  console.log(
    `${name}.${method} -> ${JSON.stringify(result)} (${
      Math.round(performance.now() - started)
    } ms)`,
  );
  const { jobs } = await mesh.job.list({ limit: 5 });
  for (const job of jobs) {
    console.log(`  ${job.id.slice(0, 8)} ${job.capability}.${job.method} ${job.status}`);
  }
} finally {
  await mesh.close();
}
