/**
 * Static checks that keep roam compile-ready. A `deno compile` binary embeds
 * only the modules it can see at compile time, so roam must never `import()`
 * a computed specifier, and every worker module must be named by a literal
 * `new URL("...", import.meta.url)` so that `scripts/compile.ts` can pass it
 * to `--include`. Shared by `scripts/compile.ts` and
 * `tests/compile_ready_test.ts`.
 *
 * The scanner is a small lexer, not a parser: it knows comments, strings,
 * template literals (with `${}` nesting) and regular expression literals,
 * which is enough to find call sites and read their arguments.
 *
 * @module
 */
import { isAbsolute, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** A source text seen two ways, both the same length as the original. */
export interface MaskedSource {
  /** The source with every comment replaced by spaces (newlines kept). */
  code: string;
  /** `code` with the insides of strings, templates and regex literals also blanked. */
  masked: string;
}

/** A place in a source file. */
export interface SourceSite {
  /** The file, as given to the scanner. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** The whole call as written (comments blanked), for messages. */
  text: string;
}

/** One `import(...)` call. */
export interface DynamicImportSite extends SourceSite {
  /** The first argument as written. */
  specifier: string;
  /** Whether that argument is a plain string or a template literal without `${`. */
  literal: boolean;
}

/** How a `new Worker(...)` call passes its permissions. */
export type PermissionsEvidence =
  /** The options object written at the call mentions `permissions`. */
  | "inline"
  /** The options are built elsewhere in the file, and the file mentions `permissions`. */
  | "file"
  /** No `permissions` in sight: the worker would inherit the host's. */
  | "missing";

/** One `new Worker(...)` call. */
export interface WorkerSite extends SourceSite {
  /** The first argument as written. */
  target: string;
  /** The literal module specifier when the target is `new URL("<literal>", import.meta.url)`. */
  specifier: string | null;
  /** Where `permissions` was found, if anywhere. */
  permissions: PermissionsEvidence;
}

/** Everything {@linkcode scanSources} found under one directory. */
export interface ScanReport {
  /** Every scanned file, absolute. */
  files: string[];
  /** Every `import(...)` call. */
  dynamicImports: DynamicImportSite[];
  /** Every `new Worker(...)` call. */
  workers: WorkerSite[];
}

const KEYWORDS_BEFORE_EXPRESSION = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/**
 * Blank the comments of a JavaScript or TypeScript source, and in a second
 * copy also the insides of its string, template and regex literals, so that
 * searches for call sites never match inside either.
 */
export function maskSource(source: string): MaskedSource {
  const code = source.split("");
  const masked = source.split("");
  const blank = (i: number, both: boolean) => {
    if (source[i] === "\n" || source[i] === "\r") return;
    masked[i] = " ";
    if (both) code[i] = " ";
  };
  // One entry per open `${`: the brace depth inside that template expression.
  const templates: number[] = [];
  let i = 0;
  const n = source.length;

  const skipString = (quote: string) => {
    i++;
    while (i < n && source[i] !== quote && source[i] !== "\n") {
      if (source[i] === "\\") blank(i++, false);
      blank(i++, false);
    }
    i++;
  };
  // Returns true when the template ended, false when it opened a `${`.
  const skipTemplate = (): boolean => {
    while (i < n) {
      const c = source[i];
      if (c === "\\") {
        blank(i++, false);
        blank(i++, false);
      } else if (c === "`") {
        i++;
        return true;
      } else if (c === "$" && source[i + 1] === "{") {
        i += 2;
        templates.push(0);
        return false;
      } else {
        blank(i++, false);
      }
    }
    return true;
  };
  const skipRegex = () => {
    i++;
    let inClass = false;
    while (i < n && source[i] !== "\n") {
      const c = source[i];
      if (c === "\\") {
        blank(i++, false);
      } else if (c === "[") {
        inClass = true;
      } else if (c === "]") {
        inClass = false;
      } else if (c === "/" && !inClass) {
        break;
      }
      blank(i++, false);
    }
    i++;
  };
  const regexAllowedHere = (): boolean => {
    let j = i - 1;
    while (j >= 0 && /\s/.test(code[j])) j--;
    if (j < 0) return true;
    const c = code[j];
    if ("(,=:[!&|?{};+-*%<>~^".includes(c)) return true;
    if (/[\w$]/.test(c)) {
      let k = j;
      while (k >= 0 && /[\w$]/.test(code[k])) k--;
      return KEYWORDS_BEFORE_EXPRESSION.has(code.slice(k + 1, j + 1).join(""));
    }
    return false;
  };

  while (i < n) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      while (i < n && source[i] !== "\n") blank(i++, true);
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      while (i < stop) blank(i++, true);
    } else if (c === '"' || c === "'") {
      skipString(c);
    } else if (c === "`") {
      i++;
      skipTemplate();
    } else if (c === "/" && regexAllowedHere()) {
      skipRegex();
    } else if (c === "{" && templates.length) {
      templates[templates.length - 1]++;
      i++;
    } else if (c === "}" && templates.length && templates[templates.length - 1] === 0) {
      templates.pop();
      i++;
      skipTemplate();
    } else if (c === "}" && templates.length) {
      templates[templates.length - 1]--;
      i++;
    } else {
      i++;
    }
  }
  return { code: code.join(""), masked: masked.join("") };
}

/** The arguments of the call whose `(` is at `open`, split at top-level commas, trimmed. */
function callArguments(
  source: MaskedSource,
  open: number,
): { args: string[]; end: number } {
  const { code, masked } = source;
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open + 1; i < masked.length; i++) {
    const c = masked[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if ((c === ")" || c === "]" || c === "}") && depth > 0) depth--;
    else if (c === "," && depth === 0) {
      args.push(code.slice(start, i).trim());
      start = i + 1;
    } else if (c === ")") {
      const last = code.slice(start, i).trim();
      // A trailing comma leaves an empty last segment, which is not an argument.
      if (last || args.length === 0) args.push(last);
      return { args, end: i + 1 };
    }
  }
  args.push(code.slice(start).trim());
  return { args, end: masked.length };
}

function position(source: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index; i++) {
    if (source[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}

const STRING_LITERAL = /^(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)$/s;

/**
 * Whether an expression is a module specifier known at compile time: a plain
 * string literal, or a template literal without `${`.
 */
export function isLiteralSpecifier(expression: string): boolean {
  const text = expression.trim();
  if (!STRING_LITERAL.test(text)) return false;
  if (text.startsWith("`")) return !/(^|[^\\])(\\\\)*\$\{/.test(text.slice(1, -1));
  return true;
}

/** The value of a literal accepted by {@linkcode isLiteralSpecifier}. */
function literalValue(literal: string): string {
  return literal.trim().slice(1, -1).replace(/\\(.)/g, "$1");
}

/**
 * Every `import(...)` call in a source text (comments and strings ignored),
 * with whether its specifier is a literal.
 *
 * @example
 * findDynamicImports('await import(name)')[0].literal; // false
 */
export function findDynamicImports(source: string, file = "<source>"): DynamicImportSite[] {
  const masked = maskSource(source);
  const out: DynamicImportSite[] = [];
  for (const match of masked.masked.matchAll(/(?<![\w$.])import\s*\(/g)) {
    const open = match.index + match[0].length - 1;
    const { args, end } = callArguments(masked, open);
    const specifier = args[0] ?? "";
    out.push({
      file,
      ...position(source, match.index),
      text: masked.code.slice(match.index, end),
      specifier,
      literal: isLiteralSpecifier(specifier),
    });
  }
  return out;
}

const WORKER_URL =
  /^new\s+URL\s*\(\s*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)\s*,\s*import\.meta\.url\s*,?\s*\)$/s;

/**
 * Every `new Worker(...)` call in a source text (comments and strings
 * ignored): its literal module specifier when it is written as
 * `new URL("<literal>", import.meta.url)`, and whether it passes `permissions`.
 */
export function findWorkers(source: string, file = "<source>"): WorkerSite[] {
  const masked = maskSource(source);
  const fileMentionsPermissions = /(?<![\w$])permissions(?![\w$])/.test(masked.code);
  const out: WorkerSite[] = [];
  for (const match of masked.masked.matchAll(/(?<![\w$.])new\s+Worker\s*\(/g)) {
    const open = match.index + match[0].length - 1;
    const { args, end } = callArguments(masked, open);
    const target = args[0] ?? "";
    const url = target.match(WORKER_URL);
    const specifier = url && isLiteralSpecifier(url[1]) ? literalValue(url[1]) : null;
    const options = args[1];
    let permissions: PermissionsEvidence = "missing";
    if (options?.startsWith("{")) {
      if (/(?<![\w$])permissions(?![\w$])/.test(options)) permissions = "inline";
    } else if (options && fileMentionsPermissions) {
      permissions = "file";
    }
    out.push({
      file,
      ...position(source, match.index),
      text: masked.code.slice(match.index, end),
      target,
      specifier,
      permissions,
    });
  }
  return out;
}

/** Every `.ts`, `.tsx`, `.mts` file under `dir`, absolute, sorted; `node_modules` is skipped. */
export async function listSourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string) => {
    for await (const entry of Deno.readDir(at)) {
      const path = join(at, entry.name);
      if (entry.isDirectory && entry.name !== "node_modules") await walk(path);
      else if (
        entry.isFile && /\.(ts|tsx|mts)$/.test(entry.name) && !entry.name.endsWith(".d.ts")
      ) {
        out.push(path);
      }
    }
  };
  await walk(dir);
  return out.sort();
}

/** Scan every source file under `dir` for `import(...)` and `new Worker(...)` calls. */
export async function scanSources(dir: string): Promise<ScanReport> {
  const files = await listSourceFiles(dir);
  const report: ScanReport = { files, dynamicImports: [], workers: [] };
  for (const file of files) {
    const text = await Deno.readTextFile(file);
    report.dynamicImports.push(...findDynamicImports(text, file));
    report.workers.push(...findWorkers(text, file));
  }
  return report;
}

/**
 * The file a worker site's literal specifier points at, relative to `root`
 * (forward slashes), or null when the site has no literal specifier or points
 * outside the file system.
 */
export function workerModulePath(site: WorkerSite, root: string): string | null {
  if (site.specifier === null) return null;
  const base = pathToFileURL(isAbsolute(site.file) ? site.file : join(root, site.file));
  const url = new URL(site.specifier, base);
  if (url.protocol !== "file:") return null;
  return relative(root, fileURLToPath(url)).split("\\").join("/");
}

/** What {@linkcode scanWorkerModules} found. */
export interface WorkerScan {
  /** Worker modules named by literal URLs, relative to the root, sorted, unique. */
  modules: string[];
  /** Every worker site, for checks beyond the module list. */
  sites: WorkerSite[];
  /** Sites whose module cannot be known at compile time, as `file:line: text` lines. */
  unresolved: string[];
}

/**
 * Find the worker modules under `root/src` that `deno compile` must embed:
 * every `new Worker(new URL("<literal>", import.meta.url), ...)`.
 *
 * @example
 * const { modules } = await scanWorkerModules("/work/main");
 * // ["src/agents/worker/runtime.ts"]
 */
export async function scanWorkerModules(root: string, srcDir = "src"): Promise<WorkerScan> {
  const report = await scanSources(join(root, srcDir));
  const modules = new Set<string>();
  const unresolved: string[] = [];
  for (const site of report.workers) {
    const module = workerModulePath(site, root);
    if (module === null) unresolved.push(describeSite(site, root));
    else modules.add(module);
  }
  return { modules: [...modules].sort(), sites: report.workers, unresolved };
}

/** `path:line: text` for a site, with the path relative to `root`. */
export function describeSite(site: SourceSite, root: string): string {
  const path = isAbsolute(site.file) ? relative(root, site.file) : site.file;
  return `${path}:${site.line}: ${site.text.replace(/\s+/g, " ")}`;
}
