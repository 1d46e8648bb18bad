// sockets.viewer() as middleware in a real Express app on a loopback port: mounted under a
// subpath behind the app's own auth, it serves the page, its files and one SSE stream; it never
// serves a file outside its list or root; the stream resumes every file from Last-Event-ID.
// The page itself runs in Chromium.

import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Browser } from "playwright-core";
import { sockets } from "../lib/index";
import { CONTENT_SECURITY_POLICY } from "../lib/viewer/assets";
import { launchBrowser, openPage } from "./helpers/browser";
import { failOnUnhandledRejections } from "./helpers/no-unhandled";
import { SseClient } from "./helpers/sse-client";

failOnUnhandledRejections();

const TOKEN = "Basic " + Buffer.from("admin:s3cret").toString("base64");

let dir: string;
let root: string;
let outside: string;
let origin: string;
let server: http.Server;
let browser: Browser | undefined;

/** The app's own auth, placed before the viewer: nothing under /admin without it. */
function requireAdmin(req: Request, res: Response, next: NextFunction): void {
  if (req.headers.authorization === TOKEN) return next();
  res.setHeader("WWW-Authenticate", 'Basic realm="admin"');
  res.status(401).send("login first");
}

const quiet = { skipLogging: true, pollInterval: 200 };

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "viewer-mw-"));
  root = path.join(dir, "logs");
  outside = path.join(dir, "secret.txt");
  fs.mkdirSync(path.join(root, "sub"), { recursive: true });
  fs.writeFileSync(path.join(root, "app.log"), "app 1\napp 2\n");
  fs.writeFileSync(path.join(root, "sub", "worker.log"), "worker 1\n");
  fs.writeFileSync(path.join(root, ".hidden"), "hidden\n");
  fs.writeFileSync(outside, "the secret\n");
  fs.symlinkSync(outside, path.join(root, "escape.log"));
  fs.writeFileSync(path.join(dir, "one.log"), "one 1\n");
  fs.writeFileSync(path.join(dir, "two.log"), "two 1\n");

  const app = express();
  app.use("/admin", requireAdmin);
  app.use("/admin/logs", sockets.viewer({ root, title: "Admin logs", ...quiet }));
  app.use(
    "/pair",
    sockets.viewer({ files: [path.join(dir, "one.log"), path.join(dir, "two.log")], ...quiet }),
  );
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await browser?.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  fs.rmSync(dir, { recursive: true, force: true });
});

function get(
  pathname: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(origin + pathname, { headers, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on("error", reject);
  });
}

describe("sockets.viewer() behind the app's own auth", () => {
  it("answers 401 from the app's middleware for the page, its script, its list and its stream", async () => {
    for (const p of ["/admin/logs/", "/admin/logs/viewer.js", "/admin/logs/files.json"]) {
      expect((await get(p)).status).toBe(401);
    }
    expect((await get("/admin/logs/events?f=app.log")).status).toBe(401);
  });

  it("serves the page with a CSP that forbids inline script, and redirects to the trailing slash", async () => {
    const page = await get("/admin/logs/", { authorization: TOKEN });
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    expect(page.headers["content-security-policy"]).toMatch(/script-src 'self'(;|$)/);
    expect(page.headers["content-security-policy"]).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
    expect(page.body).not.toMatch(/<script>|<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    const bare = await get("/admin/logs?x=1", { authorization: TOKEN });
    expect(bare.status).toBe(302);
    expect(bare.headers.location).toBe("/admin/logs/?x=1");
    expect((await get("/admin/logs/nothing-here", { authorization: TOKEN })).status).toBe(404);
  });

  it("lists the regular files inside root, without dotfiles or symlinks leading out", async () => {
    const list = await get("/admin/logs/files.json", { authorization: TOKEN });
    expect(JSON.parse(list.body)).toMatchObject({
      title: "Admin logs",
      mode: "root",
      files: ["app.log", "sub/worker.log"],
      lines: 100,
      maxLines: 10000,
    });
  });
});

describe("files outside the list or root are never served", () => {
  const refused = [
    "../secret.txt",
    "escape.log",
    "sub/../../secret.txt",
    "sub/..%2F..%2Fsecret.txt",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    ".%2F..%2Fsecret.txt",
    "sub",
    "sub%5C..%5C..%5Csecret.txt",
    "app.log%00",
    "nope.log",
    ".hidden",
    "sub/.%2E/app.log",
  ];
  it.each(refused)("root mode: ?f=%s is 404", async (name) => {
    const r = await get(`/admin/logs/events?f=${name}`, { authorization: TOKEN });
    expect(r.status).toBe(404);
    expect(r.body).not.toContain("the secret");
  });

  it("root mode: an absolute path to a file inside root is 404 too (names are relative)", async () => {
    const abs = encodeURIComponent(path.join(root, "app.log"));
    expect((await get(`/admin/logs/events?f=${abs}`, { authorization: TOKEN })).status).toBe(404);
  });

  it("list mode: only the names given, compared as strings", async () => {
    for (const name of [
      outside,
      "one.log",
      `${dir}/./one.log`,
      `${dir}/logs/../one.log`,
      `${dir}//one.log`,
    ]) {
      const r = await get(`/pair/events?f=${encodeURIComponent(name)}`);
      expect(r.status).toBe(404);
    }
  });

  it("answers 400 to bad stream requests before any stream starts", async () => {
    expect((await get("/admin/logs/events", { authorization: TOKEN })).status).toBe(400);
    expect((await get("/pair/events?o=x")).status).toBe(400);
    const one = encodeURIComponent(path.join(dir, "one.log"));
    expect((await get(`/pair/events?f=${one}&f=${one}`)).status).toBe(400);
    expect((await get(`/pair/events?f=${one}&o=1&o=2`)).status).toBe(400);
  });
});

describe("the stream", () => {
  it("carries every file in one stream, ids holding each file's offset, and resumes from Last-Event-ID", async () => {
    const one = path.join(dir, "one.log");
    const two = path.join(dir, "two.log");
    const c = await SseClient.connect(`${origin}/pair/events`);
    expect(c.status).toBe(200);
    expect(c.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    await c.until(() => c.events.length >= 2);
    const texts = (): string[] =>
      c.events.map((e) => {
        const m = JSON.parse(e.data) as { f: number; o: number; t: string };
        return `${m.f}:${m.t}`;
      });
    expect(texts().sort()).toEqual(["0:one 1\n", "1:two 1\n"]);
    expect(c.events.at(-1)!.id).toBe("6,6");
    await fsp.appendFile(two, "two 2\n");
    await c.until(() => c.events.length >= 3);
    expect(c.events[2]!.id).toBe("6,12");
    await c.close();

    // Gone for a while: lines written meanwhile arrive once, and nothing before them.
    await fsp.appendFile(one, "one 2\none 3\n");
    await fsp.appendFile(two, "two 3\n");
    const again = await SseClient.connect(`${origin}/pair/events`, { "Last-Event-ID": "6,12" });
    await again.until(() => again.events.length >= 2);
    const got = again.events.map((e) => JSON.parse(e.data) as { f: number; t: string });
    expect(got.map((m) => `${m.f}:${m.t}`).sort()).toEqual(["0:one 2\none 3\n", "1:two 3\n"]);
    expect(again.events.at(-1)!.id).toBe("18,18");
    await again.close();
  });

  it("a page's own ?o= positions resume too, and an empty position means the last lines", async () => {
    const one = encodeURIComponent(path.join(dir, "one.log"));
    const c = await SseClient.connect(`${origin}/pair/events?f=${one}&o=12`);
    await c.until(() => c.events.length >= 1);
    expect(JSON.parse(c.events[0]!.data)).toEqual({ f: 0, o: 18, t: "one 3\n" });
    await fsp.appendFile(path.join(dir, "one.log"), "one 4\n");
    await c.until(() => c.events.length >= 2);
    expect(JSON.parse(c.events[1]!.data)).toEqual({ f: 0, o: 24, t: "one 4\n" });
    await c.close();
    const d = await SseClient.connect(`${origin}/pair/events?f=${one}&o=`);
    await d.until(() => d.events.length >= 1);
    expect(JSON.parse(d.events[0]!.data)).toMatchObject({ f: 0, o: 24 });
    expect((JSON.parse(d.events[0]!.data) as { t: string }).t).toMatch(/^one 1\n/);
    await d.close();
  });
});

describe("the page in Chromium, under a subpath behind auth", () => {
  beforeAll(async () => {
    browser = await launchBrowser();
  }, 60_000);

  it("shows the files of root, opens one in a tab and follows it live", async () => {
    const w = await openPage(browser!, `${origin}/admin/logs/`, {
      httpCredentials: { username: "admin", password: "s3cret" },
    });
    const { page } = w;
    await page.waitForSelector("#status.open");
    expect(await page.locator("#title").textContent()).toBe("Admin logs");
    expect(await page.locator(".tab").allTextContents()).toEqual(["app.log×"]);
    await page.waitForFunction(() => document.querySelectorAll("#log .line").length === 2);
    await fsp.appendFile(path.join(root, "app.log"), "app 3\n");
    await page.waitForFunction(() =>
      document.querySelector("#log")!.textContent!.includes("app 3"),
    );

    // Open the second file from the list: a second tab, same stream.
    await page.selectOption("#open", "sub/worker.log");
    await page.waitForFunction(() => document.querySelectorAll(".tab").length === 2);
    await page.waitForFunction(() => document.querySelector("#log")!.textContent === "worker 1");
    await fsp.appendFile(path.join(root, "app.log"), "app 4\n");
    await page.waitForFunction(() => document.querySelector(".tab .unread")!.textContent === "1");
    await page.locator(".tab", { hasText: "app.log" }).click();
    expect(await page.locator("#log .line").allTextContents()).toEqual([
      "app 1",
      "app 2",
      "app 3",
      "app 4",
    ]);
    expect(page.url()).toMatch(/#f=app\.log&f=sub%2Fworker\.log$/);
    expect(w.errors).toEqual([]);
    expect(w.consoleErrors.filter((e) => /Content.Security.Policy/i.test(e))).toEqual([]);
    await w.close();
  });
});

describe("sockets.viewer() options", () => {
  it("throws at once, naming the problem, for options it cannot serve", () => {
    // Both are type errors too (checked by `npm run typecheck`): exactly one of files or root.
    // @ts-expect-error neither files nor root
    expect(() => sockets.viewer({})).toThrow(/exactly one of `files` or `root`/);
    // @ts-expect-error files and root together
    expect(() => sockets.viewer({ files: ["a"], root: dir })).toThrow(TypeError);
    expect(() => sockets.viewer({ files: [] })).toThrow(/non-empty array/);
    expect(() => sockets.viewer({ root: path.join(dir, "missing") })).toThrow(/not accessible/);
    expect(() => sockets.viewer({ root: outside })).toThrow(/not a directory/);
    expect(() => sockets.viewer({ files: "a.log", maxLines: 0 })).toThrow(RangeError);
    expect(() => sockets.viewer({ files: "a.log", lines: -1 })).toThrow(RangeError);
  });
});
