// The example page: talks to the example app's echo and clock routes with the browser's own
// WebSocket (the chat is chat.js).
"use strict";

const base = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;

function show(outId, line) {
  const out = document.getElementById(outId);
  out.textContent += `${line}\n`;
  out.scrollTop = out.scrollHeight;
}

/** Opens a socket that reconnects after a second when it closes; returns a getter for it. */
function connect(path, statusId, onMessage, binaryType) {
  let socket;
  const status = document.getElementById(statusId);
  const open = () => {
    socket = new WebSocket(base + path);
    if (binaryType) socket.binaryType = binaryType;
    socket.onopen = () => {
      if (!status) return;
      status.textContent = "open";
      status.className = "status open";
    };
    socket.onmessage = (event) => onMessage(event.data);
    socket.onclose = (event) => {
      if (status) {
        status.textContent = `closed ${event.code}${event.reason ? ` (${event.reason})` : ""}`;
        status.className = "status closed";
      }
      setTimeout(open, 1000);
    };
  };
  open();
  return () => socket;
}

// ---- echo
const echoSockets = {
  messages: connect("/echo/messages", "echo-status", (d) => show("echo-out", `messages ← ${d}`)),
  bytes: connect(
    "/echo/bytes",
    null,
    (d) => show("echo-out", `bytes ← [${new Uint8Array(d).join(", ")}]`),
    "arraybuffer",
  ),
  json: connect("/echo/json", null, (d) => show("echo-out", `json ← ${d}`)),
};
document.getElementById("echo-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const route = document.getElementById("echo-route").value;
  const text = document.getElementById("echo-text").value;
  const socket = echoSockets[route]();
  if (route === "bytes") {
    const bytes = new TextEncoder().encode(text);
    show("echo-out", `bytes → [${bytes.join(", ")}]`);
    socket.send(bytes);
  } else if (route === "json") {
    const value = JSON.stringify({ text, at: Date.now() });
    show("echo-out", `json → ${value}`);
    socket.send(value);
  } else {
    show("echo-out", `messages → ${text}`);
    socket.send(text);
  }
});

// ---- chat: chat.js (a module)

// ---- clock
connect("/clock", null, (d) => (document.getElementById("clock-out").textContent = d));
