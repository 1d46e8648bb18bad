// The `express-sockets/redis` entry: its own export in package.json, loadable by name from
// CommonJS and ESM (one copy of the classes: the ESM face re-exports the CommonJS build), and the
// main entry never loads the redis client (an optional peer dependency).

import { execFile } from "node:child_process";
import path from "node:path";

const root = path.join(__dirname, "..");

function node(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, { cwd: root, timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim()),
    ),
  );
}

describe("express-sockets/redis", () => {
  it("loads by name from CommonJS and ESM, the same class both ways", async () => {
    const cjs = await node([
      "-e",
      'const r = require("express-sockets/redis"); console.log(typeof r.redisAdapter, typeof r.RedisAdapter)',
    ]);
    expect(cjs).toBe("function function");
    const esm = await node([
      "--input-type=module",
      "-e",
      'import { RedisAdapter } from "express-sockets/redis"; import { createRequire } from "node:module"; const require = createRequire(import.meta.url); console.log(RedisAdapter === require("express-sockets/redis").RedisAdapter)',
    ]);
    expect(esm).toBe("true");
  });

  it("the main entry does not load the redis client", async () => {
    const out = await node([
      "-e",
      'require("express-sockets"); console.log(Object.keys(require.cache).filter((k) => /node_modules[\\\\/](redis|@redis)[\\\\/]/.test(k)).length)',
    ]);
    expect(out).toBe("0");
  });

  it("rejects a client that is not a node-redis client, with a clear message", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { redisAdapter } = require("../lib/redis") as typeof import("../lib/redis");
    expect(() => redisAdapter({ client: {} as never })).toThrow(/node-redis client/);
    expect(() => redisAdapter(null as never)).toThrow(/options must be an object/);
  });
});
