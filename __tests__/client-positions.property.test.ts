// Property test of the client's recovery rules (client/positions.ts) against a model hub that
// follows the protocol: random room messages (to one or several rooms), lost frames (a gap),
// disconnects, reconnects that resume every room (joined in a random order, each `$joined`
// followed by its replay), and history losses. The client must never deliver a message twice,
// must deliver every message when no history was lost, and keeps each room's order when
// messages go to one room each.

import fc from "fast-check";
import { Positions, type At } from "../client/positions";

const ROOMS = ["a", "b", "c"] as const;
type Room = (typeof ROOMS)[number];

type Cmd =
  | { t: "send"; rooms: Room[] }
  | { t: "lose" }
  | { t: "disconnect" }
  | { t: "reconnect"; order: Room[] }
  | { t: "reset"; room: Room };

interface Msg {
  id: number;
  at: At;
}

function run(cmds: Cmd[]): { sent: Msg[]; delivered: number[]; resets: number } {
  const epoch: Record<string, string> = { a: "a0", b: "b0", c: "c0" };
  const seq: Record<string, number> = { a: 0, b: 0, c: 0 };
  const history: Record<string, Msg[]> = { a: [], b: [], c: [] };
  const sent: Msg[] = [];
  const delivered: number[] = [];
  const pos = new Positions("k", null);
  let online = false;
  let loseNext = false;
  let resets = 0;

  /** One frame reaching the client; true when it must resume (a gap). */
  const receive = (m: Msg): boolean => {
    const { deliver, gap } = pos.accept(m.at);
    if (deliver) delivered.push(m.id);
    return gap;
  };

  const connect = (order: readonly Room[]): void => {
    pos.reset();
    online = true;
    const resume = pos.resume();
    const presented: Record<string, { epoch: string; seq: number }> =
      resume === undefined
        ? {}
        : (JSON.parse(Buffer.from(resume, "base64url").toString()).rooms ?? {});
    for (const room of order) {
      const p = presented[room];
      const kept = history[room]!;
      const ok = p !== undefined && p.epoch === epoch[room];
      pos.joined(room, epoch[room], seq[room], ok);
      if (!ok) continue;
      for (const m of kept) {
        if (m.at[room]![1] > p.seq && receive(m)) return reconnect(order);
      }
    }
  };
  const reconnect = (order: readonly Room[]): void => {
    online = false;
    connect(order);
  };

  connect(ROOMS);
  for (const c of cmds) {
    if (c.t === "send") {
      const at: At = {};
      for (const r of c.rooms) at[r] = [epoch[r]!, ++seq[r]!];
      const m = { id: sent.length, at };
      sent.push(m);
      for (const r of c.rooms) history[r]!.push(m);
      if (!online) continue;
      if (loseNext) {
        loseNext = false;
        continue;
      }
      if (receive(m)) reconnect(ROOMS);
    } else if (c.t === "lose") loseNext = true;
    else if (c.t === "disconnect") online = false;
    else if (c.t === "reconnect") connect(c.order);
    else {
      resets++;
      epoch[c.room] = `${c.room}${resets}`;
      seq[c.room] = 0;
      history[c.room] = [];
    }
  }
  connect(ROOMS); // come back at the end: catch up
  return { sent, delivered, resets };
}

const rooms = fc.subarray([...ROOMS], { minLength: 1 });
const order = fc.shuffledSubarray([...ROOMS], { minLength: 3, maxLength: 3 });
const cmd = (multi: boolean, resets: boolean): fc.Arbitrary<Cmd> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: (multi ? rooms : fc.constantFrom(...ROOMS).map((r) => [r])).map((r) => ({
        t: "send" as const,
        rooms: r,
      })),
    },
    { weight: 1, arbitrary: fc.constant({ t: "lose" as const }) },
    { weight: 1, arbitrary: fc.constant({ t: "disconnect" as const }) },
    { weight: 1, arbitrary: order.map((o) => ({ t: "reconnect" as const, order: o })) },
    {
      weight: resets ? 1 : 0,
      arbitrary: fc.constantFrom(...ROOMS).map((room) => ({ t: "reset" as const, room })),
    },
  );

describe("client recovery rules (model hub)", () => {
  it("delivers every message exactly once when no history is lost, with messages to several rooms", () => {
    fc.assert(
      fc.property(fc.array(cmd(true, false), { maxLength: 60 }), (cmds) => {
        const { sent, delivered } = run(cmds);
        expect([...delivered].sort((x, y) => x - y)).toEqual(sent.map((m) => m.id));
      }),
      { numRuns: 300 },
    );
  });

  it("keeps each room's order when every message goes to one room", () => {
    fc.assert(
      fc.property(fc.array(cmd(false, false), { maxLength: 60 }), (cmds) => {
        const { sent, delivered } = run(cmds);
        expect(delivered).toHaveLength(sent.length);
        for (const room of ROOMS) {
          const ids = delivered.filter((id) => room in sent[id]!.at);
          expect(ids).toEqual([...ids].sort((x, y) => x - y));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("never delivers a message twice, even when histories are lost (recovered: false)", () => {
    fc.assert(
      fc.property(fc.array(cmd(true, true), { maxLength: 60 }), (cmds) => {
        const { delivered } = run(cmds);
        expect(new Set(delivered).size).toBe(delivered.length);
      }),
      { numRuns: 300 },
    );
  });
});
