// `npm test` sets up what the tests need (scripts/test-setup.js as its `pretest`, also run by
// .ci/run): fast when everything is there, a Redis answering afterwards, and a clear message
// naming what to install (and CHROMIUM_PATH) when it cannot install it itself.

import { execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

const root = path.join(__dirname, "..");
const SCRIPT = path.join(root, "scripts", "test-setup.js");

function run(env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SCRIPT],
      { cwd: root, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
        resolve({ code, out: stdout + stderr, ms: Date.now() - started });
      },
    );
  });
}

function redisPing(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(6379, "127.0.0.1", () => s.write("PING\r\n"));
    s.once("data", (d) => {
      s.destroy();
      resolve(d.toString("latin1"));
    });
    s.once("error", reject);
  });
}

describe("the test set-up step", () => {
  it("is what `npm test` runs first, and what .ci/run calls", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.pretest).toBe("node scripts/test-setup.js");
    const ci = fs.readFileSync(path.join(root, ".ci", "run"), "utf8");
    expect(ci).toMatch(/^node scripts\/test-setup\.js$/m);
    expect(ci).not.toMatch(/apt-get install/); // one place installs: the set-up step
  });

  it("finds everything present quickly, and leaves a Redis answering at 127.0.0.1:6379", async () => {
    const wasUp = await redisPing().then(
      (reply) => reply === "+PONG\r\n",
      () => false,
    );
    const r = await run({});
    if (wasUp) expect(r.out).toBe(""); // nothing to do: nothing said
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(5_000); // ~0.15 s alone; margin for a loaded machine
    expect(await redisPing()).toBe("+PONG\r\n");
  });

  it("names CHROMIUM_PATH when it points at nothing, and fails", async () => {
    const r = await run({ CHROMIUM_PATH: "/nonexistent/chromium" });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/CHROMIUM_PATH=\/nonexistent\/chromium does not exist/);
  });

  it("names the Debian packages to install when it may not install them", async () => {
    // TEST_SETUP_APT=0 forbids apt-get, as for a user who is not root; PYTHON points at nothing.
    const r = await run({ TEST_SETUP_APT: "0", TEST_SETUP_PYTHON: "/nonexistent/python3" });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/need these Debian packages: python3-websockets/);
    expect(r.out).toMatch(/apt-get install -y python3-websockets/);
    expect(r.out).toMatch(/CHROMIUM_PATH/);
  });
});
