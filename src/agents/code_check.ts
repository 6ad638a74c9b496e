import { RoamError } from "../errors/mod.ts";

/**
 * Refuse agent code that loads more code at run time: a dynamic `import()`
 * (Deno does not enforce the import permission inside workers,
 * denoland/deno#29503, so it could read files and fetch code the agent was
 * never granted), `require` of anything but the SDK, or nested workers.
 * A match inside a string is refused too; plugin authors can rephrase.
 */
export function assertNoCodeLoading(code: string, plugin: string): void {
  const patterns: [RegExp, string][] = [
    [/\bimport\s*\(/, "a dynamic import()"],
    [/\bimport\.meta\b/, "import.meta"],
    [/\bnew\s+Worker\s*\(/, "a nested Worker"],
  ];
  for (const [pattern, what] of patterns) {
    const match = code.match(pattern);
    if (match) {
      const line = code.slice(0, match.index).split("\n").length;
      throw new RoamError(
        "forbidden",
        `plugin ${plugin} contains ${what} (bundle line ${line}); agent code may not load code at run time, so bundle everything it needs`,
        { plugin, line },
      );
    }
  }
}
