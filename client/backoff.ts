// Reconnect delays: exponential backoff with full jitter (AWS's "Exponential Backoff And Jitter"),
// the first retry jittered too, so a server restart does not bring every page back at once.

/** How the client waits between connection attempts. */
export interface ReconnectOptions {
  /** The first retry waits a random time below this, in ms. Defaults to `1000`. */
  delay?: number;
  /** No wait is longer than this, in ms. Defaults to `30000`. */
  maxDelay?: number;
  /** Each failed attempt multiplies the window by this. Defaults to `2`. */
  factor?: number;
}

/** The wait before retry number `attempt` (0 for the first): uniform in [0, min(max, delay * factor^attempt)). */
export function backoff(attempt: number, o: Required<ReconnectOptions>): number {
  return Math.floor(Math.random() * Math.min(o.maxDelay, o.delay * o.factor ** attempt));
}
