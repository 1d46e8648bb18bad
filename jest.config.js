// Jest runs the TypeScript sources through ts-jest, one file at a time (tsconfig's isolatedModules: fast; type checks are
// `npm run typecheck`). No native transformer: its per-platform binaries break `npm ci` here.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }] },
  // client/ (browser ESM) imports its siblings as "./x.js", as TypeScript wants for ESM output.
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  testTimeout: 20000,
  // Tests open real sockets, files and browsers; two workers fit the 2-core machines.
  maxWorkers: 2,
};
