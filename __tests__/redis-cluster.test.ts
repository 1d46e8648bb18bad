// One hub across real processes on the machine's Redis: three server processes (Express,
// attach(), a Hub on redisAdapter), real ws clients spread across them. Room messages reach
// members on every process, except() holds across processes, count/fetch/disconnect see every
// process, a killed process is forgotten within its heartbeat ttl and never hangs a call, and
// close() leaves no key behind.

import { randomBytes } from "node:crypto";
import { createClient } from "redis";
import { keysOf, Member, Node, removeKeys, until } from "./helpers/redis-nodes";

const URL = "redis://127.0.0.1:6379";
jest.setTimeout(60_000);

describe("redisAdapter across three processes", () => {
  const prefix = `es-test-${randomBytes(6).toString("hex")}`;
  let nodes: Node[] = [];
  const members: Member[] = [];

  beforeAll(async () => {
    nodes = await Promise.all([0, 1, 2].map(() => Node.start(URL, prefix)));
  });

  afterAll(async () => {
    for (const m of members) m.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await removeKeys(URL, prefix);
  });

  afterEach(() => {
    for (const n of nodes) expect(n.unhandled).toEqual([]);
  });

  it("a room message reaches its members on every process, once, and no one else", async () => {
    const a = await Member.open(nodes[0]!.url(["red"], "a"));
    const b = await Member.open(nodes[1]!.url(["red"], "b"));
    const c = await Member.open(nodes[2]!.url(["blue"], "c"));
    const d = await Member.open(nodes[2]!.url(["red", "blue"], "d"));
    members.push(a, b, c, d);
    const r = await nodes[2]!.value<{ delivered: number }>("emit", {
      rooms: ["red"],
      event: "hi",
      data: { n: 1 },
    });
    expect(r.delivered).toBe(1); // this process's count: d
    await until(() => [a, b, d].every((m) => m.named("hi").length === 1), 10_000, "red members");
    // to two rooms: d is in both and gets one copy; c (blue) gets it too
    await nodes[0]!.value("emit", { rooms: ["red", "blue"], event: "both", data: 2 });
    await until(() => [a, b, c, d].every((m) => m.named("both").length === 1), 10_000, "both");
    await new Promise((r) => setTimeout(r, 300));
    expect(c.named("hi")).toEqual([]);
    expect(d.named("both")).toHaveLength(1);
    // every socket, from any process
    await nodes[1]!.value("emit", { rooms: null, event: "all", data: 3 });
    await until(() => [a, b, c, d].every((m) => m.named("all").length === 1), 10_000, "all");
    // to one socket id on another process
    await nodes[0]!.value("emit", { rooms: [c.id], event: "you", data: 4 });
    await until(() => c.named("you").length === 1, 10_000, "socket id");
    await new Promise((r) => setTimeout(r, 200));
    expect([a, b, d].map((m) => m.named("you").length)).toEqual([0, 0, 0]);
  });

  it("except(socket) holds across processes", async () => {
    const a = await Member.open(nodes[0]!.url(["green"], "a"));
    const b = await Member.open(nodes[1]!.url(["green"], "b"));
    const c = await Member.open(nodes[2]!.url(["green"], "c"));
    members.push(a, b, c);
    a.ws.send(JSON.stringify({ event: "say", data: { room: "green", text: "from a" } }));
    await until(() => b.named("said").length === 1 && c.named("said").length === 1, 10_000, "said");
    await new Promise((r) => setTimeout(r, 300));
    expect(a.named("said")).toEqual([]);
    expect(b.named("said")[0]!.data).toEqual({ from: a.id, text: "from a" });
    // except by id, published on a third process
    await nodes[2]!.value("emit", { rooms: ["green"], except: [b.id], event: "x", data: 1 });
    await until(() => a.named("x").length === 1 && c.named("x").length === 1, 10_000, "x");
    await new Promise((r) => setTimeout(r, 200));
    expect(b.named("x")).toEqual([]);
  });

  it("count, fetch and disconnect see every process", async () => {
    const ms = await Promise.all(
      [0, 1, 2, 0, 1].map((i, k) => Member.open(nodes[i]!.url(["yellow"], `y${k}`))),
    );
    members.push(...ms);
    expect(await nodes[0]!.value("count", { room: "yellow" })).toBe(5);
    const fetched = await nodes[1]!.value<{ id: string; rooms: string[]; name: string }[]>(
      "fetch",
      { room: "yellow" },
    );
    expect(fetched.map((s) => s.name).sort()).toEqual(["y0", "y1", "y2", "y3", "y4"]);
    expect(fetched.find((s) => s.name === "y2")!.rooms).toEqual([ms[2]!.id, "yellow"]);
    // one socket by id on another process, then the whole room
    expect(await nodes[0]!.value("disconnect", { idOrRoom: ms[2]!.id, code: 4001 })).toBe(1);
    await until(() => ms[2]!.closeCode === 4001, 10_000, "closed by id");
    expect(await nodes[2]!.value("disconnect", { idOrRoom: "yellow", code: 4002 })).toBe(4);
    await until(() => ms.every((m) => m.closeCode !== null), 10_000, "room closed");
    expect(ms.filter((m) => m.closeCode === 4002)).toHaveLength(4);
    expect(await nodes[1]!.value("count", { room: "yellow" })).toBe(0);
  });

  it("a killed process is forgotten within its heartbeat ttl, and calls never hang on it", async () => {
    const extra = await Node.start(URL, prefix);
    const m = await Member.open(extra.url(["purple"], "p"));
    members.push(m);
    expect(await nodes[0]!.value("count", { room: "purple" })).toBe(1);
    extra.kill();
    // Right away: the dead process is not waited on (its connection is gone), so the call answers.
    const t0 = Date.now();
    const r = await nodes[0]!.call("count", { room: "purple" });
    expect(Date.now() - t0).toBeLessThan(3000);
    if (r.ok) expect(r.value).toBe(0);
    else expect(r.error!.code).toBe("ERR_HUB_TIMEOUT");
    // Within the ttl (3 x 500 ms), the registry has forgotten it: calls succeed again.
    await new Promise((res) => setTimeout(res, 2000));
    expect(await nodes[1]!.value("count", { room: "purple" })).toBe(0);
    expect(await nodes[1]!.value("count")).toBeGreaterThan(0);
  });

  it("close() unsubscribes and removes this process's heartbeat entry", async () => {
    const extra = await Node.start(URL, prefix);
    const m = await Member.open(extra.url(["orange"], "o"));
    expect(await nodes[0]!.value("count", { room: "orange" })).toBe(1);
    const id = await extra.value<string>("id");
    await extra.value("close");
    m.close();
    const c = createClient({ url: URL });
    await c.connect();
    try {
      expect(await c.zScore(`${prefix}:procs`, id)).toBeNull();
      const subs = (await c.sendCommand(["PUBSUB", "NUMSUB", `${prefix}:r:orange`])) as unknown[];
      expect(Number(subs[1])).toBe(0);
    } finally {
      await c.quit();
      await extra.stop();
    }
  });

  it("without history, no key is kept but the live-process set", async () => {
    const keys = await keysOf(URL, prefix);
    expect(keys).toEqual([`${prefix}:procs`]);
  });
});
