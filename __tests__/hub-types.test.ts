// Type-level tests of the Hub, checked by the real compiler: one fixture must compile (a Hub
// typed with its events, over sockets of every factory, without casts), the other must fail on
// exactly the lines marked `// error TSxxxx` (unknown events, wrong data, non-sockets).

import fs from "node:fs";
import path from "node:path";
import { markedAgainstReported, typecheck } from "./helpers/typecheck";

const good = path.join(__dirname, "fixtures", "types", "hub-types.ts");
const bad = path.join(__dirname, "fixtures", "type-errors", "hub-types.ts");

describe("Hub types", () => {
  it("types emit from the hub's events; wrong events, data and sockets fail on exactly the marked lines", async () => {
    const { diagnostics, output } = await typecheck([good, bad]);
    expect({ errors: diagnostics.get(good), output }).toEqual({ errors: [], output });
    const { expected, actual } = markedAgainstReported(diagnostics, bad);
    expect(expected.length).toBeGreaterThanOrEqual(6);
    expect({ lines: actual, output }).toEqual({ lines: expected, output });
    expect(fs.readFileSync(good, "utf8")).not.toMatch(/\bas (unknown|any|never)\b|<any>/);
  }, 60_000);
});
