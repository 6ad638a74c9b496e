/**
 * Build the plugin registry (`registry/index.json` and `registry/archives/`)
 * from every plugin dir in `plugins/`. See docs/registry.md.
 *
 * ```sh
 * deno run -A scripts/build_registry.ts                   # write registry/
 * deno run -A scripts/build_registry.ts --check           # exit 1 when registry/ is not current
 * deno run -A scripts/build_registry.ts --sign key.pem    # also write registry/index.json.sig
 * deno run -A scripts/build_registry.ts --gen-key key.pem # make an ed25519 signing key
 * deno run -A scripts/build_registry.ts --plugins DIR --out DIR
 * ```
 *
 * Exit status: 0 done (or current), 1 out of date (with --check) or the build
 * failed, 2 bad arguments.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { buildRegistry, generateSigningKey } from "../src/registry/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Run the builder with command-line `args`; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        plugins: { type: "string" },
        out: { type: "string" },
        sign: { type: "string" },
        "gen-key": { type: "string" },
        check: { type: "boolean" },
        name: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`build_registry: ${(error as Error).message} (see --help)`);
    return 2;
  }
  if (values.help) {
    console.log(
      "usage: build_registry.ts [--plugins DIR] [--out DIR] [--check] [--sign KEY.pem] [--name TEXT] | --gen-key KEY.pem",
    );
    return 0;
  }
  if (values["gen-key"]) {
    const { privatePem, publicKey } = generateSigningKey();
    await Deno.writeTextFile(values["gen-key"], privatePem, { mode: 0o600, createNew: true });
    console.log(`wrote ${values["gen-key"]} (keep it secret); its public key is ${publicKey}`);
    return 0;
  }
  if (values.check && values.sign) {
    console.error("build_registry: --check writes nothing; leave out --sign");
    return 2;
  }
  const pluginsDir = resolve(values.plugins ?? `${ROOT}plugins`);
  const outDir = resolve(values.out ?? `${ROOT}registry`);
  const signingKey = values.sign ? await Deno.readTextFile(values.sign) : undefined;
  try {
    const result = await buildRegistry({
      pluginsDir,
      outDir,
      signingKey,
      check: values.check,
      name: values.name ?? "roam first-party plugins",
      log: (line) => console.error(line),
    });
    if (values.check) {
      if (result.problems.length) {
        for (const p of result.problems) console.error(`build_registry: ${p}`);
        console.error(
          "build_registry: registry/ is not current; run deno run -A scripts/build_registry.ts",
        );
        return 1;
      }
      console.log(`${outDir} is current (${result.archives.length} plugins)`);
      return 0;
    }
    for (const p of result.problems) console.error(`build_registry: ${p}`);
    console.log(
      `wrote ${outDir}/index.json with ${result.archives.length} plugins${
        signingKey ? ", signed" : ""
      }`,
    );
    return 0;
  } catch (error) {
    console.error(`build_registry: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
