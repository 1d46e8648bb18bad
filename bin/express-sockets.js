#!/usr/bin/env node
// The `express-sockets` command (`npx express-sockets tail <file...>`): a thin launcher for the
// compiled command line in dist/viewer/cli.js, so it runs from an installed package and, after
// `npm run build`, from a clone.
"use strict";

let cli;
try {
  cli = require("../dist/viewer/cli.js");
} catch (err) {
  if (err && err.code === "MODULE_NOT_FOUND") {
    process.stderr.write("express-sockets: dist/ is missing: run `npm run build` first\n");
    process.exit(1);
  }
  throw err;
}
cli.main(process.argv.slice(2)).then((code) => {
  process.exit(code);
});
