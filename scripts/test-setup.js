// What the tests need besides node_modules, found or installed before `npm test` (its `pretest`)
// and by `.ci/run`: Debian's Chromium (real-browser tests), Python's `websockets` (a client that
// is not `ws`) and a Redis answering at 127.0.0.1:6379 (tests that use a real Redis).
//
// When everything is there it only looks (well under a second). When something is missing it
// installs it with apt-get if it runs as root on a Debian-like system (after `apt-get update`),
// otherwise it names the packages to install and exits with 1. CHROMIUM_PATH points the browser
// tests at another Chromium; TEST_SETUP_APT=0 only checks (never installs); SKIP_TEST_SETUP=1
// skips this step altogether.
"use strict";
const fs = require("node:fs");
const net = require("node:net");
const { spawnSync } = require("node:child_process");

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const PYTHON = process.env.TEST_SETUP_PYTHON || "/usr/bin/python3";
const REDIS_PORT = 6379;
const REDIS_HOST = "127.0.0.1";

function say(line) {
  console.log(`[test-setup] ${line}`);
}

function hasChromium() {
  return fs.existsSync(CHROMIUM);
}

function hasPythonWebsockets() {
  if (!fs.existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ["-c", "import websockets"], { stdio: "ignore" }).status === 0;
}

function hasRedisServer() {
  return fs.existsSync("/usr/bin/redis-server");
}

/** True when something at 127.0.0.1:6379 answers PING with PONG within `ms`. */
function redisAnswers(ms = 1000) {
  return new Promise((resolve) => {
    const socket = net.connect(REDIS_PORT, REDIS_HOST);
    let reply = "";
    const end = (ok) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => end(false), ms);
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => {
      reply += d.toString("latin1");
      if (reply.includes("\r\n")) end(reply.startsWith("+PONG"));
    });
    socket.on("error", () => end(false));
  });
}

function canApt() {
  if (process.env.TEST_SETUP_APT === "0") return false;
  return (
    typeof process.getuid === "function" &&
    process.getuid() === 0 &&
    fs.existsSync("/usr/bin/apt-get")
  );
}

function apt(args) {
  const r = spawnSync("apt-get", args, {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (r.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed (exit ${r.status})`);
}

async function main() {
  if (process.env.SKIP_TEST_SETUP === "1") return;
  const missing = [];
  if (!hasChromium()) {
    if (process.env.CHROMIUM_PATH) {
      throw new Error(`CHROMIUM_PATH=${CHROMIUM} does not exist: point it at a Chromium binary`);
    }
    missing.push("chromium");
  }
  if (!hasPythonWebsockets()) missing.push("python3-websockets");
  const redisUp = await redisAnswers();
  if (!redisUp && !hasRedisServer()) missing.push("redis-server");

  if (missing.length > 0) {
    if (!canApt()) {
      throw new Error(
        `the tests need these Debian packages: ${missing.join(" ")}\n` +
          `  install them as root:  apt-get update && apt-get install -y ${missing.join(" ")}\n` +
          "  (or set CHROMIUM_PATH to a Chromium binary you already have, and run a Redis on " +
          `${REDIS_HOST}:${REDIS_PORT})`,
      );
    }
    say(`installing ${missing.join(", ")} with apt-get (once)`);
    apt(["update", "-qq"]);
    apt(["install", "-y", "-qq", "--no-install-recommends", ...missing]);
  }

  if (!redisUp) {
    say(`starting redis-server on ${REDIS_HOST}:${REDIS_PORT} (no persistence, daemonized)`);
    const r = spawnSync(
      "redis-server",
      [
        "--bind",
        REDIS_HOST,
        "--port",
        String(REDIS_PORT),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "yes",
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    if (r.status !== 0) throw new Error(`redis-server failed to start (exit ${r.status})`);
    const deadline = Date.now() + 10_000;
    while (!(await redisAnswers(500))) {
      if (Date.now() > deadline) {
        throw new Error(`redis-server started but ${REDIS_HOST}:${REDIS_PORT} does not answer`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

main().catch((err) => {
  console.error(`[test-setup] ${err.message}`);
  process.exit(1);
});
