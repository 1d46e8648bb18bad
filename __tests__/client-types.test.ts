// Type-level tests of express-sockets/client, checked by tsc with the client's own settings (DOM
// lib, no Node types): one fixture must compile, the other must fail on exactly its marked lines.

import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.join(__dirname, "..");
const good = path.join(__dirname, "fixtures", "types", "client-types.ts");
const bad = path.join(__dirname, "fixtures", "type-errors", "client-types.ts");

async function typecheck(): Promise<{ lines: [string, number, string][]; output: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "client-types-"));
  try {
    const config = path.join(dir, "tsconfig.json");
    fs.writeFileSync(
      config,
      JSON.stringify({
        extends: path.join(root, "client", "tsconfig.json"),
        compilerOptions: {
          noEmit: true,
          emitDeclarationOnly: false,
          declaration: false,
          rootDir: root,
        },
        files: [good, bad],
        include: [],
      }),
    );
    const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
    const output = await new Promise<string>((resolve) =>
      execFile(
        process.execPath,
        [tsc, "-p", config, "--pretty", "false"],
        { cwd: root },
        (_e, o, e) => resolve(String(o) + String(e)),
      ),
    );
    const lines: [string, number, string][] = [];
    for (const m of output.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+)/gm)) {
      lines.push([path.resolve(root, m[1]!), Number(m[2]), m[3]!]);
    }
    return { lines, output };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("client types", () => {
  let result: ReturnType<typeof typecheck>;
  beforeAll(() => {
    result = typecheck();
    result.catch(() => {});
  });

  it("compile: connect<ServerEvents, typeof Schemas>() types on, emit, request, handle, iteration", async () => {
    const { lines, output } = await result;
    expect({ errors: lines.filter(([f]) => f === good), output }).toEqual({ errors: [], output });
    expect(fs.readFileSync(good, "utf8")).not.toMatch(/\bas (unknown|any|never)\b|<any>/);
  }, 60_000);

  it("fail: wrong events and data are compile errors, on exactly the marked lines", async () => {
    const { lines, output } = await result;
    expect(lines.every(([f]) => f === good || f === bad)).toBe(true);
    const expected: [number, string][] = [];
    fs.readFileSync(bad, "utf8")
      .split("\n")
      .forEach((text, i) => {
        const m = /\/\/ error (TS\d+)\s*$/.exec(text);
        if (m !== null) expected.push([i + 1, m[1]!]);
      });
    const actual = lines.filter(([f]) => f === bad).map(([, l, c]) => [l, c]);
    expect({ actual, output }).toEqual({ actual: expected, output });
  }, 60_000);
});
