/**
 * Ask a roam host who it is and follow its events for a few seconds.
 *
 *   deno run --allow-net --allow-read --allow-env examples/health.ts
 *
 * With no options it finds the host on this machine and mints a token from
 * its secret; elsewhere set ROAM_HOST and ROAM_TOKEN (see `roam token`).
 */
import { connect } from "../mod.ts";

const mesh = await connect();
try {
  const health = await mesh.host.health();
  console.log(`host answers: roam ${health.version}`);
  const info = await mesh.host.info();
  console.log(
    `${info.name} (${info.id}) at ${info.urls.join(", ")}, up ${
      Math.round(info.uptimeMs / 1000)
    } s`,
  );

  const { events } = await mesh.events.since({ since: Math.max(0, info.events.latest - 5) });
  for (const event of events) console.log(`  #${event.seq} ${event.type}`);

  const seconds = Number(Deno.args[0] ?? "0");
  if (seconds > 0) {
    console.log(`following events for ${seconds} s ...`);
    const sub = await mesh.subscribe({}, (event) => console.log(`  #${event.seq} ${event.type}`));
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    await sub.close();
  }
} finally {
  await mesh.close();
}
