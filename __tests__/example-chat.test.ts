// The example app's chat in Chromium (Debian's, driven by playwright-core): rooms of a Hub over
// sockets.events(), join/leave notices and typing to the room's other members only, acks shown
// in the page (pending, delivered, or the server's error), and the page reconnecting and catching
// up when its connection is cut or the server restarts on the same port.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { Browser, Page } from "playwright-core";
import { WebSocket } from "ws";
import express from "express";
import { createExample, ROOMS, type Example, type JoinAnswer } from "../example-app/server";
import { launchBrowser, openPage, type WatchedPage } from "./helpers/browser";

let browser: Browser;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "example-chat-"));
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let logs = 0;

async function startExample(
  port = 0,
  chatSessionLimit?: number,
): Promise<{ example: Example; origin: string }> {
  const logFile = path.join(dir, `app-${++logs}.log`);
  const example = createExample({ logFile, ...(chatSessionLimit ? { chatSessionLimit } : {}) });
  await new Promise<void>((resolve) => example.server.listen(port, "127.0.0.1", resolve));
  const { port: actual } = example.server.address() as AddressInfo;
  return { example, origin: `http://127.0.0.1:${actual}` };
}

/** A page in `room` under `name`, its chat open and joined. */
async function chatPage(origin: string, name: string, room = "lobby"): Promise<WatchedPage> {
  const watched = await openPage(browser, `${origin}/#${room}`);
  const { page } = watched;
  await page.waitForSelector("#chat-status.open");
  await waitText(page, "#chat-out", `* you joined ${room}`);
  // The join went out as "guest"; a new name goes with a join (same room) when the field changes.
  await page.fill("#chat-user", name);
  await page.locator("#chat-user").blur();
  await waitText(page, "#chat-members", name);
  return watched;
}

const textOf = async (page: Page, selector: string): Promise<string> =>
  (await page.locator(selector).textContent()) ?? "";

async function waitText(page: Page, selector: string, text: string, timeout = 8000) {
  await page.waitForFunction(
    ({ selector, text }) => (document.querySelector(selector)?.textContent ?? "").includes(text),
    { selector, text },
    { timeout },
  );
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill("#chat-text", text);
  await page.click("#chat-send");
}

/** Records every text `selector` had (so a state that lasted a moment is still seen). */
async function record(page: Page, selector: string): Promise<() => Promise<string[]>> {
  await page.evaluate((selector) => {
    const target = document.querySelector(selector)!;
    const seen: string[] = [];
    (window as unknown as { seen: Record<string, string[]> }).seen ??= {};
    (window as unknown as { seen: Record<string, string[]> }).seen[selector] = seen;
    new MutationObserver(() => seen.push(target.textContent ?? "")).observe(target, {
      subtree: true,
      childList: true,
      characterData: true,
    });
  }, selector);
  return () =>
    page.evaluate(
      (selector) => (window as unknown as { seen: Record<string, string[]> }).seen[selector]!,
      selector,
    );
}

describe("the example chat in Chromium", () => {
  it("rooms: lines, typing and notices reach the room's other members only; acks show in the page", async () => {
    const { example, origin } = await startExample();
    const pages: WatchedPage[] = [];
    try {
      const alice = await chatPage(origin, "alice");
      pages.push(alice);
      const bob = await chatPage(origin, "bob");
      pages.push(bob);
      const carol = await chatPage(origin, "carol", "random");
      pages.push(carol);
      const [a, b, c] = [alice.page, bob.page, carol.page];

      // Join notices go to the room's other members (under the name the page joined with).
      await waitText(a, "#chat-out", "* guest joined lobby");
      await waitText(b, "#chat-members", "alice, bob");
      await waitText(a, "#chat-out", "* guest is now bob"); // bob's name, given after he joined
      await waitText(a, "#chat-members", "alice, bob");
      await waitText(a, "#rooms", "lobby (2)");
      await waitText(c, "#rooms", "random (1)");
      expect(await textOf(c, "#chat-out")).not.toContain("joined lobby");

      // A line: pending at once, delivered when the server's ack comes, with the server's time.
      const aliceOut = await record(a, "#chat-out");
      await say(a, "hi bob");
      await waitText(a, "#chat-out", "hi bob ✓ delivered");
      expect((await aliceOut()).some((t) => t.includes("hi bob (pending)"))).toBe(true);
      await waitText(b, "#chat-out", "<alice> hi bob");
      expect(await textOf(b, "#chat-out")).toMatch(/\d\d:\d\d:\d\d <alice> hi bob/);
      expect(await textOf(b, "#chat-out")).not.toContain("pending");

      // Typing: shown to the room's others, not to another room, and it expires by itself.
      await say(b, "hello alice");
      await waitText(a, "#chat-out", "<bob> hello alice");
      await b.locator("#chat-text").pressSequentially("typing something", { delay: 10 });
      await waitText(a, "#chat-typing", "bob is typing…");
      const typingShownAt = Date.now();
      await a.waitForFunction(() => document.getElementById("chat-typing")!.textContent === "", {
        timeout: 10_000,
      });
      expect(Date.now() - typingShownAt).toBeGreaterThan(2000); // expired, not cleared at once
      await b.fill("#chat-text", "");

      // Carol, in another room, saw none of it: her own line (acked after alice's and bob's
      // lines went out) proves she would have had them by now.
      await say(c, "anyone here?");
      await waitText(c, "#chat-out", "anyone here? ✓ delivered");
      const carolText = await textOf(c, "#chat-out");
      for (const other of ["hi bob", "hello alice", "typing", "alice", "bob"]) {
        expect(carolText).not.toContain(other);
      }
      expect(await textOf(a, "#chat-out")).not.toContain("anyone here?");

      // The server refuses a 501-character line and an empty one: the ack error is shown, and
      // nobody else gets them.
      await say(a, "x".repeat(501));
      await waitText(a, "#chat-out", '✗ not delivered: the data of event "say" failed validation');
      await say(a, "   ");
      await a.waitForFunction(
        () => document.querySelectorAll("#chat-out .line.failed").length === 2,
      );
      await say(a, "still here");
      await waitText(b, "#chat-out", "<alice> still here");
      expect(await textOf(b, "#chat-out")).not.toContain("xxxxx");

      // Switching rooms: a leave notice to the old room, a join notice to the new one.
      await b.click('#rooms button[data-room="random"]');
      await waitText(b, "#chat-out", "* you joined random");
      await waitText(b, "#chat-out", "anyone here?"); // the room's recent lines
      await waitText(a, "#chat-out", "* bob left lobby");
      await waitText(c, "#chat-out", "* bob joined random");
      await waitText(c, "#rooms", "random (2)");
      expect(await b.locator("#rooms button.current").textContent()).toBe("random (2)");
      await say(b, "hi carol");
      await waitText(c, "#chat-out", "<bob> hi carol");
      await say(c, "hi bob, from random");
      await waitText(b, "#chat-out", "<carol> hi bob, from random");
      expect(await textOf(a, "#chat-out")).not.toContain("hi carol");

      // A page that closes leaves its room: the others are told.
      await bob.close();
      pages.splice(pages.indexOf(bob), 1);
      await waitText(c, "#chat-out", "* bob left random");
      await waitText(c, "#rooms", "random (1)");

      for (const p of [alice, bob, carol]) {
        expect(p.errors).toEqual([]);
        expect(p.consoleErrors).toEqual([]);
      }
    } finally {
      for (const p of pages) await p.close();
      await example.close();
    }
  }, 60_000);

  it("cut connections: the page shows reconnecting, comes back, and has every line once", async () => {
    const { example, origin } = await startExample();
    const pages: WatchedPage[] = [];
    try {
      const alice = await chatPage(origin, "alice");
      pages.push(alice);
      const a = alice.page;
      const status = await record(a, "#chat-status");
      const other = await wsChat(origin, "dora", "lobby");
      await waitText(a, "#chat-out", "* dora joined lobby");

      // Cut alice's connection (1012: service restart, retried), and send while she is away.
      const [aliceId] = (await example.hub.fetch("lobby"))
        .filter((s) => s.data.name === "alice")
        .map((s) => s.id);
      expect(await example.hub.disconnect(aliceId!, 1012)).toBe(1);
      for (let i = 1; i <= 5; i++) await other.request("say", { text: `while away ${i}` });
      await a.waitForSelector("#chat-status.open");
      await waitText(a, "#chat-out", "* back in lobby");
      await waitText(a, "#chat-out", "while away 5");
      const text = await textOf(a, "#chat-out");
      for (let i = 1; i <= 5; i++) expect(text.split(`while away ${i}`).length).toBe(2); // once
      expect(text.indexOf("while away 1")).toBeLessThan(text.indexOf("while away 5"));
      expect((await status()).some((s) => s.startsWith("reconnecting (1012)"))).toBe(true);

      // It keeps working: a line is acked and reaches the room.
      await say(a, "back again");
      await waitText(a, "#chat-out", "back again ✓ delivered");
      expect((await other.next("said")).text).toBe("back again");
      other.ws.close();
      expect(alice.errors).toEqual([]);
    } finally {
      for (const p of pages) await p.close();
      await example.close();
    }
  }, 60_000);

  it("a server restarted on the same port: the page shows reconnecting, then works again", async () => {
    let { example, origin } = await startExample();
    const port = Number(new URL(origin).port);
    const pages: WatchedPage[] = [];
    try {
      const alice = await chatPage(origin, "alice");
      pages.push(alice);
      const a = alice.page;
      await say(a, "before the restart");
      await waitText(a, "#chat-out", "before the restart ✓ delivered");

      await example.close(); // 1001 to every socket: the page retries until the server is back
      await a.waitForSelector("#chat-status.waiting");
      expect(await textOf(a, "#chat-status")).toMatch(/^reconnecting/);
      ({ example, origin } = await startExample(port));
      // Someone quicker says something before (or while) the page comes back: it shows it once,
      // live or from the join's catch-up.
      const quick = await wsChat(origin, "quick", "lobby");
      await quick.request("say", { text: "said before you were back" });
      await a.waitForSelector("#chat-status.open", { timeout: 15_000 });
      await waitText(a, "#chat-out", "* back in lobby");
      await waitText(a, "#chat-out", "said before you were back");
      expect((await textOf(a, "#chat-out")).split("said before you were back").length).toBe(2);
      quick.ws.close();
      await say(a, "after the restart");
      await waitText(a, "#chat-out", "after the restart ✓ delivered");
      // Chromium logs the refused attempts while the server was down; nothing else.
      expect(alice.errors).toEqual([]);
      for (const e of alice.consoleErrors) expect(e).toMatch(/WebSocket connection to .* failed/);
    } finally {
      for (const p of pages) await p.close();
      await example.close();
    }
  }, 60_000);
});

describe("the example chat's handlers", () => {
  it("end, with their session timers, when their clients leave; nothing stays in the hub", async () => {
    // Counts the async route handlers still running (as README's tests do for README code) and
    // the timers of a minute or more neither fired nor cleared (the 30-minute session limits).
    let running = 0;
    const long = new Set<unknown>();
    const get = express.application.get;
    const setT = globalThis.setTimeout;
    const clearT = globalThis.clearTimeout;
    express.application.get = function (this: express.Application, ...args: unknown[]) {
      const handlers = args.slice(1).map((fn) =>
        typeof fn === "function" && fn.constructor.name === "AsyncFunction"
          ? (...a: unknown[]) => {
              running++;
              const p = (fn as (...a: unknown[]) => Promise<void>)(...a);
              const end = () => void running--;
              p.then(end, end);
              return p;
            }
          : fn,
      );
      return (get as (...a: unknown[]) => unknown).call(this, args[0], ...handlers);
    } as typeof get;
    globalThis.setTimeout = Object.assign(
      (fn: (...a: unknown[]) => void, ms?: number, ...rest: unknown[]) => {
        const t: NodeJS.Timeout = setT(
          (...a: unknown[]) => {
            long.delete(t);
            fn(...a);
          },
          ms,
          ...rest,
        );
        if ((ms ?? 0) >= 60_000) long.add(t);
        return t;
      },
      setT,
    ) as typeof setTimeout;
    globalThis.clearTimeout = ((t: NodeJS.Timeout | undefined) => {
      long.delete(t);
      clearT(t);
    }) as typeof clearTimeout;
    let started: { example: Example; origin: string } | undefined;
    try {
      started = await startExample();
      const { example, origin } = started;
      const timersBefore = long.size;
      const clients = await Promise.all(
        Array.from({ length: 30 }, (_, i) => wsChat(origin, `user${i}`, ROOMS[i % ROOMS.length]!)),
      );
      for (const c of clients)
        expect(await c.request("say", { text: "hi" })).toMatchObject({ ok: true });
      await clients[0]!.request("join", { room: "help", name: "user0" }); // switching rooms too
      expect(running).toBe(30);
      expect(long.size).toBe(timersBefore + 30);
      expect(example.hub.size).toBe(30);

      // A room keeps its last 50 lines for those who join later, no more.
      for (let i = 0; i < 60; i++) await clients[1]!.request("say", { text: `line ${i}` });
      const answer = (await clients[1]!.request("join", {
        room: ROOMS[1]!,
        name: "user1",
      })) as JoinAnswer;
      expect(answer.recent.map((l) => l.text)).toEqual(
        Array.from({ length: 50 }, (_, i) => `line ${i + 10}`),
      );

      for (const c of clients) c.ws.close(1000);
      const deadline = Date.now() + 10_000;
      while ((running > 0 || long.size > timersBefore) && Date.now() < deadline) {
        await new Promise((r) => setT(r, 50));
      }
      expect(running).toBe(0);
      expect(long.size).toBe(timersBefore);
      expect(example.hub.size).toBe(0);
      for (const room of ROOMS) expect(example.hub.sockets(room)).toEqual([]);
    } finally {
      express.application.get = get;
      globalThis.setTimeout = setT;
      globalThis.clearTimeout = clearT;
      await started?.example.close();
    }
  }, 30_000);

  it("relays typing to the room's others at most once a second; a stop always goes through", async () => {
    const { example, origin } = await startExample();
    try {
      const typist = await wsChat(origin, "typist", "help");
      const reader = await wsChat(origin, "reader", "help");
      const elsewhere = await wsChat(origin, "elsewhere", "random");
      for (let i = 0; i < 20; i++) typist.ws.send(JSON.stringify({ event: "typing", data: true }));
      typist.ws.send(JSON.stringify({ event: "typing", data: false }));
      typist.ws.send(JSON.stringify({ event: "typing", data: true })); // after a stop: relayed
      await typist.request("say", { text: "done typing" }); // after all of the above
      expect(await reader.next("said")).toMatchObject({ text: "done typing" });
      const relayed = reader.events.filter((e) => e.event === "typing").map((e) => e.data.typing);
      expect(relayed).toEqual([true, false, true]);
      expect(typist.events.some((e) => e.event === "typing")).toBe(false); // not to itself
      expect(elsewhere.events.some((e) => e.event === "typing" || e.event === "said")).toBe(false);
      for (const c of [typist, reader, elsewhere]) c.ws.close();
    } finally {
      await example.close();
    }
  });

  it("the session limit says goodbye, closes with 1000, and the room is told", async () => {
    const { example, origin } = await startExample(0, 2000);
    try {
      const goes = await wsChat(origin, "goes", "lobby");
      await new Promise((r) => setTimeout(r, 1000)); // its session ends a second before this one's
      const stays = await wsChat(origin, "stays", "lobby");
      const closed = new Promise<number>((r) => goes.ws.once("close", (code) => r(code)));
      expect(await goes.next("notice")).toEqual({ text: "session limit reached, goodbye" });
      expect(await closed).toBe(1000);
      expect(await stays.next("left")).toMatchObject({ room: "lobby", name: "goes" });
      stays.ws.close();
    } finally {
      await example.close();
    }
  });
});

interface WsChat {
  ws: WebSocket;
  /** Events received and not taken by next(), in order. */
  events: { event: string; data: { [key: string]: unknown } }[];
  request(event: string, data: unknown): Promise<unknown>;
  next(event: string): Promise<{ [key: string]: unknown }>;
}

/** A chat member from Node, speaking the events protocol with `ws`. */
async function wsChat(origin: string, name: string, room: string): Promise<WsChat> {
  const ws = new WebSocket(`${origin.replace("http", "ws")}/chat`);
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  let nextAck = 0;
  const answers = new Map<number, (data: unknown) => void>();
  const events: { event: string; data: { [key: string]: unknown } }[] = [];
  const waiting: { event: string; resolve: (d: { [key: string]: unknown }) => void }[] = [];
  ws.on("message", (raw) => {
    const m = JSON.parse(String(raw)) as {
      event?: string;
      data: { [key: string]: unknown };
      ack?: number;
    };
    if (m.event === undefined) return answers.get(m.ack!)?.(m.data);
    const w = waiting.findIndex((x) => x.event === m.event);
    if (w === -1) events.push({ event: m.event, data: m.data });
    else waiting.splice(w, 1)[0]!.resolve(m.data);
  });
  const chat: WsChat = {
    ws,
    events,
    request(event, data) {
      const ack = nextAck++;
      ws.send(JSON.stringify({ event, data, ack }));
      return new Promise((resolve) => answers.set(ack, resolve));
    },
    next(event) {
      const i = events.findIndex((x) => x.event === event);
      if (i !== -1) return Promise.resolve(events.splice(i, 1)[0]!.data);
      return new Promise((resolve) => waiting.push({ event, resolve }));
    },
  };
  await chat.request("join", { room, name });
  return chat;
}
