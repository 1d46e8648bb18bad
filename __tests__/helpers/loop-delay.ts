// Test helper: the event loop's delay (monitorEventLoopDelay) compared with the machine's own
// jitter at the same moment. Tests may run on shared, loaded machines: the delay a scenario adds
// is judged against a control process that measures its own idle loop during the same window
// (so both see the same CPU contention), not against an absolute number alone.

import { spawn } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";

const RESOLUTION = 5;

const CONTROL = `
  const { monitorEventLoopDelay } = require("node:perf_hooks");
  const h = monitorEventLoopDelay({ resolution: ${RESOLUTION} });
  h.enable();
  process.stdout.write("ready\\n");
  process.stdin.resume();
  process.stdin.on("end", () => {
    h.disable();
    process.stdout.write(String(h.percentile(99) / 1e6) + "\\n");
    process.exit(0);
  });
`;

export interface LoopDelay {
  /** The p99 loop delay in ms of this process and of the idle control process, same window. */
  stop(): Promise<{ p99: number; control: number }>;
}

/** Starts measuring this process's loop delay and, alongside, an idle control process's. */
export async function measureLoopDelay(): Promise<LoopDelay> {
  const child = spawn(process.execPath, ["-e", CONTROL], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (s: string) => (out += s));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  while (!out.includes("ready\n")) await new Promise((r) => setTimeout(r, 5));
  const h = monitorEventLoopDelay({ resolution: RESOLUTION });
  h.enable();
  return {
    async stop() {
      h.disable();
      child.stdin.end();
      await exited;
      const control = Number(out.split("\n")[1]);
      return { p99: h.percentile(99) / 1e6, control: Number.isFinite(control) ? control : 0 };
    },
  };
}
