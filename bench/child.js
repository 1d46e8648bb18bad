// A benchmark process under IPC control, shared by run.js, heap-diff.js and gc-trace.js: forks a
// server (bench/servers/*) or the load generator, resolves `ready` when it says so, and sends
// commands (`mem`, `cpu`, `heap-snapshot`, ...) with `request`, each with a deadline. The child
// exits by itself when its parent goes away (bench/servers/common.js).
"use strict";

const { fork } = require("node:child_process");
const path = require("node:path");

const TIMEOUT_MS = 10000;

/**
 * Forks `file`. By default the child's stderr is passed through and its first stdout lines are
 * shown under `label`; with `capture`, both are kept in `output.stdout` / `output.stderr` and
 * shown nowhere (for a tool that reads what the child prints, such as a --trace-gc log).
 */
function start(file, argv, { execArgv = [], label, env, capture = false }) {
  const proc = fork(file, argv, {
    execArgv,
    env: env ? { ...process.env, ...env } : process.env,
    stdio: ["ignore", "pipe", capture ? "pipe" : "inherit", "ipc"],
    cwd: path.resolve(__dirname, ".."),
  });
  let nextId = 1;
  const pending = new Map();
  let failed = null;
  const fail = (err) => {
    failed = err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  const output = { stdout: "", stderr: "" };
  if (capture) {
    proc.stdout.on("data", (chunk) => (output.stdout += chunk));
    proc.stderr.on("data", (chunk) => (output.stderr += chunk));
  } else {
    let logged = 0;
    let partial = "";
    proc.stdout.on("data", (chunk) => {
      // The port line is for standalone use; anything else a server prints is shown, briefly.
      const lines = (partial + chunk).split("\n");
      partial = lines.pop();
      for (const line of lines) {
        if (line.startsWith('{"port"') || !line.trim()) continue;
        if (logged++ < 5) process.stderr.write(`  [${label}] ${line}\n`);
      }
    });
  }
  const ready = new Promise((resolve, reject) => {
    proc.on("message", (msg) => {
      if (msg.type === "ready") resolve(msg);
      else if (msg.type === "reply" && pending.has(msg.id)) {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) p.reject(new Error(`${label}: ${msg.error}`));
        else p.resolve(msg);
      }
    });
    proc.on("exit", (code, signal) => {
      const err = new Error(
        `${label} exited (${signal || code})${capture ? `:\n${output.stderr}` : ""}`,
      );
      reject(err);
      fail(err);
    });
    proc.on("error", reject);
  });
  function request(cmd, body = {}, timeoutMs = TIMEOUT_MS) {
    if (failed) return Promise.reject(failed);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${label}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      proc.send({ id, cmd, args: body });
    });
  }
  async function stop() {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  return { proc, ready, request, stop, output };
}

module.exports = { start, TIMEOUT_MS };
