// Load-generator transport for every ws-compatible contender: the `ws` client. Frames go out
// with an all-zero mask (ws then skips the XOR), so the generator spends its CPU on the
// protocol and not on masking: the server still does its full unmasking work.
"use strict";

const { URLSearchParams } = require("node:url");
const { WebSocket } = require("ws");

const zeroMask = (mask) => mask.fill(0);

/** The URL of `route` on a server listening on `port`. */
function url(port, route) {
  return `ws://127.0.0.1:${port}${route}`;
}

/** What `send` takes: text frames are sent from a prepared Buffer, never re-encoded. */
function prepare(text) {
  return Buffer.from(text);
}

/**
 * Opens one connection; resolves once open, rejects on an HTTP refusal, an error or timeout.
 * `onMessage(data)` gets each message as a Buffer. With `onRequest(data)`, every message is a
 * server request of the events protocol (PROTOCOL.md), `{"event","data","ack"}`: it is parsed,
 * answered at once with `{"ack","data"}` (its data sent back), and `onRequest` gets its data.
 * `query` adds a query string to the URL.
 */
function open(target, { origin, onMessage, onRequest, query, timeoutMs }) {
  if (query) target += `?${new URLSearchParams(query)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target, {
      origin,
      handshakeTimeout: timeoutMs,
      perMessageDeflate: false,
      generateMask: zeroMask,
    });
    let closed;
    const whenClosed = new Promise((r) => (closed = r));
    ws.on("close", () => closed());
    ws.on("unexpected-response", (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`));
      ws.terminate();
    });
    ws.on("error", (err) => reject(err));
    // request(data): an events-protocol request {"event":"echo","data","ack"}; resolves with
    // the data of its answer {"ack","data"}.
    const pending = new Map();
    let nextAck = 0;
    if (onMessage) ws.on("message", onMessage);
    else if (!onRequest) {
      ws.on("message", (data) => {
        const m = JSON.parse(data.toString());
        const resolve = pending.get(m.ack);
        pending.delete(m.ack);
        if (resolve) resolve(m.data);
      });
    }
    if (onRequest) {
      ws.on("message", (data) => {
        const m = JSON.parse(data.toString());
        ws.send(JSON.stringify({ ack: m.ack, data: m.data }));
        onRequest(m.data);
      });
    }
    ws.on("open", () =>
      resolve({
        send: (data) => ws.send(data, { binary: false }),
        request(data) {
          const ack = nextAck++;
          ws.send(JSON.stringify({ event: "echo", data, ack }));
          return new Promise((resolve) => pending.set(ack, resolve));
        },
        trigger: (seq) => ws.send(String(seq)),
        close() {
          ws.close(1000);
          return whenClosed;
        },
        terminate: () => ws.terminate(),
      }),
    );
  });
}

module.exports = { name: "ws", url, prepare, open };
