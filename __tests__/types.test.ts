// Type-level tests of the public API, checked by the real compiler: one fixture must compile
// (types flow from a zod schema through Express's overloads to `res.locals.socket`), the other
// must fail on exactly the lines marked `// error TSxxxx` (wrong sends, wrong reads, bad options).

import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.join(__dirname, "..");
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
const fixtures = path.join(__dirname, "fixtures");

interface Diagnostic {
  line: number;
  code: string;
  text: string;
}

/** Runs tsc once, with the project's own compiler options, on the fixtures; errors by file. */
async function typecheck(
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
function expectedErrors(file: string): Map<number, string> {
  const expected = new Map<number, string>();
  fs.readFileSync(file, "utf8")
    .split("\n")
    .forEach((text, i) => {
      const m = /\/\/ error (TS\d+)\s*$/.exec(text);
      if (m !== null) expected.set(i + 1, m[1] as string);
    });
  return expected;
}

describe("public types", () => {
  const good = path.join(fixtures, "types", "socket-types.ts");
  const bad = path.join(fixtures, "type-errors", "socket-types.ts");
  let results: ReturnType<typeof typecheck>;

  beforeAll(() => {
    results = typecheck([good, bad]);
    results.catch(() => {}); // reported by the tests below
  });

  it("compile: json(zodSchema) types receiver and sender in the next handler, without casts", async () => {
    const { diagnostics, output } = await results;
    expect({ errors: diagnostics.get(good), output }).toEqual({ errors: [], output });
    expect(fs.readFileSync(good, "utf8")).not.toMatch(/\bas (unknown|any|never)\b|<any>/);
  }, 60_000);

  it("fail: wrong sends and reads are compile errors, on exactly the marked lines", async () => {
    const { diagnostics, output } = await results;
    const errors = diagnostics.get(bad) ?? [];
    const expected = expectedErrors(bad);
    expect(expected.size).toBeGreaterThanOrEqual(10);
    const actual = new Map(errors.map((d) => [d.line, d.code]));
    expect({ lines: [...actual.entries()].sort((a, b) => a[0] - b[0]), output }).toEqual({
      lines: [...expected.entries()].sort((a, b) => a[0] - b[0]),
      output,
    });
    const sendFn = errors.find((d) => d.text.includes("'() => number'"));
    expect(sendFn?.text).toMatch(/not assignable to parameter of type 'JsonValue'/);
  }, 60_000);
});

describe("public types of sockets.events", () => {
  const good = path.join(fixtures, "types", "events-types.ts");
  const bad = path.join(fixtures, "type-errors", "events-types.ts");
  let results: ReturnType<typeof typecheck>;

  beforeAll(() => {
    results = typecheck([good, bad]);
    results.catch(() => {}); // reported by the tests below
  });

  it("compile: events(schemas).emits<Out>() types incoming events by name and outgoing ones, without casts", async () => {
    const { diagnostics, output } = await results;
    expect({ errors: diagnostics.get(good), output }).toEqual({ errors: [], output });
    expect(fs.readFileSync(good, "utf8")).not.toMatch(/\bas (unknown|any|never)\b|<any>/);
  }, 60_000);

  it("fail: undeclared or reserved event names and wrong data are compile errors, on exactly the marked lines", async () => {
    const { diagnostics, output } = await results;
    const errors = diagnostics.get(bad) ?? [];
    const expected = expectedErrors(bad);
    expect(expected.size).toBeGreaterThanOrEqual(10);
    const actual = new Map(errors.map((d) => [d.line, d.code]));
    expect({ lines: [...actual.entries()].sort((a, b) => a[0] - b[0]), output }).toEqual({
      lines: [...expected.entries()].sort((a, b) => a[0] - b[0]),
      output,
    });
  }, 60_000);
});
