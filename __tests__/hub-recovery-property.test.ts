// Property test of recovery (API.md section 6): random interleavings of room messages (to one
// room or several), disconnects and reconnects of several clients over several rooms, with
// reconnects racing new publications. For every client and every room, across all its
// connections: each message of the room is seen exactly once and in order (its seq is always
// the last one + 1, and the same seq carries the same message for everybody), or the client was
// told `recovered: false` for that room (and then counts on from the `$joined` seq); in the end
// every client has reached the room's last message.

import fc from "fast-check";
import { LocalAdapter, type Position, type Recovery } from "../lib/hub/index";
import { failOnUnhandledRejections } from "./helpers/no-unhandled";
import { closeRecovery, Proto, startRecovery, type Saved } from "./helpers/recovery";

failOnUnhandledRejections();
afterEach(closeRecovery);

const ROOMS = ["a", "b", "c"] as const;
const CLIENTS: readonly (readonly string[])[] = [["a"], ["a", "b"], ["b", "c"], ["a", "b", "c"]];

type Step =
  | { kind: "publish"; rooms: string[] }
  | { kind: "drop"; client: number }
  | { kind: "reconnect"; client: number }
  | { kind: "tick" }
  | { kind: "sleep" };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .subarray([...ROOMS], { minLength: 1 })
      .map((rooms) => ({ kind: "publish" as const, rooms })),
  },
  {
    weight: 1,
    arbitrary: fc.nat(CLIENTS.length - 1).map((client) => ({ kind: "drop" as const, client })),
  },
  {
    weight: 1,
    arbitrary: fc.nat(CLIENTS.length - 1).map((client) => ({ kind: "reconnect" as const, client })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "tick" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "sleep" as const }) },
);

/**
 * Applies the client rule of RECOVERY-PROTOCOL.md §4 to one client's frames over all its
 * connections and checks it: no gap ever (a joined room's seq is never past last + 1), and the
 * app gets each message at most once (delivered when it advanced a joined room that had not
 * already seen it). Returns the last seq per room.
 */
function check(
  connections: Proto[],
  rooms: readonly string[],
  bySeq: Map<string, number>,
): Map<string, number> {
  const last = new Map<string, number>();
  /** Seqs at or below this were skipped by a `recovered: false`: never seen, veto nothing. */
  const reset = new Map<string, number>();
  const delivered = new Set<number>();
  for (const p of connections) {
    const joined = new Set<string>();
    for (const f of p.frames) {
      if (f.event === "$joined") {
        const d = f.data as { room: string; seq: number; recovered: boolean };
        joined.add(d.room);
        // Recovered: the replay continues from where this client was. Not: it counts on from seq.
        if (!d.recovered || !last.has(d.room)) {
          last.set(d.room, d.seq);
          reset.set(d.room, d.seq);
        }
        continue;
      }
      if (f.at === undefined) continue;
      const n = (f.data as { n: number }).n;
      let advanced = false;
      let seen = false;
      for (const room of rooms) {
        const at = f.at[room];
        // A room not joined yet on this connection is ignored (§4): a replay of room a may
        // carry b's position too; b's own replay brings the message again.
        if (at === undefined || !joined.has(room)) continue;
        const key = `${room}:${at[0]}:${at[1]}`;
        const known = bySeq.get(key);
        if (known === undefined) bySeq.set(key, n);
        else expect([key, n]).toEqual([key, known]); // one seq, one message, for everybody
        const l = last.get(room)!;
        expect([room, "no gap", at[1] <= l + 1]).toEqual([room, "no gap", true]);
        if (at[1] === l + 1) {
          last.set(room, at[1]);
          advanced = true;
        } else if (at[1] > reset.get(room)!) seen = true;
      }
      if (advanced && !seen) {
        expect(["delivered twice", n, delivered.has(n)]).toEqual(["delivered twice", n, false]);
        delivered.add(n);
      }
    }
  }
  return last;
}

/** The in-process adapter, answering `recover` a few turns of the event loop late. */
class LateRecover extends LocalAdapter {
  constructor(private readonly turns: number) {
    super();
  }
  override async recover(room: string, since: Position): Promise<Recovery> {
    for (let i = 0; i < this.turns; i++) await new Promise((r) => setImmediate(r));
    return super.recover(room, since);
  }
}

describe("recovery, property", () => {
  it("every client sees each room's messages exactly once in order, or is told recovered: false", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 5, maxLength: 60 }),
        fc.integer({ min: 3, max: 40 }),
        fc.nat(3),
        async (steps, size, late) => {
          const s = await startRecovery(
            { history: { size, ttl: 60_000 } },
            { adapter: new LateRecover(late) },
          );
          try {
            const saved: Saved[] = CLIENTS.map(() => ({ rooms: {} }));
            const conns: Proto[][] = CLIENTS.map(() => []);
            const live: (Proto | null)[] = [];
            for (let i = 0; i < CLIENTS.length; i++) {
              const p = await Proto.open(s, [...CLIENTS[i]!], saved[i]);
              conns[i]!.push(p);
              live.push(p);
              await p.joined(...CLIENTS[i]!);
            }
            let n = 0;
            for (const st of steps) {
              if (st.kind === "publish") await s.hub.to(st.rooms).emit("msg", { n: ++n });
              else if (st.kind === "tick") await new Promise((r) => setImmediate(r));
              else if (st.kind === "sleep") await new Promise((r) => setTimeout(r, 2));
              else if (st.kind === "drop") {
                const p = live[st.client];
                if (p != null) {
                  live[st.client] = null;
                  await p.drop();
                }
              } else if (live[st.client] == null) {
                // Not waiting for its join: publications race the replay.
                const p = await Proto.open(s, [...CLIENTS[st.client]!], saved[st.client]);
                conns[st.client]!.push(p);
                live[st.client] = p;
              }
            }
            for (let i = 0; i < CLIENTS.length; i++) {
              if (live[i] == null) {
                const p = await Proto.open(s, [...CLIENTS[i]!], saved[i]);
                conns[i]!.push(p);
                live[i] = p;
              }
              await live[i]!.joined(...CLIENTS[i]!);
            }
            // A last message per room: every client must reach it.
            const end = new Map<string, number>();
            for (const room of ROOMS) {
              await s.hub.to(room).emit("msg", { n: ++n });
              end.set(room, n);
            }
            const bySeq = new Map<string, number>();
            for (let i = 0; i < CLIENTS.length; i++) {
              const p = live[i]!;
              await p.until(
                () =>
                  CLIENTS[i]!.every((room) =>
                    p.messages.some((f) => (f.data as { n: number }).n === end.get(room)),
                  ),
                10_000,
                `client ${i} reaching the end`,
              );
              const last = check(conns[i]!, CLIENTS[i]!, bySeq);
              for (const room of CLIENTS[i]!) {
                const final = p.messages.find(
                  (f) => (f.data as { n: number }).n === end.get(room),
                )!;
                expect([i, room, last.get(room)]).toEqual([i, room, final.at![room]![1]]);
              }
            }
          } finally {
            await closeRecovery();
          }
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});
