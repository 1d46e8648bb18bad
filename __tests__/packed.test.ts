// The package as npm publishes it: `npm pack` of the built tree, installed into fresh projects the
// way a user installs it (an ESM project on Express 5, a CommonJS one on Express 4), type-checked
// with `skipLibCheck: false` (ws's types come with the package as its @types/ws dependency,
// express types from the user's own @types/express), run against a real client, and with a
// single copy of express.

import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.join(__dirname, "..");
const TSC = path.join(root, "node_modules", "typescript", "bin", "tsc");

function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeout = 180_000,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolve({ code, out: `${stdout}${stderr}`.trim() });
    });
  });
}

let dir: string;
let tarball: string;
let files: string[];
let projects: { esm: Promise<string>; cjs: Promise<string> };

beforeAll(async () => {
  if (!fs.existsSync(path.join(root, "dist", "index.js"))) {
    throw new Error("dist/ is missing: run `npm run build` (npm test does it first)");
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "packed-"));
  const packed = await run(
    "npm",
    ["pack", "--ignore-scripts", "--json", "--pack-destination", dir],
    root,
  );
  expect(packed.code).toBe(0);
  const info = JSON.parse(packed.out.slice(packed.out.indexOf("["))) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = path.join(dir, info[0]!.filename);
  files = info[0]!.files.map((f) => f.path);
  // Both installs at once (most of this file's time); each test awaits its own.
  projects = {
    esm: project(
      "esm-express5",
      "module",
      ["express@5", "@types/express@5", "@types/node@20", "zod@4", "ws@8"],
      {
        "main.ts": PROGRAM(`import express from "express";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { z } from "zod";
import { attach, sockets } from "express-sockets";
import pkg from "express-sockets";
if (pkg.sockets !== sockets) throw new Error("the default import is not the module");
// The project names no @types/ws: the package brings it (its declarations use ws's types).
type Client = { on(e: string, f: (d: unknown) => void): void; send(s: string): void };
const req = createRequire(import.meta.url);
const { WebSocket } = req("ws") as { WebSocket: new (u: string) => Client };`),
      },
    ),
    cjs: project(
      "cjs-express4",
      "commonjs",
      ["express@4", "@types/express@4", "@types/node@20", "zod@4", "ws@8", "@types/ws@8"],
      {
        "main.ts": PROGRAM(`import express = require("express");
import type { AddressInfo } from "node:net";
import { WebSocket } from "ws";
import { z } from "zod";
import { attach, sockets } from "express-sockets";`),
      },
    ),
  };
  for (const pending of Object.values(projects)) pending.catch(() => undefined);
}, 120_000);

afterAll(() => {
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

/** Makes a project that installs the tarball and `deps`, with `sources` and a strict tsconfig. */
async function project(
  name: string,
  type: "module" | "commonjs",
  deps: string[],
  sources: Record<string, string>,
): Promise<string> {
  const p = path.join(dir, name);
  fs.mkdirSync(p);
  fs.writeFileSync(
    path.join(p, "package.json"),
    JSON.stringify({ name, version: "1.0.0", private: true, type }),
  );
  const installed = await run(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      "--loglevel=error",
      tarball,
      ...deps,
    ],
    p,
  );
  expect(installed.out).not.toMatch(/ERR!/);
  expect(installed.code).toBe(0);
  fs.writeFileSync(
    path.join(p, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        lib: ["ES2023"],
        types: ["node"],
        strict: true,
        skipLibCheck: false,
        outDir: "out",
      },
      include: ["*.ts"],
    }),
  );
  for (const [file, text] of Object.entries(sources)) fs.writeFileSync(path.join(p, file), text);
  return p;
}

/** A program that serves an echo route, talks to it with ws, and prints what came back. */
const PROGRAM = (imports: string): string => `${imports}

const Msg = z.object({ text: z.string() });
interface Out { echo: string; at: number }

const app = express();
app.get("/echo", sockets.json<typeof Msg, Out>(Msg, { skipLogging: true }), async (_req, res) => {
  const { receiver, sender } = res.locals.socket;
  for await (const m of receiver) await sender.send({ echo: m.text, at: 1 });
});
const server = app.listen(0, "127.0.0.1", () => {
  const upgrades = attach(server, app, { skipLogging: true });
  const { port } = server.address() as AddressInfo;
  const ws = new WebSocket(\`ws://127.0.0.1:\${port}/echo\`);
  ws.on("open", () => ws.send(JSON.stringify({ text: "hi" })));
  ws.on("message", (data) => {
    console.log(String(data));
    void upgrades.close({ timeout: 1000 }).then(() => server.close());
  });
});
`;

describe("the packed tarball", () => {
  it("holds the build with its sources inlined in the maps, and nothing it does not need", () => {
    expect(files).toContain("dist/index.js");
    expect(files).toContain("dist/index.mjs");
    expect(files).toContain("dist/index.d.mts");
    expect(files.filter((f) => !f.startsWith("dist/")).sort()).toEqual([
      "LICENSE",
      "README.md",
      "assets/viewer/favicon.svg",
      "assets/viewer/index.html",
      "assets/viewer/viewer.css",
      "assets/viewer/viewer.js",
      "bin/express-sockets.js",
      "package.json",
    ]);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
      files: string[];
    };
    for (const entry of pkg.files) expect(fs.existsSync(path.join(root, entry))).toBe(true);
    const maps = files.filter((f) => f.endsWith(".js.map"));
    expect(maps.length).toBeGreaterThan(10);
    for (const map of maps) {
      const m = JSON.parse(fs.readFileSync(path.join(root, map), "utf8")) as {
        sources: string[];
        sourcesContent?: string[];
      };
      expect({ map, inlined: m.sourcesContent?.length }).toEqual({
        map,
        inlined: m.sources.length,
      });
    }
  });

  it("declares express as a peer (4 or 5) and ws as its only dependency", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    expect(Object.keys(pkg.dependencies)).toEqual(["@types/ws", "ws"]);
    expect(pkg.peerDependencies.express).toBe("^4.17.0 || ^5.0.0");
    expect(pkg.peerDependencies["@types/express"]).toBe("^4.17.0 || ^5.0.0");
    expect(pkg.peerDependenciesMeta["@types/express"]?.optional).toBe(true);
  });

  it("type-checks (skipLibCheck false, @types/ws brought by the package) and runs in an ESM project on Express 5, default import included", async () => {
    const p = await projects.esm;
    expect(fs.existsSync(path.join(p, "node_modules", "@types", "ws"))).toBe(true);
    const checked = await run(process.execPath, [TSC, "-p", p], p);
    expect(checked.out).toBe("");
    const ran = await run(process.execPath, [path.join(p, "out", "main.js")], p, 20_000);
    expect(ran).toEqual({ code: 0, out: '{"echo":"hi","at":1}' });
    const ls = await run("npm", ["ls", "express", "--all", "--parseable"], p);
    expect(ls.out.split("\n").filter((l) => l.endsWith("/express"))).toHaveLength(1);
  }, 240_000);

  it("type-checks and runs in a CommonJS project on Express 4, with one copy of express", async () => {
    const p = await projects.cjs;
    const checked = await run(process.execPath, [TSC, "-p", p], p);
    expect(checked.out).toBe("");
    const ran = await run(process.execPath, [path.join(p, "out", "main.js")], p, 20_000);
    expect(ran).toEqual({ code: 0, out: '{"echo":"hi","at":1}' });
    const version = (
      JSON.parse(
        fs.readFileSync(path.join(p, "node_modules", "express", "package.json"), "utf8"),
      ) as { version: string }
    ).version;
    expect(version).toMatch(/^4\./);
    expect(fs.existsSync(path.join(p, "node_modules", "express-sockets", "node_modules"))).toBe(
      false,
    );
  }, 240_000);
});
