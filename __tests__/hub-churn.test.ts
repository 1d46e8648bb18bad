// Hub churn: 10,000 real connections join two of 100 rooms each and close; then the hub's maps
// are empty and the heap is back near where it started. Measured in a fresh process (the
// fixture, on dist/) because a jest worker's heap also holds what its other suites did.

import { execFile } from "node:child_process";
import path from "node:path";

interface Churn {
  internals: { members: number; ids: number; rooms: number };
  size: number;
  open: number;
  joined: number;
  received: number;
  growth: number;
}

function churn(n: number, rooms: number): Promise<Churn> {
  const script = path.join(__dirname, "fixtures", "hub-churn.js");
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--expose-gc", script, String(n), String(rooms)],
      { timeout: 170_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        resolve(JSON.parse(stdout.trim()) as Churn);
      },
    );
  });
}

describe("Hub churn", () => {
  // Measured: 0.5-0.65 MB of growth whether 2,000, 10,000 or 20,000 sockets churned (a fixed
  // cost, not per socket). A leak of 100 B per socket would add 1 MB.
  it("forgets 10,000 sockets that joined and closed across 100 rooms: empty maps, heap back near its start", async () => {
    const r = await churn(10_000, 100);
    expect(r.joined).toBe(11_000); // 1,000 of warm-up
    expect(r.received).toBeGreaterThan(0); // the rooms delivered while they were full
    expect(r.open).toBe(0);
    expect(r.size).toBe(0);
    expect(r.internals).toEqual({ members: 0, ids: 0, rooms: 0 });
    expect(r.growth).toBeLessThan(1.5 * 1024 * 1024);
  }, 180_000);
});
