// Redis trouble while real server processes (Express, attach(), Hub on redisAdapter) serve real
// ws clients, on a redis-server of this file's own (no persistence) that the tests kill, restart
// and pause: messages keep flowing here, every process resubscribes, nothing arrives twice,
// cross-process calls reject within their timeout instead of hanging, what waits is bounded,
// and the outage is logged once.

import { randomBytes } from "node:crypto";
import { Member, Node, OwnRedis, until } from "./helpers/redis-nodes";

jest.setTimeout(90_000);

interface Burst {
  i: number;
  seq: number;
}

async function untilAsync(check: () => Promise<boolean>, timeout = 10_000): Promise<void> {
  const end = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 100));
  }
}

function numbers(m: Member, event: string): number[] {
  return m.named(event).map((e) => (e.data as Burst).i);
}

describe("Redis restarted and paused under two server processes", () => {
  let redis: OwnRedis;
  let nodes: Node[] = [];
  const prefix = `es-test-${randomBytes(6).toString("hex")}`;
  const members: Member[] = [];

  beforeAll(async () => {
    redis = await OwnRedis.start();
    nodes = await Promise.all([0, 1].map(() => Node.start(redis.url, prefix)));
  });

  afterAll(async () => {
    for (const m of members) m.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await redis.kill();
  });

  afterEach(() => {
    for (const n of nodes) expect(n.unhandled).toEqual([]);
  });

  it("restarted while messages flow: publishing goes on, both processes resubscribe, nothing twice", async () => {
    const m0 = await Member.open(nodes[0]!.url(["f"], "m0"));
    const m1 = await Member.open(nodes[1]!.url(["f"], "m1"));
    members.push(m0, m1);
    const burst = nodes[0]!.value<number>("burst", { room: "f", n: 1000, event: "b" });
    await until(() => m1.named("b").length >= 20, 10_000, "messages flowing");
    await redis.kill();
    await new Promise((r) => setTimeout(r, 300));
    await redis.start();
    expect(await burst).toBe(1000); // every publish resolved: none hung, none threw
    // No duplicates, and this process's member got every one (delivered here while Redis was away).
    expect(new Set(numbers(m0, "b")).size).toBe(numbers(m0, "b").length);
    expect(new Set(numbers(m1, "b")).size).toBe(numbers(m1, "b").length);
    await until(
      () => numbers(m0, "b").length === 1000,
      10_000,
      "all 1000 on the publishing process",
    );
    // Resubscribed on both: messages from each process reach the other's member again.
    const deadline = Date.now() + 15_000;
    let k = 0;
    while (!(m1.named("after0").length > 0 && m0.named("after1").length > 0)) {
      if (Date.now() > deadline) throw new Error("not resubscribed");
      await nodes[0]!.call("emit", { rooms: ["f"], event: "after0", data: k });
      await nodes[1]!.call("emit", { rooms: ["f"], event: "after1", data: k++ });
      await new Promise((r) => setTimeout(r, 200));
    }
    // Each of those reached each member at most once.
    const once = (m: Member, e: string) =>
      new Set(m.named(e).map((x) => x.data)).size === m.named(e).length;
    expect(
      once(m0, "after0") && once(m1, "after0") && once(m0, "after1") && once(m1, "after1"),
    ).toBe(true);
    const logs = await nodes[0]!.value<string[]>("logs");
    expect(logs.filter((l) => l.includes("Redis is away")).length).toBe(1);
  });

  it("paused (SIGSTOP): calls reject within their timeout, local delivery goes on, waits stay bounded", async () => {
    const m0 = await Member.open(nodes[0]!.url(["p"], "m0"));
    const m1 = await Member.open(nodes[1]!.url(["p"], "m1"));
    members.push(m0, m1);
    // After the restart above, every process is back in the live set within a heartbeat.
    await untilAsync(async () => (await nodes[0]!.call("count", { room: "p" })).value === 2);
    redis.pause();
    try {
      const t0 = Date.now();
      const r = await nodes[0]!.call("count", { room: "p" });
      const took = Date.now() - t0;
      expect(r.ok).toBe(false);
      expect(["ERR_HUB_TIMEOUT", "ERR_HUB_ADAPTER"]).toContain(r.error!.code);
      expect(took).toBeLessThan(1500 + 2000); // the hub's timeout is 1500 ms
      // Publishing goes on here: 40 messages, all delivered to this process's member.
      const sent = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          nodes[0]!.call("emit", { rooms: ["p"], event: "paused", data: i }),
        ),
      );
      expect(sent.every((s) => s.ok)).toBe(true);
      await until(() => m0.named("paused").length === 40, 10_000, "local delivery");
      const inside = await nodes[0]!.value<{ pending: number; requests: number }>("internals");
      expect(inside.pending).toBe(0);
      expect(inside.requests).toBe(0);
    } finally {
      redis.resume();
    }
    // Back: calls answer again, and nothing that waited stays.
    const end = Date.now() + 15_000;
    for (;;) {
      const r = await nodes[1]!.call("count", { room: "p" });
      if (r.ok) {
        expect(r.value).toBe(2);
        break;
      }
      if (Date.now() > end) throw new Error(`count still fails: ${r.error!.message}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    // The commands queued while paused ran late: their copies are not delivered a second time.
    await new Promise((r) => setTimeout(r, 500));
    const seen = m0.named("paused").map((e) => e.data);
    expect(new Set(seen).size).toBe(seen.length);
    for (const n of nodes) {
      const inside = await n.value<{ pending: number; requests: number; givenUp: number }>(
        "internals",
      );
      expect(inside.pending).toBe(0);
      expect(inside.requests).toBe(0);
      expect(inside.givenUp).toBeLessThanOrEqual(40);
    }
  });
});
