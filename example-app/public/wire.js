// A small client for sockets.events() routes, written by hand from PROTOCOL.md: `{"event",
// "data", "ack"}` frames, answers by ack id, and a reconnect with full-jitter backoff. It has the
// shape of `express-sockets/client` (connect, on, emit, request, onStatus, close), so the page can
// switch to that client by changing its import.

/** Close codes after which the server means "do not come back" (the client's own list). */
const FINAL = new Set([1000, 1002, 1003, 1007, 1008, 1009, 1010]);
const isFinal = (code) => FINAL.has(code) || (code >= 4000 && code <= 4099);

/** An error answer or a local failure, with the protocol's `code`. */
class ClientError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "ClientError";
    this.code = code;
  }
}

/**
 * Connects to the events route at `path` (relative to the page) and keeps connecting:
 * `{ on, emit, request, onStatus, close, status }`.
 */
export function connect(path, options = {}) {
  const { delay = 500, maxDelay = 5000 } = options.reconnect ?? {};
  const requestTimeout = options.requestTimeout ?? 10_000;
  const queueSize = options.queueSize ?? 100;
  const url = new URL(path, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";

  const listeners = new Map(); // event name -> Set of functions
  const statusListeners = new Set();
  const pending = new Map(); // ack id -> { resolve, reject, timer }
  const queue = []; // frames written while away, sent in order once open (bounded)
  let nextAck = 0;
  let socket;
  let attempt = 0;
  let retry;
  let stopped = false;
  let status = "connecting";

  const setStatus = (next, close) => {
    status = next;
    for (const fn of statusListeners) fn(next, close);
  };
  const write = (frame) => {
    const text = JSON.stringify(frame);
    if (socket?.readyState === WebSocket.OPEN) socket.send(text);
    else {
      queue.push(text);
      if (queue.length > queueSize) queue.shift(); // the oldest goes: it is the stalest
    }
  };
  const settle = (id, error, data) => {
    const p = pending.get(id);
    if (p === undefined) return; // too late (timed out): dropped
    pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(data);
  };

  const onFrame = (text) => {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return; // the server sends JSON only; ignore anything else rather than break the page
    }
    if (m === null || typeof m !== "object") return;
    if (typeof m.event === "string") {
      // A request this page does not handle (or an unknown `$` control message) is refused, as
      // PROTOCOL.md asks, so the server does not wait for its timeout.
      if (Number.isSafeInteger(m.ack)) {
        write({
          ack: m.ack,
          error: { code: "ERR_NO_HANDLER", message: `no handler for ${m.event}` },
        });
      }
      if (m.event.startsWith("$")) return;
      for (const fn of listeners.get(m.event) ?? []) fn(m.data);
    } else if (Number.isSafeInteger(m.ack)) {
      const error = m.error && new ClientError(m.error.code, m.error.message);
      settle(m.ack, error, m.data);
    }
  };

  const open = () => {
    retry = undefined;
    const ws = new WebSocket(url);
    socket = ws;
    ws.onopen = () => {
      attempt = 0;
      setStatus("open");
      while (queue.length > 0 && ws.readyState === WebSocket.OPEN) ws.send(queue.shift());
    };
    ws.onmessage = (event) => onFrame(event.data);
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = undefined;
      // Requests that went out on this connection may or may not have been handled: say so.
      for (const id of [...pending.keys()]) {
        settle(id, new ClientError("ERR_DISCONNECTED", `connection lost (${event.code})`));
      }
      const close = { code: event.code, reason: event.reason };
      if (stopped || isFinal(event.code)) {
        stopped = true;
        setStatus("closed", close);
        return;
      }
      setStatus("reconnecting", close);
      // Full jitter, the first retry too: a restarted server does not get every page at once.
      const wait = Math.random() * Math.min(maxDelay, delay * 2 ** attempt++);
      retry = setTimeout(open, wait);
    };
  };
  open();

  return {
    get status() {
      return status;
    },
    /** Calls `fn(data)` for each `event`; returns the function that stops it. */
    on(event, fn) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(fn);
      return () => listeners.get(event).delete(fn);
    },
    /** Calls `fn(status, close?)` on every change: connecting, open, reconnecting, closed. */
    onStatus(fn) {
      statusListeners.add(fn);
      return () => statusListeners.delete(fn);
    },
    /** Sends an event; queued while disconnected. */
    emit(event, data) {
      if (!stopped) write({ event, data });
    },
    /** Sends a request and resolves with the server's answer (its ack), or rejects. */
    request(event, data, { timeout = requestTimeout } = {}) {
      if (stopped) return Promise.reject(new ClientError("ERR_CLOSED", "the client is closed"));
      const id = nextAck++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => settle(id, new ClientError("ERR_TIMEOUT", `no answer within ${timeout} ms`)),
          timeout,
        );
        pending.set(id, { resolve, reject, timer });
        write({ event, data, ack: id });
      });
    },
    /** Closes for good. */
    close() {
      stopped = true;
      clearTimeout(retry);
      if (socket === undefined) setStatus("closed");
      else socket.close(1000);
    },
  };
}
