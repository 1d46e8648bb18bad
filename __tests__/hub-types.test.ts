// Type-level tests of the Hub, checked by the real compiler: one fixture must compile (a Hub
// typed with its events, over sockets of every factory, without casts), the other must fail on
// exactly the lines marked `// error TSxxxx` (unknown events, wrong data, non-sockets).

import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.join(__dirname, "..");
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
const good = path.join(__dirname, "fixtures", "types", "hub-types.ts");
const bad = path.join(__dirname, "fixtures", "type-errors", "hub-types.ts");

/** tsc with the project's options on both fixtures: "file:line code" of every error. */
async function errors(): Promise<{ lines: string[]; output: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "express-sockets-hub-types-"));
  try {
    const config = path.join(dir, "tsconfig.json");
    fs.writeFileSync(
      config,
      JSON.stringify({
        extends: path.join(root, "tsconfig.json"),
        compilerOptions: {
          noEmit: true,
          incremental: false,
          typeRoots: [path.join(root, "node_modules", "@types")],
        },
        files: [good, bad],
        include: [],
      }),
    );
    const output = await new Promise<string>((resolve) => {
      execFile(
        process.execPath,
        [tsc, "-p", config, "--pretty", "false"],
        { cwd: root },
        (_e, out, err) => resolve(String(out) + String(err)),
      );
    });
    const lines: string[] = [];
    for (const m of output.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+)/gm)) {
      lines.push(`${path.basename(path.dirname(m[1]!))}/${path.basename(m[1]!)}:${m[2]} ${m[3]}`);
    }
    return { lines, output };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function marked(file: string): string[] {
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .flatMap((text, i) => {
      const m = /\/\/ error (TS\d+)\s*$/.exec(text);
      return m === null ? [] : [`type-errors/hub-types.ts:${i + 1} ${m[1]}`];
    });
}

describe("Hub types", () => {
  it("types emit from the hub's events; wrong events, data and sockets fail on exactly the marked lines", async () => {
    const { lines, output } = await errors();
    const expected = marked(bad);
    expect(expected.length).toBeGreaterThanOrEqual(6);
    expect({ lines: lines.sort(), output }).toEqual({ lines: expected.sort(), output });
    expect(fs.readFileSync(good, "utf8")).not.toMatch(/\bas (unknown|any|never)\b|<any>/);
  }, 60_000);
});
