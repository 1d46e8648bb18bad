// Recovery in one process (API.md section 6, RECOVERY-PROTOCOL.md): positions on room messages,
// sessions that survive a reconnect, and the replay inside join(): every missed message in order
// exactly once before any new one, or nothing and `recovered: false`. Real Express apps with
// attach(), real ws clients speaking the wire by hand (helpers/recovery.ts).

import { createHmac } from "node:crypto";
import { WebSocket } from "ws";
import { Hub } from "../lib/hub/index";
import { MAX_HISTORY_SIZE } from "../lib/hub/history";
import { failOnUnhandledRejections } from "./helpers/no-unhandled";
import { closeRecovery, Proto, startRecovery, type Saved } from "./helpers/recovery";

failOnUnhandledRejections();
afterEach(closeRecovery);

const HISTORY = { size: 1000, ttl: 60_000 };

/** The `n` of every app message of `room` a client got, in order. */
function ns(p: Proto, room?: string): number[] {
  return p.messages
    .filter((f) => room === undefined || f.at?.[room] !== undefined)
    .map((f) => (f.data as { n: number }).n);
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("new Hub({ history, secret }): options", () => {
  it("refuses a history without bounds or past them, and a short secret, saying what to pass", () => {
    expect(() => new Hub({ history: { size: 0, ttl: 1000 } })).toThrow(RangeError);
    expect(() => new Hub({ history: { size: MAX_HISTORY_SIZE + 1, ttl: 1000 } })).toThrow(
      /size must be an integer from 1 to 100000/,
    );
    expect(() => new Hub({ history: { size: 10, ttl: -1 } })).toThrow(/ttl/);
    expect(() => new Hub({ history: { size: 10 } as never })).toThrow(/ttl/);
    expect(() => new Hub({ history: { size: 10, ttl: 10, max: 1 } as never })).toThrow(
      /unknown option "max"/,
    );
    expect(() => new Hub({ history: "yes" as never })).toThrow(TypeError);
    expect(() => new Hub({ secret: "short" })).toThrow(/at least 16 bytes/);
    expect(() => new Hub({ secret: 42 as never })).toThrow(TypeError);
  });
});

describe("positions and $joined", () => {
  it("sends $session, then $joined with the room's epoch and seq, then messages with gapless positions", async () => {
    const s = await startRecovery({ history: HISTORY });
    await s.hub.to("r").emit("msg", { n: 0 }); // nobody joined yet: not kept, no position
    const a = await Proto.open(s, ["r"]);
    await a.joined("r");
    const joined = await s.joins.recv();
    expect(a.frames[0]!.event).toBe("$session");
    const session = a.frames[0]!.data as { id: string; token: string };
    expect(session.id).toBe(joined.value!.socket.id);
    expect(session.token.split(".")).toHaveLength(3);
    const j = a.find("$joined", "r")!.data as { epoch: string; seq: number; recovered: boolean };
    expect(j).toEqual({ room: "r", epoch: expect.any(String), seq: 0, recovered: false });
    expect((joined.value!.result as Record<string, unknown>)["r"]).toEqual({
      recovered: false,
      position: { epoch: j.epoch, offset: 0 },
    });
    for (let n = 1; n <= 3; n++) await s.hub.to("r").emit("msg", { n });
    await a.until(() => a.messages.length === 3);
    expect(a.messages.map((f) => f.at)).toEqual([
      { r: [j.epoch, 1] },
      { r: [j.epoch, 2] },
      { r: [j.epoch, 3] },
    ]);
    s.hub.leave(joined.value!.socket, "r");
    await a.until(() => a.find("$left") !== undefined);
    expect(a.find("$left")!.data).toEqual({ room: "r" });
  });

  it("a message to two rooms carries a position in each; messages to one socket carry none", async () => {
    const s = await startRecovery({ history: HISTORY });
    const a = await Proto.open(s, ["x", "y"]);
    await a.joined("x", "y");
    const { value } = await s.joins.recv();
    await s.hub.to("x").to("y").emit("msg", { n: 1 });
    await s.hub.to(value!.socket).emit("msg", { n: 2 });
    await value!.socket.emit("msg", { n: 3 });
    await a.until(() => a.messages.length === 3);
    expect(Object.keys(a.messages[0]!.at!).sort()).toEqual(["x", "y"]);
    expect(a.messages[1]!.at).toBeUndefined();
    expect(a.messages[2]!.at).toBeUndefined();
  });
});

describe("other transports", () => {
  it("a json socket gets positions in room messages (and in a sent object), but no $ messages", async () => {
    const s = await startRecovery({ history: HISTORY });
    const a = await Proto.open(s, ["r"]);
    await a.joined("r");
    const ws = new WebSocket(`ws://${s.base}/json?rooms=r`);
    const got: string[] = [];
    ws.on("message", (d) => got.push(String(d)));
    await new Promise((resolve) => ws.once("open", resolve));
    await s.joins.recv();
    while (s.hub.size < 2) await sleep(10);
    await s.hub.to("r").emit("msg", { n: 1 });
    await s.hub.to("r").send({ n: 2 });
    await s.hub.to("r").send("plain");
    while (got.length < 3) await sleep(10);
    const epoch = (a.find("$joined", "r")!.data as { epoch: string }).epoch;
    expect(got).toEqual([
      `{"event":"msg","data":{"n":1},"at":{"r":["${epoch}",1]}}`,
      `{"n":2,"at":{"r":["${epoch}",2]}}`,
      `"plain"`,
    ]);
    ws.terminate();
  });
});

describe("replay", () => {
  it("replays every missed message in order exactly once, then live ones; the session keeps its id", async () => {
    const s = await startRecovery({ history: HISTORY });
    const saved: Saved = { rooms: {} };
    const a = await Proto.open(s, ["r"], saved);
    await a.joined("r");
    const first = (await s.joins.recv()).value!.socket.id;
    for (let n = 1; n <= 5; n++) await s.hub.to("r").emit("msg", { n });
    await a.until(() => a.messages.length === 5);
    await a.drop();
    for (let n = 6; n <= 105; n++) await s.hub.to("r").emit("msg", { n });
    const b = await Proto.open(s, ["r"], saved);
    await b.joined("r");
    const second = await s.joins.recv();
    expect(second.value!.socket.id).toBe(first);
    expect((b.frames[0]!.data as { id: string }).id).toBe(first);
    expect(b.find("$joined", "r")!.data).toMatchObject({ recovered: true, seq: 105 });
    expect((second.value!.result as Record<string, { recovered: boolean }>)["r"]!.recovered).toBe(
      true,
    );
    await s.hub.to("r").emit("msg", { n: 106 });
    await b.until(() => b.messages.length === 101);
    expect(ns(b)).toEqual(range(6, 106));
    // $session first, then $joined, then the replay: nothing of the room before its $joined.
    expect(b.frames.map((f) => f.event).slice(0, 3)).toEqual(["$session", "$joined", "msg"]);
  });

  it("does not interleave or duplicate messages published while the replay is being written", async () => {
    const s = await startRecovery({ history: { size: 5000, ttl: 60_000 } });
    const saved: Saved = { rooms: {} };
    const a = await Proto.open(s, ["r"], saved);
    await a.joined("r");
    await s.joins.recv();
    await a.drop();
    let n = 0;
    for (; n < 2000;) await s.hub.to("r").emit("msg", { n: ++n });
    // While the returning client joins: one publication right after join() starts, then one
    // per turn of the event loop until its join resolved (the replay of 2,000 takes many).
    let joining = true;
    let during = 0;
    s.onJoin = () => {
      void s.hub.to("r").emit("msg", { n: ++n });
      during++;
      const more = (): void => {
        if (!joining) return;
        void s.hub.to("r").emit("msg", { n: ++n });
        during++;
        setImmediate(more);
      };
      setImmediate(more);
    };
    const b = await Proto.open(s, ["r"], saved);
    await s.joins.recv();
    joining = false;
    await s.hub.to("r").emit("msg", { n: ++n });
    await b.until(() => b.messages.length >= n, 20_000, `${n} messages`);
    expect(during).toBeGreaterThan(1);
    expect(ns(b)).toEqual(range(1, n));
    expect(b.messages.map((f) => f.at!["r"]![1])).toEqual(range(1, n));
  });

  it("replays nothing and says recovered: false when the position is too old, in the future or of another epoch", async () => {
    const s = await startRecovery({ history: { size: 5, ttl: 60_000 } });
    const saved: Saved = { rooms: {} };
    const a = await Proto.open(s, ["r"], saved);
    await a.joined("r");
    await s.joins.recv();
    const epoch = saved.rooms["r"]!.epoch;
    for (let n = 1; n <= 10; n++) await s.hub.to("r").emit("msg", { n });
    await a.until(() => a.messages.length === 10);
    await a.drop();
    const cases: [string, Saved["rooms"][string], boolean, number][] = [
      ["kept: 6..10", { epoch, seq: 5 }, true, 5],
      ["too old: 5 is no longer kept", { epoch, seq: 4 }, false, 0],
      ["future", { epoch, seq: 11 }, false, 0],
      ["other epoch", { epoch: "AAAAAAAAAAA", seq: 9 }, false, 0],
    ];
    for (const [what, position, recovered, count] of cases) {
      const c = await Proto.open(s, ["r"], { rooms: { r: position } });
      await c.joined("r");
      const { value } = await s.joins.recv();
      await s.hub.to("other-room").emit("msg", { n: -1 }); // a round trip: any replay has arrived
      await sleep(50);
      expect([what, c.find("$joined", "r")!.data]).toEqual([
        what,
        { room: "r", epoch, seq: 10, recovered },
      ]);
      expect([what, ns(c)]).toEqual([what, range(11 - count, 10)]);
      expect((value!.result as Record<string, { recovered: boolean }>)["r"]!.recovered).toBe(
        recovered,
      );
      await c.drop();
    }
  });

  it("keeps at most `size` messages per room and none older than `ttl`", async () => {
    const s = await startRecovery({ history: { size: 3, ttl: 300 } });
    const a = await Proto.open(s, ["r", "q"]);
    await a.joined("r", "q");
    await s.joins.recv();
    for (let n = 1; n <= 10; n++) await s.hub.to("r").emit("msg", { n });
    await s.hub.to("q").emit("msg", { n: 11 });
    expect(s.adapter.internals).toEqual({ rooms: 2, kept: 4 });
    await sleep(800); // past ttl: the timer (every 250 ms here) drops them
    expect(s.adapter.internals).toEqual({ rooms: 2, kept: 0 });
    // Everything after seq 10 is "kept" (nothing), but seq 9 -> 10 expired: not recovered.
    const epoch = (a.find("$joined", "r")!.data as { epoch: string }).epoch;
    const b = await Proto.open(s, ["r"], { rooms: { r: { epoch, seq: 9 } } });
    await b.joined("r");
    expect(b.find("$joined", "r")!.data).toMatchObject({ recovered: false, seq: 10 });
    const c = await Proto.open(s, ["r"], { rooms: { r: { epoch, seq: 10 } } });
    await c.joined("r");
    expect(c.find("$joined", "r")!.data).toMatchObject({ recovered: true, seq: 10 });
  });
});

describe("sessions", () => {
  it("except(socket) holds for replayed and live messages across a reconnect with the same session", async () => {
    const s = await startRecovery({ history: HISTORY });
    const saved: Saved = { rooms: {} };
    const x = await Proto.open(s, ["r"], saved);
    await x.joined("r");
    const xs = (await s.joins.recv()).value!.socket;
    const y = await Proto.open(s, ["r"]);
    await y.joined("r");
    const ys = (await s.joins.recv()).value!.socket;
    x.emit("say", { room: "r", n: 1 }); // to(r).except(x)
    await y.until(() => y.messages.length === 1);
    await x.drop();
    await s.hub.to("r").except(ys).emit("msg", { n: 2 }); // reaches x's session: replayed
    await s.hub.to("r").except(xs.id).emit("msg", { n: 3 }); // skips x's session: not replayed
    await s.hub.to("r").emit("msg", { n: 4 });
    await y.until(() => y.messages.length === 3);
    const x2 = await Proto.open(s, ["r"], saved);
    await x2.joined("r");
    const again = (await s.joins.recv()).value!.socket;
    expect(again.id).toBe(xs.id);
    x2.emit("say", { room: "r", n: 5 }); // live: except(again) skips it, same id
    await y.until(() => y.messages.length === 4);
    await s.hub.to("r").emit("msg", { n: 6 });
    await x2.until(() => ns(x2).includes(6));
    expect(ns(x2)).toEqual([2, 4, 6]);
    await y.until(() => ns(y).includes(6));
    expect(ns(y)).toEqual([1, 3, 4, 5, 6]);
  });

  it("an altered, foreign or expired token starts a fresh session, never someone else's", async () => {
    const s = await startRecovery({ history: { size: 10, ttl: 400 } });
    const saved: Saved = { rooms: {} };
    const a = await Proto.open(s, ["r"], saved);
    await a.joined("r");
    const id = (await s.joins.recv()).value!.socket.id;
    const token = saved.token!;
    const [idPart, expires, sig] = token.split(".") as [string, string, string];
    const otherId = Buffer.from("someone-else").toString("base64url");
    const foreignSig = createHmac("sha256", "another secret of 32 characters!")
      .update(`${idPart}.${expires}`)
      .digest("base64url");
    const bad = [
      `${otherId}.${expires}.${sig}`, // altered id
      `${idPart}.${Number(expires) + 100000}.${sig}`, // altered expiry
      `${idPart}.${expires}.${foreignSig}`, // signed with another secret
      `${idPart}.${expires}`, // malformed
      "x".repeat(600),
    ];
    await a.drop();
    for (const t of bad) {
      const b = await Proto.open(s, ["r"], { token: t, rooms: {} });
      await b.joined("r");
      const got = (await s.joins.recv()).value!.socket.id;
      expect([t.slice(0, 30), got === id]).toEqual([t.slice(0, 30), false]);
      expect((b.frames[0]!.data as { id: string }).id).toBe(got);
      await b.drop();
    }
    // The genuine one works until it expires (ttl 400 ms).
    const ok = await Proto.open(s, ["r"], { token, rooms: {} });
    await ok.joined("r");
    expect((await s.joins.recv()).value!.socket.id).toBe(id);
    await ok.drop();
    await sleep(500);
    const late = await Proto.open(s, ["r"], { token, rooms: {} });
    await late.joined("r");
    expect((await s.joins.recv()).value!.socket.id).not.toBe(id);
  });

  it("a token is valid in another process with the same secret, and refused by one with another", async () => {
    const secret = "a shared secret of enough bytes!";
    const one = await startRecovery({ history: HISTORY, secret });
    const two = await startRecovery({ history: HISTORY, secret });
    const three = await startRecovery({
      history: HISTORY,
      secret: "some other secret, long enough",
    });
    const saved: Saved = { rooms: {} };
    const a = await Proto.open(one, ["r"], saved);
    await a.joined("r");
    const id = (await one.joins.recv()).value!.socket.id;
    const token = saved.token!;
    await a.drop();
    const b = await Proto.open(two, ["r"], { token, rooms: {} });
    await b.joined("r");
    expect((await two.joins.recv()).value!.socket.id).toBe(id);
    const c = await Proto.open(three, ["r"], { token, rooms: {} });
    await c.joined("r");
    expect((await three.joins.recv()).value!.socket.id).not.toBe(id);
  });

  it("renews the token of a live connection every ttl/2, for the same id", async () => {
    const s = await startRecovery({ history: { size: 10, ttl: 2000 } });
    const a = await Proto.open(s, ["r"]);
    await a.joined("r");
    await a.until(() => a.frames.filter((f) => f.event === "$session").length >= 2, 5000);
    const [one, two] = a.frames.filter((f) => f.event === "$session");
    expect((two!.data as { id: string }).id).toBe((one!.data as { id: string }).id);
    expect((two!.data as { token: string }).token).not.toBe((one!.data as { token: string }).token);
  });

  it("a live session's id is not given to a second socket presenting its token", async () => {
    const s = await startRecovery({ history: HISTORY });
    const saved: Saved = { rooms: {} };
    const a = await Proto.open(s, ["r"], saved);
    await a.joined("r");
    const id = (await s.joins.recv()).value!.socket.id;
    const b = await Proto.open(s, ["r"], { token: saved.token!, rooms: {} });
    await b.joined("r");
    expect((await s.joins.recv()).value!.socket.id).not.toBe(id);
    expect(s.hub.get(id)).toBeDefined();
  });

  it("a token and positions from another room set gain nothing the handler does not join", async () => {
    const s = await startRecovery({ history: HISTORY });
    const insider: Saved = { rooms: {} };
    const a = await Proto.open(s, ["private"], insider);
    await a.joined("private");
    await s.joins.recv();
    for (let n = 1; n <= 3; n++) await s.hub.to("private").emit("msg", { n });
    await a.until(() => a.messages.length === 3);
    // Someone presents the private room's position (and a token): the handler joins "public" only.
    const epoch = insider.rooms["private"]!.epoch;
    const b = await Proto.open(s, ["public"], {
      token: insider.token!,
      rooms: { private: { epoch, seq: 0 } },
    });
    await b.joined("public");
    const { value } = await s.joins.recv();
    await s.hub.to("private").emit("msg", { n: 4 });
    await s.hub.to("public").emit("msg", { n: 5 });
    await b.until(() => b.messages.length === 1);
    await sleep(50);
    expect(ns(b)).toEqual([5]);
    expect(b.find("$joined", "private")).toBeUndefined();
    expect(s.hub.rooms(value!.socket)).toEqual([value!.socket.id, "public"]);
  });
});

describe("bounds", () => {
  it("closes a member too slow for a room with history with 1013 (no holes), and it recovers", async () => {
    const s = await startRecovery(
      { history: { size: 5000, ttl: 60_000 } },
      { sendChannelBuffer: 4 },
    );
    const saved: Saved = { rooms: {} };
    const slow = await Proto.open(s, ["r"], saved);
    await slow.joined("r");
    await s.joins.recv();
    const sock = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    sock.pause(); // stops reading: the server's buffers fill
    const big = "x".repeat(64 * 1024);
    let n = 0;
    let dropped = 0;
    while (dropped === 0 && n < 4000) {
      const r = await s.hub.to("r").emit("msg", { n: ++n, room: big });
      dropped += r.dropped;
    }
    expect(dropped).toBe(1);
    sock.resume();
    expect(await slow.closed).toBe(1013);
    // Everything it got is gapless, and resuming brings the rest.
    const got = ns(slow);
    expect(got).toEqual(range(1, got.length));
    const back = await Proto.open(s, ["r"], saved);
    await back.joined("r");
    expect(back.find("$joined", "r")!.data).toMatchObject({ recovered: true, seq: n });
    await back.until(() => back.messages.length === n - got.length, 20_000);
    expect(ns(back)).toEqual(range(got.length + 1, n));
  });

  it("forgets every socket, room and log after churn once the history has expired", async () => {
    const s = await startRecovery({ history: { size: 50, ttl: 300 } });
    for (let round = 0; round < 5; round++) {
      const ps = await Promise.all(
        range(1, 20).map((i) => Proto.open(s, [`room-${i % 7}`, `solo-${round}-${i}`])),
      );
      for (let i = 0; i < 20; i++) await s.joins.recv();
      for (let n = 0; n < 30; n++) await s.hub.to(`room-${n % 7}`).emit("msg", { n });
      await Promise.all(ps.map((p) => p.drop()));
    }
    await sleep(100);
    expect(s.hub.internals).toEqual({ members: 0, ids: 0, rooms: 0 });
    expect(s.adapter.internals.kept).toBeLessThanOrEqual(7 * 50);
    await sleep(1000); // ttl, then the sweep
    expect(s.adapter.internals).toEqual({ rooms: 0, kept: 0 });
  });
});
