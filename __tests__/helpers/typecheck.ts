// Test helper: the real TypeScript compiler, with the project's own options, on type fixtures.
// One fixture must compile; its partner must fail on exactly the lines marked `// error TSxxxx`.

import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.join(__dirname, "..", "..");
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");

export interface Diagnostic {
  line: number;
  code: string;
  text: string;
}

/** Runs tsc once, with the project's own compiler options, on the fixtures; errors by file. */
export async function typecheck(
  files: string[],
): Promise<{ diagnostics: Map<string, Diagnostic[]>; output: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "express-sockets-types-"));
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
        files,
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
    const diagnostics = new Map<string, Diagnostic[]>(files.map((f) => [f, []]));
    const pattern = /^(.+?)\((\d+),\d+\): error (TS\d+): (.*)$/;
    for (const line of output.split("\n")) {
      const m = pattern.exec(line);
      if (m === null) {
        if (/error TS\d+/.test(line)) throw new Error(`tsc failed outside the fixture:\n${output}`);
        continue;
      }
      const list = diagnostics.get(path.resolve(root, m[1] as string));
      if (list === undefined)
        throw new Error(`tsc reported an error outside the fixtures:\n${output}`);
      list.push({ line: Number(m[2]), code: m[3] as string, text: m[4] as string });
    }
    return { diagnostics, output };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The lines a fixture marks with `// error TSxxxx`, and their codes. */
export function expectedErrors(file: string): Map<number, string> {
  const expected = new Map<number, string>();
  fs.readFileSync(file, "utf8")
    .split("\n")
    .forEach((text, i) => {
      const m = /\/\/ error (TS\d+)\s*$/.exec(text);
      if (m !== null) expected.set(i + 1, m[1] as string);
    });
  return expected;
}

/** The marked lines of `bad` against the errors tsc reported there, both sorted, for toEqual. */
export function markedAgainstReported(
  diagnostics: Map<string, Diagnostic[]>,
  bad: string,
): { expected: [number, string][]; actual: [number, string][] } {
  const byLine = (a: [number, string], b: [number, string]): number => a[0] - b[0];
  const actual = new Map((diagnostics.get(bad) ?? []).map((d) => [d.line, d.code]));
  return {
    expected: [...expectedErrors(bad).entries()].sort(byLine),
    actual: [...actual.entries()].sort(byLine),
  };
}
