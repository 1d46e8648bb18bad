// Preloaded into a benchmark server by bench/gc-trace.js (`node -r`): prints the size of V8's
// new space every 100 ms on stderr, for the trace to report how far it grew.
"use strict";

const v8 = require("node:v8");

setInterval(() => {
  const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
  if (space) process.stderr.write(`newspace ${space.space_size}\n`);
}, 100).unref();
