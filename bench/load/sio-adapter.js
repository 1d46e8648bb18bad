// Load-generator transport for socket.io: its own client, websocket transport only, one
// Manager per connection (`forceNew`), no reconnection. Echo uses event "m", the broadcast
// arrives as event "b" and is triggered by emitting "go"; the server's requests arrive as "echo".
"use strict";

const { io } = require("socket.io-client");

/** socket.io addresses a namespace, not a path: `route` is the namespace. */
function url(port, route) {
  return `http://127.0.0.1:${port}${route}`;
}

function prepare(text) {
  return text;
}

/**
 * `onRequest(data)`: the server's `emitWithAck("echo", data)` requests are answered at once
 * with their own data (the ack callback), and `onRequest` gets the data. `query` goes to the
 * handshake (`socket.handshake.query` on the server).
 */
function open(target, { origin, onMessage, onRequest, query, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const socket = io(target, {
      query,
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
      extraHeaders: origin ? { origin } : {},
    });
    socket.on("connect_error", (err) => {
      socket.close();
      reject(err);
    });
    if (onRequest) {
      socket.on("echo", (data, ack) => {
        ack(data);
        onRequest(data);
      });
    }
    if (onMessage) {
      socket.on("m", onMessage);
      socket.on("b", onMessage);
    }
    socket.once("connect", () => {
      const engine = socket.io.engine;
      let closed;
      const whenClosed = new Promise((r) => (closed = r));
      engine.once("close", () => closed());
      resolve({
        send: (data) => socket.emit("m", data),
        request: (data) => socket.timeout(10000).emitWithAck("echo", data),
        trigger: (seq) => socket.emit("go", String(seq)),
        close() {
          socket.disconnect();
          return whenClosed;
        },
        terminate: () => socket.disconnect(),
      });
    });
  });
}

module.exports = { name: "socket.io", url, prepare, open };
