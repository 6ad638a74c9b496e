/**
 * roam must keep working as a `deno compile` binary even though CI cannot
 * build one (no denort download here). A compiled binary cannot `import()`
 * a module it did not embed, and embeds a worker module only when
 * `scripts/compile.ts` passes it to `--include`; workers inherit the host's
 * permissions unless given their own. These tests hold `src/` to that.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { compileArgs, compileIncludes, ROOT } from "../scripts/compile.ts";
import {
  describeSite,
  findDynamicImports,
  findWorkers,
  isLiteralSpecifier,
  maskSource,
  scanSources,
  workerModulePath,
} from "../scripts/compile_scan.ts";

const SRC = join(ROOT, "src");

Deno.test("no module under src/ calls import() with a computed specifier", async () => {
  const report = await scanSources(SRC);
  assert.ok(report.files.length > 0, `no source files found under ${SRC}`);
  const computed = report.dynamicImports.filter((site) => !site.literal);
  assert.deepEqual(
    computed.map((site) => describeSite(site, ROOT)),
    [],
    "a compiled binary cannot load modules it did not embed; import a fixed path instead",
  );
});

Deno.test("the import() scanner flags computed specifiers and accepts literal ones", () => {
  const verdicts = (source: string) =>
    findDynamicImports(source).map((site) => [site.specifier, site.literal]);

  assert.deepEqual(verdicts("const m = await import(x);"), [["x", false]]);
  assert.deepEqual(verdicts('await import("a" + b);'), [['"a" + b', false]]);
  assert.deepEqual(verdicts("await import(`./plugins/${name}.ts`);"), [
    ["`./plugins/${name}.ts`", false],
  ]);
  assert.deepEqual(verdicts("await import(\n  someModule(),\n);"), [["someModule()", false]]);
  assert.deepEqual(verdicts("await import();"), [["", false]]);

  assert.deepEqual(verdicts('const m = await import("./a.ts");'), [['"./a.ts"', true]]);
  assert.deepEqual(verdicts("await import('./a.ts', { with: { type: 'json' } });"), [
    ["'./a.ts'", true],
  ]);
  assert.deepEqual(verdicts("await import(`./a.ts`);"), [["`./a.ts`", true]]);
  assert.deepEqual(verdicts('type T = typeof import("./a.ts");'), [['"./a.ts"', true]]);
});

Deno.test("the import() scanner ignores comments, strings, regexes and lookalikes", () => {
  const source = [
    "// await import(x);",
    "/* await import(y); */",
    "/**",
    " * const m = await import(`./${z}.ts`);",
    " */",
    'const s = "import(x)";',
    "const t = 'import(y)';",
    "const u = `text import(z) text`;",
    "const r = /import\\(x\\)/;",
    "const meta = import.meta.url;",
    "loader.import(x);",
    "reimport(x);",
    "const v = `${await import(w)}`;",
  ].join("\n");
  const sites = findDynamicImports(source, "sample.ts");
  assert.deepEqual(sites.map((s) => [s.line, s.specifier, s.literal]), [[13, "w", false]]);
});

Deno.test("masking keeps positions and blanks only comments and literal contents", () => {
  const source = 'a("x // y") // z\nb(`${c("d")}`) /* e */ / 2';
  const { code, masked } = maskSource(source);
  assert.equal(code.length, source.length);
  assert.equal(masked.length, source.length);
  assert.equal(code, 'a("x // y")     \nb(`${c("d")}`)         / 2');
  assert.equal(masked, 'a("      ")     \nb(`${c(" ")}`)         / 2');
  assert.ok(isLiteralSpecifier('"./a.ts"'));
  assert.ok(!isLiteralSpecifier('"./a.ts" + "b"'));
});

Deno.test("every worker under src/ is a literal module URL that compile.ts embeds", async () => {
  const report = await scanSources(SRC);
  const { modules, unresolved } = await compileIncludes(ROOT);
  assert.deepEqual(
    report.workers.filter((site) => site.specifier === null).map((s) => describeSite(s, ROOT)),
    [],
    'write new Worker(new URL("./module.ts", import.meta.url), ...) so the module can be embedded',
  );
  assert.deepEqual(unresolved, []);
  for (const site of report.workers) {
    const module = workerModulePath(site, ROOT);
    assert.ok(
      module !== null && modules.includes(module),
      `${describeSite(site, ROOT)}: ${module} is not in compile.ts's --include list`,
    );
  }
  for (const module of modules) {
    const info = await Deno.stat(join(ROOT, module)).catch(() => null);
    assert.ok(info?.isFile, `compile.ts would --include ${module}, which does not exist`);
  }
  const args = compileArgs({ entry: "main.ts", output: "dist/roam", includes: modules });
  for (const module of modules) {
    assert.ok(args.join(" ").includes(`--include ${module}`), `${module} missing from ${args}`);
  }
});

Deno.test("every worker under src/ is given explicit permissions", async () => {
  const report = await scanSources(SRC);
  assert.deepEqual(
    report.workers.filter((site) => site.permissions === "missing").map((s) =>
      describeSite(s, ROOT)
    ),
    [],
    "workers inherit the host's permissions unless deno.permissions is passed",
  );
});

Deno.test("the worker scanner reads module URLs and permissions", () => {
  const source = [
    "const a = new Worker(new URL('./worker/runtime.ts', import.meta.url), {",
    '  type: "module",',
    '  deno: { permissions: "none" },',
    "});",
    "const b = new Worker(url, { type: 'module' });",
    "const c = new Worker(new URL(`./${name}.ts`, import.meta.url), options);",
    "// new Worker(nothing)",
  ].join("\n");
  const sites = findWorkers(source, "/repo/src/agents/manager.ts");
  assert.deepEqual(sites.map((s) => [s.line, s.specifier, s.permissions]), [
    [1, "./worker/runtime.ts", "inline"],
    [5, null, "missing"],
    [6, null, "file"],
  ]);
  assert.equal(workerModulePath(sites[0], "/repo"), "src/agents/worker/runtime.ts");
  assert.equal(workerModulePath(sites[1], "/repo"), null);

  const noMention = findWorkers("new Worker(new URL('./w.ts', import.meta.url), opts);", "x.ts");
  assert.deepEqual(noMention.map((s) => [s.specifier, s.permissions]), [["./w.ts", "missing"]]);
});
