// Recovery end to end in Chromium (playwright-core, Debian's chromium): a page with the browser
// client in a room of a hub with history, served by its own process (fixtures/recovery-app.js,
// from dist/) while the test, as another client, keeps sending to the room.
// - The server terminates every socket, three times: the page ends with every message exactly
//   once, in order, each reconnect recovered.
// - The server process is stopped and started again on the same port with the same secret: it
//   lost its in-memory history, so the page is told recovered: false, gets no duplicate, keeps
//   its session id (the same secret verifies its token), and gets every message after.

import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { type Browser, type Page } from "playwright-core";
import { launchBrowser } from "./helpers/browser";

const APP = path.join(__dirname, "fixtures", "recovery-app.js");
const SECRET = "the test's secret, 32 bytes long";

let browser: Browser;
const children: ChildProcess[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const c of children) c.kill("SIGKILL");
});

/** Starts the app on `port` (0: any); resolves with its port once it listens. */
async function startApp(port = 0): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [APP, String(port), SECRET], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const got = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += String(d);
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`the app exited with ${code}: ${out}`)));
  });
  return { child, port: got };
}

async function stopApp(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

async function post(port: number, pathname: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${pathname}`, { method: "POST" });
  return res.text();
}

interface PageState {
  got: number[];
  joins: { room: string; recovered: boolean }[];
  log: string[];
  id: string | undefined;
}

const state = (page: Page): Promise<PageState> =>
  page.evaluate(() => {
    const w = window as never as PageState & { client: { id: string | undefined } };
    return { got: w.got, joins: w.joins, log: w.log, id: w.client.id };
  });

async function until(page: Page, pred: (s: PageState) => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const s = await state(page);
    if (pred(s)) return;
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(s).slice(0, 400)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("recovery in Chromium", () => {
  it("after every socket is terminated, the page has every message exactly once, in order", async () => {
    const { child, port } = await startApp();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    try {
      await page.goto(`http://127.0.0.1:${port}/page.html`);
      await until(page, (s) => s.joins.length === 1, "first join");
      for (let n = 1; n <= 300; n++) {
        await post(port, `/publish?n=${n}`);
        if (n % 80 === 0) expect(Number(await post(port, "/terminate"))).toBeGreaterThan(0);
      }
      await until(page, (s) => s.got.includes(300), "message 300");
      const s = await state(page);
      expect(s.got).toEqual(range(1, 300));
      expect(s.joins[0]).toMatchObject({ room: "lobby", recovered: false });
      expect(s.joins.length).toBeGreaterThanOrEqual(4);
      expect(s.joins.slice(1).every((j) => j.recovered)).toBe(true);
      expect(s.log.filter((x) => x === "reconnecting").length).toBeGreaterThanOrEqual(3);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await stopApp(child);
    }
  }, 60_000);

  it("after the server process restarts on the same port, recovered: false and no duplicates", async () => {
    const first = await startApp();
    const port = first.port;
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    try {
      await page.goto(`http://127.0.0.1:${port}/page.html`);
      await until(page, (s) => s.joins.length === 1, "first join");
      const id = (await state(page)).id;
      expect(id).toEqual(expect.any(String));
      for (let n = 1; n <= 50; n++) await post(port, `/publish?n=${n}`);
      await until(page, (s) => s.got.includes(50), "message 50");
      await stopApp(first.child);
      const second = await startApp(port);
      // The other client keeps sending while the page reconnects.
      let n = 50;
      while ((await state(page)).joins.length < 2) {
        await post(port, `/publish?n=${++n}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const after = n;
      for (let k = 0; k < 50; k++) await post(port, `/publish?n=${++n}`);
      await until(page, (s) => s.got.includes(n), `message ${n}`);
      const s = await state(page);
      expect(s.joins[1]).toMatchObject({ room: "lobby", recovered: false });
      expect(s.got.slice(0, 50)).toEqual(range(1, 50));
      expect(new Set(s.got).size).toBe(s.got.length); // no duplicates
      expect([...s.got].sort((a, b) => a - b)).toEqual(s.got); // in order
      expect(s.got.slice(-50)).toEqual(range(after + 1, n)); // everything after its join
      expect(s.id).toBe(id); // the same secret verified its token: the same session
      expect(errors).toEqual([]);
      await stopApp(second.child);
    } finally {
      await page.close();
    }
  }, 60_000);
});
