// Builds express-sockets/client into dist/client/: an ESM bundle for bundlers and Node
// (index.js), a minified one that sockets.client() serves to pages (express-sockets-client.min.js),
// type declarations (tsc, client/tsconfig.json) and a package.json marking the folder as ESM.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const esbuild = require("esbuild");

const root = path.join(__dirname, "..");
const out = path.join(root, "dist", "client");
const common = {
  entryPoints: [path.join(root, "client", "index.ts")],
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  logLevel: "warning",
  legalComments: "none",
};

fs.mkdirSync(out, { recursive: true });
esbuild.buildSync({ ...common, outfile: path.join(out, "index.js") });
esbuild.buildSync({
  ...common,
  minify: true,
  outfile: path.join(out, "express-sockets-client.min.js"),
});
fs.writeFileSync(path.join(out, "package.json"), '{ "type": "module" }\n');
execFileSync(
  process.execPath,
  [require.resolve("typescript/bin/tsc"), "-p", path.join(root, "client", "tsconfig.json")],
  {
    stdio: "inherit",
  },
);
