// Jest runs the TypeScript sources through swc (type checks are `npm run typecheck`).
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["@swc/jest", { jsc: { target: "es2022" } }] },
  testTimeout: 20000,
  // Tests open real sockets, files and browsers; two workers fit the 2-core machines.
  maxWorkers: 2,
};
