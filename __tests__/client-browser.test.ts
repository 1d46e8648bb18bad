// The browser client in Chromium (playwright-core, Debian's chromium): a page loads the bundle
// that sockets.client() serves, connects to a sockets.json() route with the browser's own
// WebSocket, and reconnects after the server terminates its sockets; and a page that reloads
// resumes its rooms from sessionStorage.

import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { type Browser, type Page } from "playwright-core";
import { launchBrowser } from "./helpers/browser";
import { attach, sockets, type Attachment } from "../lib/index";
import { startProtocolServer, type ProtocolServer } from "./helpers/protocol-server";

type Say = { text: string };

let browser: Browser;
let server: http.Server;
let upgrades: Attachment;
let origin: string;
let events: ProtocolServer;

beforeAll(async () => {
  events = await startProtocolServer();
  const app = express();
  const client = sockets.client();
  app.use(client);
  app.get("/echo", sockets.json(undefined, { skipLogging: true }), async (_req, res) => {
    const { receiver, sender } = res.locals.socket;
    for await (const m of receiver) await sender.send({ echo: (m as Say).text });
  });
  const page = (script: string): string => `<!doctype html><meta charset="utf-8"><title>t</title>
<script type="module">
import { connect } from "${client.path}";
window.log = [];
window.got = [];
${script}
</script>`;
  app.get("/json.html", (_req, res) => {
    res.type("html").send(
      page(`const c = (window.client = connect("/echo", { json: true, reconnect: { delay: 200, maxDelay: 1000 } }));
c.onStatus((s) => log.push(s));
c.onMessage((v) => got.push(v.echo));`),
    );
  });
  app.get("/events.html", (_req, res) => {
    res.type("html").send(
      page(`const c = (window.client = connect(${JSON.stringify(events.url)}));
c.on("m", (n) => got.push(n));
c.onStatus((s) => log.push(s));`),
    );
  });
  server = http.createServer(app);
  upgrades = attach(server, app, { skipLogging: true });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await upgrades?.close({ timeout: 0 });
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await events?.close();
});

async function openPage(pathname: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(origin + pathname);
  return { page, errors };
}

describe("express-sockets/client in Chromium", () => {
  it("loads from sockets.client(), talks to a json route, reconnects after its socket is terminated", async () => {
    const { page, errors } = await openPage("/json.html");
    try {
      await page.waitForFunction(
        () => (window as never as { client: { status: string } }).client?.status === "open",
      );
      await page.evaluate(() =>
        (window as never as { client: { send(v: Say): void } }).client.send({ text: "one" }),
      );
      await page.waitForFunction(() => (window as never as { got: string[] }).got.length === 1);
      expect(upgrades.size).toBe(1);
      for (const s of upgrades) void s.disconnect.trySend(1006); // terminate: no close frame
      await page.waitForFunction(() => {
        const w = window as never as { log: string[]; client: { status: string } };
        return w.log.includes("reconnecting") && w.client.status === "open";
      });
      await page.evaluate(() =>
        (window as never as { client: { send(v: Say): void } }).client.send({ text: "two" }),
      );
      await page.waitForFunction(() => (window as never as { got: string[] }).got.length === 2);
      expect(await page.evaluate(() => (window as never as { got: string[] }).got)).toEqual([
        "one",
        "two",
      ]);
      expect(await page.evaluate(() => (window as never as { log: string[] }).log)).toEqual([
        "open",
        "reconnecting",
        "open",
      ]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 30_000);

  it("keeps room positions in sessionStorage: a reloaded page resumes them", async () => {
    const { page, errors } = await openPage("/events.html");
    try {
      const c1 = await events.next();
      expect(c1.resume).toBeUndefined();
      c1.send({ event: "$session", data: { id: "s1", token: "T1" } });
      c1.send({ event: "$joined", data: { room: "lobby", epoch: "E", seq: 2, recovered: false } });
      for (const n of [3, 3, 4]) c1.send({ event: "m", data: n, at: { lobby: ["E", n] } });
      await page.waitForFunction(() => (window as never as { got: number[] }).got.length === 2);
      expect(await page.evaluate(() => (window as never as { got: number[] }).got)).toEqual([3, 4]);
      await page.waitForFunction(() => Object.keys(sessionStorage).length === 1);
      await page.reload();
      const c2 = await events.next();
      expect(c2.resume).toEqual({ token: "T1", rooms: { lobby: { epoch: "E", seq: 4 } } });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 30_000);
});
