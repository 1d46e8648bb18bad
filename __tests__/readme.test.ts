// The README's code is part of the tests: every TypeScript block is compiled with tsc against the
// built package (as a user's ESM project would import it), and the two runnable examples (the
// first one and "A complete example") run against real clients: their handlers must end, and
// their timers go, when the clients leave; the complete example exits on SIGTERM.

import { execFile, fork, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { WebSocket } from "ws";

const root = path.join(__dirname, "..");
const README = fs.readFileSync(path.join(root, "README.md"), "utf8");

interface Block {
  index: number;
  line: number;
  code: string;
}

/** Every ```ts block of the README, dedented, with the line it starts on. */
function blocks(): Block[] {
  const out: Block[] = [];
  const re = /^( *)```ts\n([\s\S]*?)^ *```$/gm;
  for (const m of README.matchAll(re)) {
    const indent = m[1]!.length;
    const code = m[2]!
      .split("\n")
      .map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)))
      .join("\n");
    out.push({ index: out.length, line: README.slice(0, m.index).split("\n").length, code });
  }
  return out;
}

/** A block that shows a shape rather than code (the `res.locals.socket` listing). */
const isShape = (b: Block): boolean => /^res\.locals\.socket:/.test(b.code);

/** The public names of the package, from lib/index.ts (values and types). */
function publicNames(): string[] {
  const index = fs.readFileSync(path.join(root, "lib", "index.ts"), "utf8");
  const names = new Set<string>();
  for (const m of index.matchAll(/export (?:type )?\{([^}]*)\}/g)) {
    for (const n of m[1]!.split(",")) if (n.trim() !== "") names.add(n.trim());
  }
  return [...names];
}

function imported(code: string): Set<string> {
  const names = new Set<string>();
  for (const m of code.matchAll(
    /import\s+(?:type\s+)?(?:(\w+)\s*,?\s*)?(?:\{([^}]*)\})?\s*from/g,
  )) {
    if (m[1] !== undefined) names.add(m[1]);
    for (const n of (m[2] ?? "").split(","))
      if (n.trim() !== "")
        names.add(
          n
            .trim()
            .split(/\s+as\s+/)
            .pop()!,
        );
  }
  return names;
}

const declares = (code: string, name: string): boolean =>
  new RegExp(`(?:const|let|var|function|class|type|interface)\\s+${name}\\b`).test(code);

/**
 * What a README fragment takes from its surroundings, declared before it unless the block
 * imports or declares the name itself. Runnable parts are real (`app`, `Message`...).
 */
const CONTEXT: Record<string, string> = {
  app: "const app = express();",
  Message: "const Message = z.object({ text: z.string().max(500) });",
  requireLogin:
    "const requireLogin: express.RequestHandler = (_req, _res, next) => next(); // a stand-in",
  server: 'declare const server: import("node:http").Server;',
  upgrades: "declare const upgrades: Attachment;",
  signal: "declare const signal: AbortSignal;",
  Sub: "const Sub = z.object({ topic: z.string() });",
  Chat: "type Chat = { text: string };",
  serveSubscriber:
    "declare function serveSubscriber(s: Socket<{ topic: string }, JsonValue>, p: object): Promise<void>;",
};

function compose(block: Block, epilogue = ""): string {
  const own = imported(block.code);
  const head: string[] = [`// README.md line ${block.line}`];
  if (!own.has("express")) head.push('import express from "express";');
  if (!own.has("z")) head.push('import { z } from "zod";');
  const pkg = publicNames().filter((n) => !own.has(n) && !declares(block.code, n));
  head.push(`import { ${pkg.join(", ")} } from "express-sockets";`);
  const imports = block.code.split("\n").filter((l) => /^import\b/.test(l));
  const body = block.code.split("\n").filter((l) => !/^import\b/.test(l));
  const context = Object.entries(CONTEXT)
    .filter(([name]) => !own.has(name) && !declares(block.code, name))
    .filter(([name]) => new RegExp(`\\b${name}\\b`).test(block.code) || name === "app")
    .map(([, decl]) => decl);
  return [...head, ...imports, ...context, ...body, epilogue, "export {};", ""].join("\n");
}

let dir: string;
/** What tsc said about the README's blocks (empty when they compiled). */
let compiled: Promise<string>;

/** Runs tsc on the project in `dir`; resolves with its output (empty when it compiled). */
function tsc(): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", dir],
      { timeout: 120_000 },
      (_err, stdout, stderr) => resolve((stdout + stderr).trim()),
    );
  });
}

const all = blocks();
const FIRST = 0;
const COMPLETE = all.findIndex((b) => b.code.includes("const upgrades = attach(server, app)"));

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "readme-"));
  const modules = path.join(dir, "node_modules");
  fs.mkdirSync(modules);
  // The package by its name, and what a user's project would install next to it.
  fs.symlinkSync(root, path.join(modules, "express-sockets"), "dir");
  for (const dep of ["express", "zod", "ws", "@types", "redis", "@redis"]) {
    fs.symlinkSync(path.join(root, "node_modules", dep), path.join(modules, dep), "dir");
  }
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        // DOM too: the browser client's blocks run in pages (window, document).
        lib: ["ES2023", "DOM"],
        types: ["node"],
        strict: true,
        skipLibCheck: true,
        outDir: "out",
      },
      include: ["*.mts"],
    }),
  );
  for (const block of all) {
    if (isShape(block)) continue;
    const epilogue =
      block.index === FIRST ? "attach(app.listen(Number(process.env.PORT ?? 0)), app);" : "";
    fs.writeFileSync(path.join(dir, `block-${block.index}.mts`), compose(block, epilogue));
  }
  fs.writeFileSync(path.join(dir, "observe.cjs"), OBSERVE);
  compiled = tsc();
  await compiled; // the examples run from tsc's output
}, 120_000);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Preloaded into a README example: reports the port it listens on, counts async route handlers
 * still running, and its timers of a minute or more still scheduled, over IPC.
 */
const OBSERVE = `
const http = require("node:http");
const express = require("express");
let pending = 0;
const get = express.application.get;
express.application.get = function (route, ...handlers) {
  if (handlers.length === 0) return get.call(this, route);
  return get.call(this, route, ...handlers.map((fn) =>
    typeof fn === "function" && fn.constructor.name === "AsyncFunction"
      ? function (req, res, next) {
          pending++;
          const p = fn.call(this, req, res, next);
          const end = () => { pending--; };
          Promise.resolve(p).then(end, end);
          return p;
        }
      : fn));
};
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  this.once("listening", () => process.send({ port: this.address().port }));
  return listen.apply(this, args);
};
// Timers of a minute or more that have neither fired nor been cleared (ref'd or not).
const long = new Set();
const setT = globalThis.setTimeout;
const clearT = globalThis.clearTimeout;
globalThis.setTimeout = function (fn, ms, ...args) {
  const t = setT(function (...a) { long.delete(t); return fn.apply(this, a); }, ms, ...args);
  if (ms >= 60000) long.add(t);
  return t;
};
globalThis.clearTimeout = function (t) {
  long.delete(t);
  return clearT(t);
};
process.on("message", (m) => {
  if (m === "stats") process.send({ pending, timers: long.size });
});
`;

interface Stats {
  pending: number;
  timers: number;
}

class Example {
  readonly child: ChildProcess;
  readonly port: Promise<number>;
  readonly exited: Promise<number | null>;
  private waiting: ((s: Stats) => void)[] = [];

  constructor(block: number) {
    this.child = fork(path.join(dir, "out", `block-${block}.mjs`), [], {
      cwd: dir,
      execArgv: ["--require", path.join(dir, "observe.cjs")],
      env: { ...process.env, PORT: "0" },
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
    this.port = new Promise((resolve, reject) => {
      this.child.on("exit", (code) =>
        reject(new Error(`the example exited (${code}) before listening`)),
      );
      this.child.on("message", (m: { port?: number } & Partial<Stats>) => {
        if (m.port !== undefined) resolve(m.port);
        else this.waiting.shift()?.({ pending: m.pending!, timers: m.timers! });
      });
    });
  }

  stats(): Promise<Stats> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.send("stats");
    });
  }

  async until(predicate: (s: Stats) => boolean, ms = 10_000): Promise<Stats> {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await this.stats();
      if (predicate(s) || Date.now() > deadline) return s;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

interface Client {
  ws: WebSocket;
  closed: Promise<number>;
  next(): Promise<string>;
}

function connect(url: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { Origin: new URL(url).origin.replace("ws", "http") },
    });
    const inbox: string[] = [];
    const waiters: ((m: string) => void)[] = [];
    ws.on("message", (d) => {
      const w = waiters.shift();
      if (w !== undefined) w(d.toString());
      else inbox.push(d.toString());
    });
    const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
    const next = (): Promise<string> =>
      inbox.length > 0 ? Promise.resolve(inbox.shift()!) : new Promise((r) => waiters.push(r));
    ws.once("open", () => resolve({ ws, closed, next }));
    ws.once("error", reject);
  });
}

describe("README.md", () => {
  it("has the TypeScript blocks this test knows how to run", () => {
    expect(all.length).toBeGreaterThan(5);
    expect(all[FIRST]!.code).toMatch(/select\(/);
    expect(COMPLETE).toBeGreaterThan(0);
  });

  it("compiles every TypeScript block against the built package (strict)", async () => {
    const out = await compiled;
    // Map "block-N.mts(line,col)" back to the README.
    const readable = out.replace(/block-(\d+)\.mts\((\d+),(\d+)\)/g, (_m, n: string, l: string) => {
      const block = all[Number(n)]!;
      const file = fs.readFileSync(path.join(dir, `block-${n}.mts`), "utf8").split("\n");
      return `README block at line ${block.line} (generated line ${l}: ${file[Number(l) - 1]?.trim()})`;
    });
    expect(readable).toBe("");
  }, 120_000);

  it("the first example: handlers end and their timers go when clients leave", async () => {
    const example = new Example(FIRST);
    try {
      const port = await example.port;
      const before = await example.stats();
      const clients = await Promise.all(
        Array.from({ length: 10 }, () => connect(`ws://127.0.0.1:${port}/chat`)),
      );
      for (const c of clients) c.ws.send(JSON.stringify({ text: "hi" }));
      for (const c of clients) expect(JSON.parse(await c.next())).toEqual({ echo: "hi" });
      expect((await example.stats()).pending).toBe(10);
      for (const c of clients) c.ws.close(1000);
      await Promise.all(clients.map((c) => c.closed));
      const after = await example.until((s) => s.pending === 0 && s.timers <= before.timers);
      expect(after.pending).toBe(0);
      expect(after.timers).toBeLessThanOrEqual(before.timers);
    } finally {
      example.kill();
    }
  }, 60_000);

  it("the complete example: handlers end when clients leave, and SIGTERM closes with 1001 and exits", async () => {
    const example = new Example(COMPLETE);
    try {
      const port = await example.port;
      const before = await example.stats();
      const chats = await Promise.all(
        Array.from({ length: 5 }, () => connect(`ws://127.0.0.1:${port}/private/chat`)),
      );
      const echoes = await Promise.all(
        Array.from({ length: 5 }, () => connect(`ws://127.0.0.1:${port}/echo`)),
      );
      for (const c of chats) c.ws.send(JSON.stringify({ text: "hi" }));
      for (const c of echoes) c.ws.send("hello");
      for (const c of chats) expect(JSON.parse(await c.next())).toEqual({ text: "HI" });
      for (const c of echoes) expect(await c.next()).toBe("hello");
      expect(await example.stats()).toEqual({ pending: 10, timers: before.timers + 5 });
      for (const c of [...chats, ...echoes]) c.ws.close(1000);
      await Promise.all([...chats, ...echoes].map((c) => c.closed));
      const after = await example.until((s) => s.pending === 0 && s.timers <= before.timers);
      expect(after.pending).toBe(0);
      expect(after.timers).toBeLessThanOrEqual(before.timers);

      const last = await connect(`ws://127.0.0.1:${port}/private/chat`);
      example.child.kill("SIGTERM");
      expect(await last.closed).toBe(1001);
      const exit = await Promise.race([
        example.exited,
        new Promise<string>((r) => setTimeout(r, 10_000, "still running 10 s after SIGTERM")),
      ]);
      expect(exit).toBe(0);
    } finally {
      example.kill();
    }
  }, 60_000);
});
