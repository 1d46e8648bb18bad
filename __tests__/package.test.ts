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

describe("package.json", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
    devDependencies: Record<string, string>;
  };

  /** Every text a development dependency can be used from: code, configs and npm scripts. */
  function corpus(): string {
    const texts = [Object.values(pkg.scripts).join("\n")];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (!["node_modules", "dist", "results", "fixtures"].includes(e.name)) walk(p);
        } else if (/\.(ts|js|mjs|cjs)$/.test(e.name) && !e.name.startsWith("package.test")) {
          texts.push(fs.readFileSync(p, "utf8"));
        }
      }
    };
    for (const dir of ["lib", "__tests__", "bench", "scripts", "example-app"]) {
      walk(path.join(root, dir));
    }
    for (const f of fs.readdirSync(root)) {
      if (/^(jest|eslint)\.config\.|^tsconfig.*\.json$/.test(f)) {
        texts.push(fs.readFileSync(path.join(root, f), "utf8"));
      }
    }
    return texts.join("\n");
  }

  it("uses every development dependency it lists (none is installed for nothing)", () => {
    const text = corpus();
    const unused = Object.keys(pkg.devDependencies).filter((name) => {
      const used = name.startsWith("@types/") ? name.slice("@types/".length) : name;
      const escaped = used.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      return !new RegExp(`(["'\`/ ]|^)${escaped}(["'\`/ ]|$)`, "m").test(text);
    });
    expect(unused).toEqual([]);
  });
});

describe("the public names", () => {
  it("are each documented in the README (anything else stays internal)", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const undocumented = Object.keys(source).filter(
      (name) => name !== "__esModule" && !new RegExp(`\\b${name}\\b`).test(readme),
    );
    expect(undocumented).toEqual([]);
  });
});
