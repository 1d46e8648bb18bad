// What every benchmark server process shares: options from argv, listening on loopback port 0,
// printing the port, and answering the orchestrator's IPC requests (memory after GC, CPU time,
// open connections). A server exits when its parent goes away, so none outlives a run.
"use strict";

/** The broadcast payload: `size` bytes of text, starting with the sequence number. */
function broadcastPayload(seq, size) {
  const head = `${seq}:`;
  return head + "b".repeat(Math.max(0, size - head.length));
}

/** `--name=value` arguments as an object of strings. */
function parseArgs(argv = process.argv.slice(2)) {
  const out = {};
  for (const arg of argv) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (m) out[m[1]] = m[2] === undefined ? "true" : m[2];
  }
  return out;
}

function collectGarbage() {
  if (typeof globalThis.gc === "function") {
    globalThis.gc();
    globalThis.gc();
  }
}

/**
 * Listens on 127.0.0.1 port 0, prints `{"port":N}` on stdout and serves IPC requests.
 * `connections()` returns how many WebSocket connections the contender holds open; `commands`
 * adds requests of the server's own (name to a function of the request's args).
 */
function serve(server, { connections, commands = {} }) {
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address();
    process.stdout.write(`${JSON.stringify({ port })}\n`);
    if (process.send) process.send({ type: "ready", port });
  });
  // A normal exit, so that --cpu-prof writes its profile.
  process.on("SIGTERM", () => process.exit(0));
  if (!process.send) return;
  process.on("disconnect", () => process.exit(0));
  process.on("message", (msg) => {
    const reply = (body) => process.send({ type: "reply", id: msg.id, ...body });
    switch (msg.cmd) {
      case "mem":
        collectGarbage();
        reply({ mem: process.memoryUsage(), connections: connections() });
        break;
      case "cpu": {
        const { user, system } = process.cpuUsage();
        reply({ cpuMicros: user + system, connections: connections() });
        break;
      }
      case "heap-snapshot":
        collectGarbage();
        reply({ file: require("node:v8").writeHeapSnapshot(msg.args && msg.args.file) });
        break;
      case "connections":
        reply({ connections: connections() });
        break;
      case "exit":
        reply({});
        process.exit(0);
        break;
      default:
        // A server's own commands (bench/servers/rooms.js: "unjoin").
        if (Object.hasOwn(commands, msg.cmd)) {
          Promise.resolve()
            .then(() => commands[msg.cmd](msg.args || {}))
            .then(
              (body) => reply(body || {}),
              (err) => reply({ error: String(err && err.message) }),
            );
        } else reply({ error: `unknown command ${msg.cmd}` });
    }
  });
}

/** The Origin a browser on this host would send: what every origin check below accepts. */
function sameOrigin(origin, host) {
  return origin === undefined || origin === `http://${host}` || origin === `https://${host}`;
}

module.exports = { broadcastPayload, parseArgs, serve, sameOrigin };
