// The log viewer: follows /logs/events (EventSource) or /logs/ws (WebSocket), resuming from the
// last byte offset it saw so no line is shown twice after a reconnect.
"use strict";

const logEl = document.getElementById("log");
const statusEl = document.getElementById("status");
const MAX_CHARS = 200000; // keep the page light: old lines scroll away
let offset = null; // byte offset just after the last line shown
let stop = () => {};

function append(text) {
  const atBottom = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 4;
  logEl.textContent += text;
  if (logEl.textContent.length > MAX_CHARS) logEl.textContent = logEl.textContent.slice(-MAX_CHARS);
  if (atBottom) logEl.scrollTop = logEl.scrollHeight;
}

function setStatus(text, cls) {
  statusEl.textContent = text;
  statusEl.className = `status ${cls || ""}`;
}

function followSse() {
  const url = offset === null ? "/logs/events" : `/logs/events?from=${offset}`;
  const source = new EventSource(url);
  source.onopen = () => setStatus("following (SSE)", "open");
  source.onmessage = (event) => {
    append(event.data.endsWith("\n") ? event.data : `${event.data}\n`);
    if (event.lastEventId) offset = Number(event.lastEventId);
  };
  source.addEventListener("notice", (event) => setStatus(event.data, "closed")); // no file yet
  source.onerror = () => setStatus("reconnecting…", "closed"); // EventSource retries with Last-Event-ID
  return () => source.close();
}

function followWs() {
  let socket;
  let timer;
  const open = () => {
    const from = offset === null ? "" : `?from=${offset}`;
    socket = new WebSocket(
      `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/logs/ws${from}`,
    );
    socket.onopen = () => setStatus("following (WebSocket)", "open");
    socket.onmessage = (event) => {
      const m = JSON.parse(event.data);
      if (m.notice) setStatus(m.notice, "closed"); // the file does not exist yet
      append(m.data);
      offset = m.offset;
    };
    socket.onclose = () => {
      setStatus("reconnecting…", "closed");
      timer = setTimeout(open, 1000);
    };
  };
  open();
  return () => {
    clearTimeout(timer);
    socket.onclose = null;
    socket.close();
  };
}

function start() {
  stop();
  const transport = document.querySelector('input[name="transport"]:checked').value;
  stop = transport === "ws" ? followWs() : followSse();
}

for (const radio of document.querySelectorAll('input[name="transport"]'))
  radio.addEventListener("change", start);
document.getElementById("controls").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("mark-text");
  fetch("/logs/mark", {
    method: "POST",
    headers: { "Content-Type": "text/plain" },
    body: input.value,
  });
  input.value = "";
});
start();
