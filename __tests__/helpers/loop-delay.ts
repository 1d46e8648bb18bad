// Test helper: the event loop's delay (monitorEventLoopDelay), and the same machine's own jitter
// to compare it with. The machines tests run on may be shared and loaded: a bound on the delay a
// scenario adds is "the target above what an idle loop shows right now", not an absolute number.

import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

const RESOLUTION = 5;

/** Starts measuring; `stop()` returns the p99 delay in ms. */
export function measureLoopDelay(): { stop(): number; histogram: IntervalHistogram } {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION });
  h.enable();
  return {
    histogram: h,
    stop() {
      h.disable();
      return h.percentile(99) / 1e6;
    },
  };
}

/** The p99 delay of this process's loop with nothing of the test running, over `ms`. */
export async function idleLoopDelay(ms = 1000): Promise<number> {
  const m = measureLoopDelay();
  await new Promise((r) => setTimeout(r, ms));
  return m.stop();
}
