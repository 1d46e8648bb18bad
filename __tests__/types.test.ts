// Type-level tests of the public API, checked by the real compiler: one fixture must compile
// (types flow from a zod schema through Express's overloads to `res.locals.socket`), the other
// must fail on exactly the lines marked `// error TSxxxx` (wrong sends, wrong reads, bad options).

import fs from "node:fs";
import path from "node:path";
import { markedAgainstReported, typecheck } from "./helpers/typecheck";

const fixtures = path.join(__dirname, "fixtures");

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
    const { expected, actual } = markedAgainstReported(diagnostics, bad);
    expect(expected.length).toBeGreaterThanOrEqual(10);
    expect({ lines: actual, output }).toEqual({ lines: expected, output });
    const sendFn = (diagnostics.get(bad) ?? []).find((d) => d.text.includes("'() => number'"));
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
    const { expected, actual } = markedAgainstReported(diagnostics, bad);
    expect(expected.length).toBeGreaterThanOrEqual(10);
    expect({ lines: actual, output }).toEqual({ lines: expected, output });
  }, 60_000);
});
