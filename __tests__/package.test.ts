// The published shape: after `npm run build` (which `npm test` runs first), the package loads
// by its own name from CommonJS and from ESM, both expose the same names as lib/index.ts, and
// share one copy of every class (no dual-package hazard for instanceof).

import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import * as source from "../lib/index";

const root = path.join(__dirname, "..");

function node(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: root, timeout: 15_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const CJS = `
const m = require("express-sockets");
console.log(JSON.stringify(Object.keys(m).filter((k) => k !== "__esModule").sort()));
`;

const ESM = `
const m = await import("express-sockets");
const cjs = (await import("node:module")).createRequire(import.meta.url)("express-sockets");
console.log(JSON.stringify({
  names: Object.keys(m).filter((k) => k !== "default" && k !== "__esModule").sort(),
  same: m.sockets === cjs.sockets && m.Channel === cjs.Channel && m.attach === cjs.attach,
}));
`;

describe("the built package", () => {
  beforeAll(() => {
    if (!fs.existsSync(path.join(root, "dist", "index.js"))) {
      throw new Error("dist/ is missing: run `npm run build` (npm test does it first)");
    }
  });

  const expected = Object.keys(source)
    .filter((k) => k !== "__esModule")
    .sort();

  it("require('express-sockets') exposes every name lib/index.ts exports", async () => {
    const names = JSON.parse(await node(["-e", CJS])) as string[];
    expect(names).toEqual(expected);
    expect(names).toEqual(expect.arrayContaining(["attach", "sockets", "Channel", "select"]));
  });

  it("import('express-sockets') exposes the same names and the same objects", async () => {
    const out = JSON.parse(await node(["--input-type=module", "-e", ESM])) as {
      names: string[];
      same: boolean;
    };
    expect(out.names).toEqual(expected);
    expect(out.same).toBe(true);
  });

  it("ships type declarations for both entry points", () => {
    const cjsTypes = fs.readFileSync(path.join(root, "dist", "index.d.ts"), "utf8");
    expect(cjsTypes).toMatch(/\battach\b/);
    expect(cjsTypes).toMatch(/\bsockets\b/);
    expect(fs.existsSync(path.join(root, "dist", "index.d.mts"))).toBe(true);
  });

  it("exposes sockets.json, sockets.messages, sockets.bytes and sockets.events as factories", async () => {
    const out = await node([
      "-e",
      `const { sockets } = require("express-sockets");
       console.log(JSON.stringify(["json", "messages", "bytes", "events"].map((k) => typeof sockets[k])));`,
    ]);
    expect(JSON.parse(out)).toEqual(["function", "function", "function", "function"]);
  });
});
