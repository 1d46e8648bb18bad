// Load-generator transport for every ws-compatible contender: the `ws` client. Frames go out
// with an all-zero mask (ws then skips the XOR), so the generator spends its CPU on the
// protocol and not on masking: the server still does its full unmasking work.
"use strict";

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
 * `onMessage(data)` gets each message as a Buffer.
 */
function open(target, { origin, onMessage, timeoutMs }) {
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
    if (onMessage) ws.on("message", onMessage);
    ws.on("open", () =>
      resolve({
        send: (data) => ws.send(data, { binary: false }),
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
