// The example page's chat: rooms, join and leave notices, typing, and acks, over the example
// app's `sockets.events()` route /chat, with the package's browser client (served by
// `sockets.client()`): it reconnects by itself, and each (re)join answers with the room's
// recent lines, so the page catches up on what it missed while away.
import { connect } from "/express-sockets/client.js";

/** How long another member's "typing" shows without a refresh (they send one every 2 s). */
const TYPING_SHOWN = 4000;
/** How often this page repeats "typing" while its user types (the server relays 1 a second). */
const TYPING_EVERY = 2000;

const $ = (id) => document.getElementById(id);
const out = $("chat-out");
const textInput = $("chat-text");
const nameInput = $("chat-user");
const status = $("chat-status");

/** "14:03:27" in the reader's own time zone. */
const timeOf = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });

let room = decodeURIComponent(location.hash.slice(1)) || "lobby";
let joinedAs; // the name the server knows, after a join
let myId; // this connection's socket id, from the first line the server confirms
/** Line ids shown in this room: the catch-up after a reconnect shows only the missed ones. */
let shown = new Set();
const typing = new Map(); // socket id -> { name, timer }
let typingSentAt = 0;
let members = []; // names in this room, as the join's answer and the notices since say

function renderMembers() {
  $("chat-members").textContent = `in ${room}: ${members.join(", ")}`;
}

function addLine(text, className = "") {
  const line = document.createElement("div");
  line.className = `line ${className}`.trim();
  line.textContent = text;
  out.append(line);
  out.scrollTop = out.scrollHeight;
  return line;
}

function showSaid(said) {
  if (shown.has(said.id)) return;
  shown.add(said.id);
  stopTyping(said.from);
  addLine(`${timeOf(said.at)} <${said.name}> ${said.text}`, said.from === myId ? "mine" : "");
}

function renderTyping() {
  const names = [...typing.values()].map((t) => t.name);
  $("chat-typing").textContent =
    names.length === 0 ? "" : `${names.join(" and ")} ${names.length === 1 ? "is" : "are"} typing…`;
}
function stopTyping(id) {
  const t = typing.get(id);
  if (t === undefined) return;
  clearTimeout(t.timer);
  typing.delete(id);
  renderTyping();
}

const chat = connect("/chat");

chat.onStatus((now, close) => {
  status.textContent = close && now !== "open" ? `${now} (${close.code})` : now;
  status.className = `status ${now === "open" ? "open" : now === "closed" ? "closed" : "waiting"}`;
  if (now === "open") void join(room, joinedAs === undefined ? "switch" : "back");
});

/**
 * Joins `next` (leaving the current room). `mode`: "switch" starts the room's view afresh, "back"
 * (after a reconnect) adds the lines missed meanwhile, "rename" only tells the server the name.
 */
async function join(next, mode = "switch") {
  const name = nameInput.value.trim() || "guest";
  let answer;
  try {
    answer = await chat.request("join", { room: next, name }, { timeout: 5000 });
  } catch (e) {
    addLine(`! cannot join ${next}: ${e.message}`, "error");
    return;
  }
  const switched = answer.room !== room || mode === "switch";
  room = answer.room;
  joinedAs = name;
  myId = answer.you;
  history.replaceState(null, "", `#${encodeURIComponent(room)}`);
  for (const b of document.querySelectorAll("#rooms button")) {
    b.classList.toggle("current", b.dataset.room === room);
  }
  members = answer.members;
  renderMembers();
  if (switched) {
    out.textContent = "";
    shown = new Set();
    for (const id of [...typing.keys()]) stopTyping(id);
    addLine(`* you joined ${room}`, "notice");
    for (const said of answer.recent) showSaid(said);
  } else if (mode === "back") {
    const before = shown.size;
    for (const said of answer.recent) showSaid(said);
    addLine(`* back in ${room}, ${shown.size - before} missed line(s)`, "notice");
  }
}

chat.on("rooms", (counts) => {
  const list = $("rooms");
  for (const [name, count] of Object.entries(counts)) {
    let button = [...list.querySelectorAll("button")].find((b) => b.dataset.room === name);
    if (button === undefined) {
      button = document.createElement("button");
      button.type = "button";
      button.dataset.room = name;
      button.addEventListener("click", () => {
        if (name !== room) void join(name, "switch");
      });
      list.append(button);
    }
    button.textContent = `${name} (${count})`;
    button.classList.toggle("current", name === room);
  }
});
chat.on("said", (said) => {
  if (said.room === room) showSaid(said);
});
chat.on("joined", (m) => {
  if (m.room !== room) return;
  members.push(m.name);
  renderMembers();
  addLine(`* ${m.name} joined ${m.room}`, "notice");
});
chat.on("left", (m) => {
  if (m.room !== room) return;
  stopTyping(m.id);
  const at = members.indexOf(m.name);
  if (at !== -1) members.splice(at, 1);
  renderMembers();
  addLine(`* ${m.name} left ${m.room}`, "notice");
});
chat.on("renamed", (m) => {
  if (m.room !== room) return;
  const at = members.indexOf(m.was);
  if (at !== -1) members[at] = m.name;
  renderMembers();
  addLine(`* ${m.was} is now ${m.name}`, "notice");
});
chat.on("typing", (m) => {
  if (m.room !== room) return;
  stopTyping(m.id);
  if (!m.typing) return;
  const timer = setTimeout(() => stopTyping(m.id), TYPING_SHOWN); // expires unless refreshed
  typing.set(m.id, { name: m.name, timer });
  renderTyping();
});
chat.on("notice", (m) => addLine(`* ${m.text}`, "notice"));

nameInput.addEventListener("change", () => {
  const name = nameInput.value.trim() || "guest";
  if (joinedAs !== undefined && name !== joinedAs) void join(room, "rename");
});

textInput.addEventListener("input", () => {
  const now = Date.now();
  if (textInput.value === "") {
    if (typingSentAt !== 0) chat.emit("typing", false);
    typingSentAt = 0;
  } else if (now - typingSentAt >= TYPING_EVERY) {
    chat.emit("typing", true);
    typingSentAt = now;
  }
});

$("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = textInput.value;
  textInput.value = "";
  typingSentAt = 0; // the line itself ends "typing" for the others
  const name = nameInput.value.trim() || "guest";
  if (name !== joinedAs) await join(room, "rename"); // a new name goes with a join
  // Shown at once as pending; the server's ack makes it delivered (with the server's time).
  const line = addLine(`${timeOf(new Date().toISOString())} <${name}> ${text}`, "mine pending");
  const state = document.createElement("span");
  state.className = "ack";
  state.textContent = " (pending)";
  line.append(state);
  try {
    const answer = await chat.request("say", { text }, { timeout: 5000 });
    if (!answer.ok) throw new Error(answer.error);
    shown.add(answer.id);
    line.firstChild.textContent = `${timeOf(answer.at)} <${name}> ${text}`;
    line.className = "line mine delivered";
    state.textContent = " ✓ delivered";
  } catch (e) {
    line.className = "line mine failed";
    state.textContent = ` ✗ not delivered: ${e.message}`;
  }
});
