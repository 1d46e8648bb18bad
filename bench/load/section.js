// Runs one self-contained benchmark module (bench/channels.js, bench/tail.js: each exports
// `async run({ quick })` returning rows) in its own process and sends its rows to bench/run.js,
// so whatever it leaves open cannot keep the orchestrator alive or disturb the other sections.
"use strict";

const path = require("node:path");

async function main() {
  const file = path.resolve(process.argv[2]);
  const quick = process.argv.includes("--quick");
  const rows = await require(file).run({ quick });
  process.send({ type: "rows", rows }, () => process.exit(0));
}

main().catch((err) => {
  process.send({ type: "rows", error: String((err && err.stack) || err) }, () => process.exit(1));
});
