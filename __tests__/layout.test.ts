// The architecture of lib/, checked from the source: each subsystem folder imports only the folders
// below it (channels know nothing of sockets, the binding nothing of files or rooms), no module
// imports itself back through a cycle, and every folder says at its top what it is for.

import fs from "node:fs";
import path from "node:path";

const LIB = path.join(__dirname, "..", "lib");

/**
 * What each folder may import, besides itself. The top of lib/ (index.ts, sockets.ts) may import
 * everything; nothing may import it back. A new folder must be added here, with its place.
 */
const ALLOWED: Record<string, readonly string[]> = {
  channels: [],
  core: ["channels"],
  websocket: ["channels", "core"],
  sse: ["channels", "core"],
  tail: ["channels", "core", "sse"],
  hub: ["channels", "core", "websocket", "sse", "events"],
  events: ["channels", "core", "websocket"],
  viewer: ["channels", "core", "sse", "tail"],
  redis: ["channels", "core", "hub"],
  static: ["core"],
};
const TOP = ".";

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

/** Relative module specifiers a file imports or re-exports (type-only ones included). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const specs: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms))
    specs.push(m[1]!);
  for (const m of text.matchAll(/^\s*import\s+"(\.[^"]+)"/gm)) specs.push(m[1]!);
  return specs;
}

function resolve(from: string, spec: string): string {
  const base = path.resolve(path.dirname(from), spec.replace(/\.js$/, ""));
  for (const candidate of [`${base}.ts`, path.join(base, "index.ts")]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`${path.relative(LIB, from)} imports ${spec}, which does not exist`);
}

/** The subsystem folder a lib file belongs to ("." for the top of lib/). */
function folderOf(file: string): string {
  const rel = path.relative(LIB, file);
  return rel.includes(path.sep) ? rel.split(path.sep)[0]! : TOP;
}

const files = sources(LIB);
const graph = new Map(files.map((f) => [f, importsOf(f).map((s) => resolve(f, s))]));

describe("lib/ layout", () => {
  it("has no file outside a subsystem folder but the public entry points", () => {
    const top = files.filter((f) => folderOf(f) === TOP).map((f) => path.basename(f));
    expect(top.sort()).toEqual(["index.ts", "sockets.ts"]);
  });

  it("knows the place of every folder", () => {
    const folders = new Set(files.map(folderOf).filter((f) => f !== TOP));
    for (const folder of folders) expect(Object.keys(ALLOWED)).toContain(folder);
  });

  it("imports only downwards: each folder from the folders below it, nothing from the top", () => {
    const upward: string[] = [];
    for (const [file, deps] of graph) {
      const from = folderOf(file);
      for (const dep of deps) {
        const to = folderOf(dep);
        if (to === from || from === TOP) continue;
        if (to === TOP || !ALLOWED[from]!.includes(to)) {
          upward.push(`${path.relative(LIB, file)} -> ${path.relative(LIB, dep)}`);
        }
      }
    }
    expect(upward).toEqual([]);
  });

  it("has no import cycle between files", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (file: string): void => {
      state.set(file, "open");
      stack.push(file);
      for (const dep of graph.get(file) ?? []) {
        if (state.get(dep) === "open") {
          const loop = stack.slice(stack.indexOf(dep)).concat(dep);
          cycles.push(loop.map((f) => path.relative(LIB, f)).join(" -> "));
        } else if (!state.has(dep)) visit(dep);
      }
      stack.pop();
      state.set(file, "done");
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });

  it("opens every file with a comment saying what it is for", () => {
    const bare = files.filter((f) => !fs.readFileSync(f, "utf8").startsWith("//"));
    expect(bare.map((f) => path.relative(LIB, f))).toEqual([]);
  });

  it("opens each folder's index.ts with what the folder is for and what it may import", () => {
    const folders = [...new Set(files.map(folderOf).filter((f) => f !== TOP))];
    for (const folder of folders) {
      const index = path.join(LIB, folder, "index.ts");
      expect(fs.existsSync(index)).toBe(true);
      const head = fs.readFileSync(index, "utf8").split("\n").slice(0, 3).join(" ");
      expect(head).toMatch(/^\/\/ /);
      expect(head).toMatch(/import/);
    }
  });
});
