// The log viewer page in Chromium, served by `express-sockets tail` running as a real child
// process on real files: lines appear as they are appended, as text only (markup never runs),
// with ANSI colours; the filter narrows them, highlights mark them, pause holds them; a rotated
// file goes on in the same tab; a server killed and restarted costs no line and repeats none;
// 50,000 lines arriving fast keep the page at its line bound. A screenshot is checked for
// content (and written to docs/viewer.png with UPDATE_SCREENSHOTS=1).

import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, openPage, type WatchedPage } from "./helpers/browser";
import { requireBuild, startCli, type RunningCli } from "./helpers/cli";

jest.setTimeout(60_000);

let dir: string;
let browser: Browser;
const servers: RunningCli[] = [];
const pages: WatchedPage[] = [];

beforeAll(async () => {
  requireBuild();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "viewer-page-"));
  browser = await launchBrowser();
});

afterAll(async () => {
  for (const p of pages) await p.close().catch(() => undefined);
  await browser?.close();
  await Promise.all(servers.map((s) => s.stop("SIGKILL")));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function serve(args: string[]): Promise<RunningCli> {
  const cli = await startCli(["tail", "--port", "0", ...args]);
  servers.push(cli);
  return cli;
}

async function open(url: string, options = {}): Promise<WatchedPage> {
  const w = await openPage(browser, url, options);
  pages.push(w);
  await w.page.waitForSelector("#status.open");
  return w;
}

/** The text of every line element in the page, hidden ones included. */
function lines(page: Page): Promise<string[]> {
  return page.$$eval("#log .line", (els) => els.map((e) => e.textContent ?? ""));
}

function visibleLines(page: Page): Promise<string[]> {
  return page.$$eval("#log .line:not([hidden])", (els) => els.map((e) => e.textContent ?? ""));
}

async function untilLast(page: Page, text: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(
    (t) => document.querySelector("#log > :last-child > .line:last-child")?.textContent === t,
    text,
    { timeout, polling: 50 },
  );
}

function numbered(prefix: string, from: number, count: number): string {
  let out = "";
  for (let i = from; i < from + count; i++) out += `${prefix} ${i}\n`;
  return out;
}

function range(prefix: string, from: number, count: number): string[] {
  return numbered(prefix, from, count).trimEnd().split("\n");
}

describe("the page follows files as they grow", () => {
  let a: string;
  let b: string;
  let cli: RunningCli;

  beforeAll(async () => {
    a = path.join(dir, "app.log");
    b = path.join(dir, "worker.log");
    fs.writeFileSync(a, "boot\n");
    fs.writeFileSync(b, "worker ready\n");
    cli = await serve([a, b]);
  });

  it("shows appended lines live, as text only: markup never runs, ANSI colours render", async () => {
    const { page, errors, consoleErrors } = await open(cli.url);
    expect(await page.locator(".tab").allTextContents()).toEqual(["app.log", "worker.log"]);
    await untilLast(page, "boot");
    const evil = [
      "<script>window.__xss = 1</script>",
      '<img src=x onerror="window.__xss = 2">',
      '"><svg onload="window.__xss = 3"></svg>',
      "&lt;b&gt;entity&lt;/b&gt; <b>bold?</b>",
    ];
    await fsp.appendFile(
      a,
      evil.join("\n") +
        "\n\x1b[31mred\x1b[0m plain\n\x1b[1;38;5;208morange\x1b[0m \x1b[7minv\x1b[27m\n",
    );
    await untilLast(page, "orange inv");
    expect(await lines(page)).toEqual(["boot", ...evil, "red plain", "orange inv"]);
    // Nothing ran and no element came from a line.
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBe(
      undefined,
    );
    expect(await page.locator("#log img, #log script, #log svg, #log b").count()).toBe(0);
    // The red run is a span with the ANSI red class, coloured unlike plain text.
    const red = page.locator("#log .line span.f1");
    expect(await red.textContent()).toBe("red");
    const colors = await page.$eval("#log .line span.f1", (span) => [
      getComputedStyle(span).color,
      getComputedStyle(span.parentElement!).color,
    ]);
    expect(colors[0]).not.toBe(colors[1]);
    const orange = await page.$eval("#log .line span.b", (s) => (s as HTMLElement).style.color);
    expect(orange).toBe("rgb(255, 135, 0)");
    expect(errors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  it("filters with text or /regex/, highlights with rules, and pauses and resumes", async () => {
    const { page } = await open(cli.url);
    await fsp.appendFile(a, "GET /a 200\nGET /b 500\nPOST /c 200\nerror: disk full\n");
    await untilLast(page, "error: disk full");
    const all = (await lines(page)).length;

    await page.fill("#filter", "get /");
    expect(await visibleLines(page)).toEqual(["GET /a 200", "GET /b 500"]);
    await page.fill("#filter", "/^(GET|POST) \\S+ 200$/");
    expect(await visibleLines(page)).toEqual(["GET /a 200", "POST /c 200"]);
    expect(await page.locator("#count").textContent()).toMatch(/2 shown/);
    // New lines are filtered as they arrive.
    await fsp.appendFile(a, "GET /d 200\nGET /e 404\n");
    await untilLast(page, "GET /e 404");
    expect(await visibleLines(page)).toEqual(["GET /a 200", "POST /c 200", "GET /d 200"]);
    await page.fill("#filter", "/(unclosed/");
    expect(await page.locator("#filter.invalid").count()).toBe(1);
    expect((await visibleLines(page)).length).toBe(all + 2);
    await page.fill("#filter", "");

    // The default rules mark error words; a new rule marks its matches.
    expect(await page.locator("#log mark").allTextContents()).toContain("error");
    await page.fill("#highlight", "/\\b[45]\\d\\d$/");
    await page.press("#highlight", "Enter");
    expect(await page.locator("#rules .rule").allTextContents()).toContain("/\\b[45]\\d\\d$/");
    expect(await page.locator("#log mark").allTextContents()).toEqual(
      expect.arrayContaining(["500", "404"]),
    );

    await page.click("#pause");
    await fsp.appendFile(a, "while paused 1\nwhile paused 2\n");
    await page.waitForFunction(
      () => /paused, 2 new/.test(document.querySelector("#count")!.textContent ?? ""),
      null,
      { polling: 50 },
    );
    expect(await lines(page)).not.toContain("while paused 1");
    await page.click("#pause");
    await untilLast(page, "while paused 2");
  });

  it("keeps each file in its own tab and counts unread lines of the others", async () => {
    const { page } = await open(cli.url);
    await fsp.appendFile(b, "job 1 done\n");
    await page.waitForFunction(
      () => document.querySelectorAll(".tab .unread")[1]?.textContent === "1",
      null,
      { polling: 50 },
    );
    expect(await lines(page)).not.toContain("job 1 done");
    await page.locator(".tab", { hasText: "worker.log" }).click();
    expect(await lines(page)).toEqual(["worker ready", "job 1 done"]);
    expect(await page.locator(".tab .unread").allTextContents()).toEqual(["", ""]);
  });
});

describe("rotation and restarts", () => {
  it("a rotated file goes on in the same tab, nothing lost or repeated", async () => {
    const file = path.join(dir, "rotating.log");
    fs.writeFileSync(file, numbered("old", 1, 5));
    const cli = await serve([file]);
    const { page } = await open(cli.url);
    await untilLast(page, "old 5");
    await fsp.appendFile(file, numbered("old", 6, 3)); // written just before the rotation
    await fsp.rename(file, file + ".1");
    await fsp.writeFile(file, numbered("new", 1, 4));
    await untilLast(page, "new 4");
    await fsp.appendFile(file, numbered("new", 5, 2));
    await untilLast(page, "new 6");
    expect(await lines(page)).toEqual([...range("old", 1, 8), ...range("new", 1, 6)]);
    expect(await page.locator(".tab").count()).toBe(1);
  });

  it("a server killed and restarted: the page reconnects by itself, no line twice, none missing", async () => {
    const one = path.join(dir, "restart-one.log");
    const two = path.join(dir, "restart-two.log");
    fs.writeFileSync(one, numbered("one", 1, 3));
    fs.writeFileSync(two, "");
    const first = await serve([one, two]);
    const w = await open(first.url);
    const { page } = w;
    await untilLast(page, "one 3");
    await fsp.appendFile(one, numbered("one", 4, 2));
    await fsp.appendFile(two, numbered("two", 1, 2));
    await untilLast(page, "one 5");

    await first.stop("SIGKILL");
    await page.waitForSelector("#status:not(.open)");
    // Written while no server runs: the page must get exactly these, once.
    await fsp.appendFile(one, numbered("one", 6, 4));
    await fsp.appendFile(two, numbered("two", 3, 3));

    const second = await serve(["--port", String(first.port), one, two]);
    expect(second.port).toBe(first.port);
    await page.waitForSelector("#status.open", { timeout: 20_000 });
    await untilLast(page, "one 9");
    await fsp.appendFile(one, "one 10\n");
    await untilLast(page, "one 10");
    expect(await lines(page)).toEqual(range("one", 1, 10));
    await page.locator(".tab", { hasText: "restart-two.log" }).click();
    expect(await lines(page)).toEqual(range("two", 1, 5));
    expect(w.errors).toEqual([]);
  });
});

describe("many lines", () => {
  it("50,000 lines arriving fast keep the page at its bound of 10,000, the newest kept", async () => {
    const file = path.join(dir, "flood.log");
    fs.writeFileSync(file, "");
    const cli = await serve([file]);
    const { page } = await open(cli.url);
    // Sample the number of line elements at every frame while the flood arrives, and record
    // every task that blocked the page's main thread for more than 50 ms (Long Tasks API).
    await page.evaluate(() => {
      const w = window as unknown as {
        maxLines: number;
        frames: number;
        longTasks: number[];
        sampling: boolean;
      };
      w.maxLines = 0;
      w.frames = 0;
      w.longTasks = [];
      w.sampling = true;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.longTasks.push(e.duration);
      }).observe({ type: "longtask" });
      const sample = (): void => {
        w.maxLines = Math.max(w.maxLines, document.querySelectorAll("#log .line").length);
        w.frames++;
        if (w.sampling) requestAnimationFrame(sample);
      };
      requestAnimationFrame(sample);
    });
    const started = Date.now();
    for (let i = 0; i < 50; i++) {
      await fsp.appendFile(file, numbered("flood line", i * 1000 + 1, 1000));
      await new Promise((r) => setTimeout(r, 20));
    }
    await untilLast(page, "flood line 50000", 30_000);
    const seconds = (Date.now() - started) / 1000;
    const stats = await page.evaluate(() => {
      const w = window as unknown as {
        maxLines: number;
        frames: number;
        longTasks: number[];
        sampling: boolean;
      };
      w.sampling = false;
      return { maxLines: w.maxLines, frames: w.frames, longest: Math.max(0, ...w.longTasks) };
    });
    const shown = await lines(page);
    expect(shown.length).toBe(10_000);
    expect(shown[0]).toBe("flood line 40001");
    expect(shown.at(-1)).toBe("flood line 50000");
    expect(stats.maxLines).toBeLessThanOrEqual(10_000);
    // Responsiveness at 50 times the rate the page is built for is reported, not asserted
    // (frames that redraw all 10,000 lines); the steady 1,000 lines/s test below asserts it.
    console.log(
      `50,000 lines in ${seconds.toFixed(1)} s (${Math.round(50_000 / seconds)} lines/s): ` +
        `${stats.frames} frames, longest task ${Math.round(stats.longest)} ms, ` +
        `at most ${stats.maxLines} line elements`,
    );
  });
});

describe("a steady 1,000 lines a second", () => {
  it("into a full page (10,000 lines) keeps the page responsive: no long task, every line kept in order", async () => {
    const file = path.join(dir, "steady.log");
    fs.writeFileSync(file, numbered("steady", 1, 10_000));
    const cli = await serve(["--lines", "10000", file]);
    const { page } = await open(cli.url);
    await untilLast(page, "steady 10000");
    await page.evaluate(() => {
      const w = window as unknown as { longTasks: number[]; frames: number; sampling: boolean };
      w.longTasks = [];
      w.frames = 0;
      w.sampling = true;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.longTasks.push(e.duration);
      }).observe({ type: "longtask" });
      const tick = (): void => {
        w.frames++;
        if (w.sampling) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    // 3 seconds of 1,000 lines a second, in 20 writes a second.
    const started = Date.now();
    let next = 10_001;
    for (let i = 0; i < 60; i++) {
      await fsp.appendFile(file, numbered("steady", next, 50));
      next += 50;
      const due = started + (i + 1) * 50;
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    }
    await untilLast(page, `steady ${next - 1}`);
    const seconds = (Date.now() - started) / 1000;
    const stats = await page.evaluate(() => {
      const w = window as unknown as { longTasks: number[]; frames: number; sampling: boolean };
      w.sampling = false;
      return { frames: w.frames, longTasks: w.longTasks.map(Math.round) };
    });
    const shown = await lines(page);
    expect(shown.length).toBe(10_000);
    expect(shown).toEqual(range("steady", next - 10_000, 10_000));
    console.log(
      `1,000 lines/s for ${seconds.toFixed(1)} s into a full page: ${stats.frames} frames, ` +
        `long tasks (> 50 ms): ${JSON.stringify(stats.longTasks)}`,
    );
    // Alone this page has no long task at all; the bound leaves room for a loaded machine.
    expect(Math.max(0, ...stats.longTasks)).toBeLessThan(500);
  });
});

describe("screenshot", () => {
  const SAMPLE = [
    "\x1b[2m2026-12-03T09:14:02.114Z\x1b[0m \x1b[32mINFO \x1b[0m server listening on :8080",
    "\x1b[2m2026-12-03T09:14:02.530Z\x1b[0m \x1b[32mINFO \x1b[0m GET /api/orders 200 12ms",
    "\x1b[2m2026-12-03T09:14:03.021Z\x1b[0m \x1b[33mWARN \x1b[0m slow query (412 ms): SELECT * FROM orders",
    "\x1b[2m2026-12-03T09:14:03.377Z\x1b[0m \x1b[32mINFO \x1b[0m POST /api/orders 201 31ms",
    "\x1b[2m2026-12-03T09:14:04.802Z\x1b[0m \x1b[31mERROR\x1b[0m payment gateway timeout after 5000 ms",
    "\x1b[2m2026-12-03T09:14:04.803Z\x1b[0m \x1b[36mDEBUG\x1b[0m retrying charge ch_3Nq (attempt 2/3)",
    "\x1b[2m2026-12-03T09:14:05.120Z\x1b[0m \x1b[32mINFO \x1b[0m GET /api/orders/42 200 4ms",
    '\x1b[2m2026-12-03T09:14:05.990Z\x1b[0m \x1b[33mWARN \x1b[0m rejected input: <img src=x onerror="alert(1)">',
    "\x1b[2m2026-12-03T09:14:06.004Z\x1b[0m \x1b[32mINFO \x1b[0m GET /health 200 1ms",
  ];

  it("renders a page with content (distinct colours), saved to docs/viewer.png on request", async () => {
    const app = path.join(dir, "shots", "api.log");
    const jobs = path.join(dir, "shots", "jobs.log");
    fs.mkdirSync(path.dirname(app), { recursive: true });
    fs.writeFileSync(app, SAMPLE.join("\n") + "\n");
    fs.writeFileSync(jobs, "nightly export done\n");
    const cli = await serve(["--title", "shop-api", app, jobs]);
    const { page } = await open(cli.url, {
      colorScheme: "dark",
      viewport: { width: 1200, height: 330 },
    });
    await untilLast(page, "2026-12-03T09:14:06.004Z INFO  GET /health 200 1ms");
    await page.fill("#highlight", "/orders\\S*/");
    await page.press("#highlight", "Enter");
    const png = await page.screenshot();

    // Count distinct colours in a blank page (no CSP there) by drawing the PNG on a canvas.
    const blank = await browser.newPage();
    const distinct = await blank.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = document.createElement("canvas");
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext("2d")!;
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, img.width, img.height).data;
      const seen = new Set<number>();
      for (let i = 0; i < data.length; i += 4) {
        seen.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
      }
      return { colors: seen.size, width: img.width, height: img.height };
    }, png.toString("base64"));
    await blank.close();
    expect(distinct.width).toBe(1200);
    expect(distinct.colors).toBeGreaterThan(50); // text, ANSI colours, marks: far from blank

    const docs = path.join(__dirname, "..", "docs", "viewer.png");
    if (process.env.UPDATE_SCREENSHOTS === "1") fs.writeFileSync(docs, png);
    // The committed screenshot shows content too (a few KB of PNG at least).
    expect(fs.statSync(docs).size).toBeGreaterThan(10_000);
  });
});
