// Recovery across processes (API.md sections 6 and 8): a client that loses its connection to one
// server process and reconnects to another resumes there, with nothing missed and nothing twice,
// and keeps its session id (so except(socket) still skips it). Two real server processes on the
// machine's Redis, history kept in Redis, a shared secret; the client is a real ws client that
// speaks RECOVERY-PROTOCOL.md by hand.

import { randomBytes } from "node:crypto";
import { Member, Node, removeKeys, until } from "./helpers/redis-nodes";

const URL = "redis://127.0.0.1:6379";
jest.setTimeout(60_000);

interface Joined {
  room: string;
  epoch: string;
  seq: number;
  recovered: boolean;
}

describe("a client moved to another process resumes there", () => {
  const prefix = `es-test-${randomBytes(6).toString("hex")}`;
  let nodes: Node[] = [];
  const members: Member[] = [];

  beforeAll(async () => {
    nodes = await Promise.all([0, 1].map(() => Node.start(URL, prefix, 100)));
  });

  afterAll(async () => {
    for (const m of members) m.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await removeKeys(URL, prefix);
  });

  afterEach(() => {
    for (const n of nodes) expect(n.unhandled).toEqual([]);
  });

  it("replays every message published while it was away, in order, once, then live ones", async () => {
    const first = await Member.open(nodes[0]!.url(["h"], "c"));
    members.push(first);
    const session = first.named("$session")[0]!.data as { id: string; token: string };
    const joined = first.named("$joined")[0]!.data as Joined;
    expect(joined).toMatchObject({ room: "h", recovered: false });
    for (let n = 0; n < 3; n++)
      await nodes[1]!.value("emit", { rooms: ["h"], event: "m", data: n });
    await until(() => first.named("m").length === 3, 10_000, "live messages");
    const at = (e: { data: unknown }, m: Member) =>
      (
        m.events.find((x) => x.event === "m" && x.data === e.data) as unknown as {
          at: Record<string, [string, number]>;
        }
      ).at;
    const last = at(first.named("m")[2]!, first).h!;
    expect(last).toEqual([joined.epoch, joined.seq + 3]);
    first.close();
    await until(() => first.closeCode !== null, 10_000, "closed");
    for (let n = 3; n < 8; n++)
      await nodes[1]!.value("emit", { rooms: ["h"], event: "m", data: n });

    const resume = Buffer.from(
      JSON.stringify({ token: session.token, rooms: { h: { epoch: last[0], seq: last[1] } } }),
    ).toString("base64url");
    const again = await Member.open(`${nodes[1]!.url(["h"], "c")}&es_resume=${resume}`);
    members.push(again);
    expect((again.named("$session")[0]!.data as { id: string }).id).toBe(session.id);
    expect(again.named("$joined")[0]!.data).toMatchObject({ room: "h", recovered: true });
    await until(() => again.named("m").length === 5, 10_000, "the replay");
    expect(again.named("m").map((e) => e.data)).toEqual([3, 4, 5, 6, 7]);
    // live again, from the other process; and except(socket) skips the resumed id
    await nodes[0]!.value("emit", { rooms: ["h"], event: "m", data: 8 });
    await nodes[0]!.value("emit", { rooms: ["h"], except: [session.id], event: "m", data: 9 });
    await nodes[0]!.value("emit", { rooms: ["h"], event: "m", data: 10 });
    await until(() => again.named("m").length === 7, 10_000, "live after the replay");
    expect(again.named("m").map((e) => e.data)).toEqual([3, 4, 5, 6, 7, 8, 10]);
  });

  it("a position no longer kept, or of another epoch, is not recovered: nothing replayed", async () => {
    const c = await Member.open(nodes[0]!.url(["k"], "k"));
    members.push(c);
    const token = (c.named("$session")[0]!.data as { token: string }).token;
    c.close();
    for (let n = 0; n < 3; n++)
      await nodes[0]!.value("emit", { rooms: ["k"], event: "m", data: n });
    const resume = Buffer.from(
      JSON.stringify({ token, rooms: { k: { epoch: "not-this-one", seq: 1 } } }),
    ).toString("base64url");
    const again = await Member.open(`${nodes[1]!.url(["k"], "k")}&es_resume=${resume}`);
    members.push(again);
    expect(again.named("$joined")[0]!.data).toMatchObject({ room: "k", recovered: false, seq: 3 });
    await new Promise((r) => setTimeout(r, 300));
    expect(again.named("m")).toEqual([]);
  });
});
