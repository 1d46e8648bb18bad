// after() and tick(): values on time, capacity-1 tick that drops what a slow reader misses,
// timers released on close, and never keeping the process alive on their own (checked in a
// real child process).

import { spawn } from "node:child_process";
import path from "node:path";
import { after, tick } from "../lib";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Whether the channel's Node timer is referenced (white-box; the child-process tests below
 * check the same thing black-box). */
const referenced = (ch: unknown): boolean | undefined =>
  (ch as { timer?: NodeJS.Timeout }).timer?.hasRef();

describe("after(ms)", () => {
  it("yields one timestamp after ms, then is closed", async () => {
    const start = Date.now();
    const ch = after(30);
    const first = await ch.recv();
    expect(first.done).toBe(false);
    expect(typeof first.value).toBe("number");
    expect(first.value as number).toBeGreaterThanOrEqual(start + 25);
    expect(Date.now() - start).toBeGreaterThanOrEqual(25);
    expect(await ch.recv()).toEqual({ value: undefined, done: true });
    expect(ch.closed).toBe(true);
  });

  it("keeps its value for a reader that comes late", async () => {
    const ch = after(0);
    await sleep(20);
    expect(ch.closed).toBe(true);
    expect(ch.length).toBe(1);
    expect(ch.tryRecv()?.done).toBe(false);
    expect(ch.tryRecv()).toEqual({ value: undefined, done: true });
  });

  it("close() before it fires cancels it: no value ever", async () => {
    const clear = jest.spyOn(global, "clearTimeout");
    const ch = after(20);
    ch.close();
    ch.close();
    expect(clear).toHaveBeenCalledTimes(1);
    clear.mockRestore();
    await sleep(40);
    expect(await ch.recv()).toEqual({ value: undefined, done: true });
  });

  it("is referenced only while a receiver waits on it", async () => {
    const ch = after(40);
    expect(referenced(ch)).toBe(false); // unreferenced while nobody waits
    const ac = new AbortController();
    const waiting = ch.recv({ signal: ac.signal });
    expect(referenced(ch)).toBe(true); // a parked receiver keeps the process alive
    ac.abort();
    await expect(waiting).rejects.toBeDefined();
    expect(referenced(ch)).toBe(false); // withdrawn: unreferenced again
    ch.close();
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31])(
    "throws a RangeError for ms = %p",
    (ms) => {
      expect(() => after(ms)).toThrow(RangeError);
    },
  );
});

describe("tick(ms)", () => {
  it("yields a timestamp every ms until closed", async () => {
    const ch = tick(10);
    const stamps: number[] = [];
    for await (const t of ch) {
      stamps.push(t);
      if (stamps.length === 4) ch.close();
    }
    expect(stamps).toHaveLength(4);
    for (let i = 1; i < stamps.length; i++) {
      expect(stamps[i]).toBeGreaterThan(stamps[i - 1]);
    }
    expect(ch.closed).toBe(true);
  });

  it("has capacity 1: a slow reader misses ticks instead of queueing them", async () => {
    const ch = tick(5);
    expect(ch.capacity).toBe(1);
    await sleep(60); // about 12 ticks go by unread
    expect(ch.length).toBe(1);
    const stale = ch.tryRecv();
    expect(stale?.done).toBe(false);
    expect(ch.tryRecv()).toBeUndefined(); // the others were dropped, not queued
    const fresh = await ch.recv();
    expect(fresh.value as number).toBeGreaterThan(stale?.value as number);
    ch.close();
  });

  it("close() clears the interval and keeps a buffered tick receivable", async () => {
    const clear = jest.spyOn(global, "clearTimeout");
    const ch = tick(5);
    await sleep(20);
    ch.close();
    expect(clear).toHaveBeenCalledTimes(1);
    clear.mockRestore();
    expect(ch.tryRecv()?.done).toBe(false);
    await sleep(20);
    expect(ch.tryRecv()).toEqual({ value: undefined, done: true });
  });

  it("is referenced only while a receiver waits on it", async () => {
    const ch = tick(15);
    expect(referenced(ch)).toBe(false);
    const waiting = ch.recv();
    expect(referenced(ch)).toBe(true);
    await waiting;
    expect(referenced(ch)).toBe(false);
    ch.close();
  });

  it.each([0, -5, Number.NaN, 2 ** 31])("throws a RangeError for ms = %p", (ms) => {
    expect(() => tick(ms)).toThrow(RangeError);
  });
});

// A child Node process that loads the TypeScript sources through swc, runs `body`, and reports
// how long it lived: a timer that keeps the process alive shows up as a long life.
function runChild(body: string): Promise<{ code: number | null; ms: number; out: string }> {
  const lib = path.join(__dirname, "..", "lib", "channels");
  const script = `
    const ts = require("typescript");
    const fs = require("node:fs");
    require.extensions[".ts"] = (m, filename) => {
      const { outputText } = ts.transpileModule(fs.readFileSync(filename, "utf8"), {
        fileName: filename,
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
      });
      m._compile(outputText, filename);
    };
    const { Channel } = require(${JSON.stringify(path.join(lib, "channel.ts"))});
    const { select } = require(${JSON.stringify(path.join(lib, "select.ts"))});
    const { after, tick } = require(${JSON.stringify(path.join(lib, "timers.ts"))});
    (async () => { ${body} })();
  `;
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const child = spawn(process.execPath, ["-e", script], {
      cwd: path.join(__dirname, ".."),
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(killer);
      resolve({ code, ms: Date.now() - start, out });
    });
  });
}

describe("timers and the process lifetime (child process)", () => {
  it("an unread after(60s) and an unclosed tick(10) do not keep the process alive", async () => {
    const r = await runChild(`after(60000); tick(10); console.log("started");`);
    expect(r.code).toBe(0);
    expect(r.out).toBe("started\n");
    expect(r.ms).toBeLessThan(10_000);
  });

  it("a select loop over after(60s) that breaks early lets the process exit", async () => {
    const r = await runChild(`
      const work = new Channel(1);
      setTimeout(() => work.trySend("job"), 20);
      for await (const c of select({ work, timeout: after(60000) })) {
        console.log(c.from);
        break;
      }
    `);
    expect(r.code).toBe(0);
    expect(r.out).toBe("work\n");
    expect(r.ms).toBeLessThan(10_000);
  });

  it("a receiver waiting on after() keeps the process alive until it fires", async () => {
    const r = await runChild(`
      const t0 = Date.now();
      const r = await after(300).recv();
      console.log(r.done, Date.now() - t0 >= 290);
    `);
    expect(r.code).toBe(0);
    expect(r.out).toBe("false true\n");
  });
});
