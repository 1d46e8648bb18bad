// `express-sockets tail` as a real child process on real files: its help, its one-line errors
// (no stack traces), its safe defaults (127.0.0.1 only, CSP, basic auth compared in constant
// time) and a clean exit on SIGTERM.

import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { SseClient } from "./helpers/sse-client";
import { ROOT, requireBuild, runCli, startCli, type RunningCli } from "./helpers/cli";

let dir: string;
let log: string;
const started: RunningCli[] = [];

beforeAll(() => {
  requireBuild();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "viewer-cli-"));
  log = path.join(dir, "app.log");
  fs.writeFileSync(log, "hello\n");
});

afterAll(async () => {
  await Promise.all(started.map((c) => c.stop("SIGKILL")));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function start(args: string[], env: Record<string, string> = {}): Promise<RunningCli> {
  const cli = await startCli(args, env);
  started.push(cli);
  return cli;
}

function request(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on("error", reject);
  });
}

/** One line of text on stderr, naming the command, and no stack trace. */
function expectOneLineError(stderr: string, message: RegExp): void {
  const lines = stderr.trimEnd().split("\n");
  expect(lines[0]).toMatch(/^express-sockets: /);
  expect(lines[0]).toMatch(message);
  expect(stderr).not.toMatch(/\n\s+at |Error:|node:internal/);
  expect(lines.length).toBeLessThanOrEqual(2);
}

describe("express-sockets --help and errors", () => {
  it("--help prints the usage with every option and its default, exit 0", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^Usage: express-sockets tail \[options\] <file\.\.\.>/);
    for (const o of ["--port", "--host", "--lines", "--user", "--password", "--title", "--help"]) {
      expect(r.stdout).toContain(o);
    }
    expect(r.stdout).toMatch(/default 9001/);
    expect(r.stdout).toMatch(/default 127\.0\.0\.1/);
    expect(r.stdout).toMatch(/default 100\)/);
    expect((await runCli(["tail", "-h"])).stdout).toBe(r.stdout);
  });

  it("a missing file: one line naming it, exit 1", async () => {
    const r = await runCli(["tail", "--port", "0", log, path.join(dir, "nope.log")]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /no such file: .*nope\.log$/);
    expect(r.stdout).toBe("");
  });

  it("a bad option: one line naming it and a pointer to --help, exit 2", async () => {
    const r = await runCli(["tail", "--prot", "80", log]);
    expect(r.code).toBe(2);
    expectOneLineError(r.stderr, /--prot/);
    expect(r.stderr).toMatch(/Run 'express-sockets --help' for usage\.\n$/);

    for (const [args, message] of [
      [["tail", "--port", "http", log], /--port must be an integer from 0 to 65535, got "http"/],
      [["tail", "--port", "70000", log], /--port must be an integer/],
      [["tail", "--lines", "-3", log], /--lines/],
      [["tail", "--port"], /--port/],
      [["tail"], /give at least one file/],
      [[], /missing command/],
      [["follow", log], /unknown command "follow"/],
      [["tail", "--user", "me", log], /--user and --password go together/],
    ] as const) {
      const e = await runCli([...args]);
      expect(e.code).toBe(2);
      expectOneLineError(e.stderr, message);
    }
  });

  it("a busy port: one line saying so, exit 1", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli(["tail", "--port", String(port), log]);
      expect(r.code).toBe(1);
      expectOneLineError(r.stderr, new RegExp(`port ${port} is already in use on 127\\.0\\.0\\.1`));
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

describe("express-sockets tail serving", () => {
  it("listens on 127.0.0.1 only by default, sends a CSP, and exits 0 on SIGTERM", async () => {
    const cli = await start(["tail", "--port", "0", log]);
    expect(cli.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(cli.stdout()).toBe(`express-sockets: following ${log} at ${cli.url}\n`);
    const page = await request(cli.url);
    expect(page.status).toBe(200);
    expect(page.headers["content-security-policy"]).toMatch(/script-src 'self'/);
    expect(page.headers["content-security-policy"]).not.toMatch(/unsafe-inline/);
    const list = JSON.parse((await request(cli.url + "files.json")).body) as { title: string };
    expect(list).toMatchObject({ title: "app.log", files: [log], lines: 100, maxLines: 10000 });

    // Not reachable on any other address of this machine.
    const others = Object.values(os.networkInterfaces())
      .flat()
      .filter((a) => a !== undefined && a.family === "IPv4" && !a.internal);
    for (const a of others) {
      await expect(request(`http://${a!.address}:${cli.port}/`)).rejects.toMatchObject({
        code: "ECONNREFUSED",
      });
    }
    const exit = await cli.stop("SIGTERM");
    expect(exit.code).toBe(0);
    expect(exit.stderr).toBe("");
  });

  it("--user/--password: 401 with a Basic challenge without them or with wrong ones, 200 with them", async () => {
    const cli = await start([
      "tail",
      "--port",
      "0",
      "--user",
      "ops",
      "--password",
      "pä55:word",
      log,
    ]);
    const basic = (u: string, p: string): string =>
      "Basic " + Buffer.from(`${u}:${p}`, "utf8").toString("base64");
    const attempts: Record<string, string>[] = [
      {},
      { authorization: basic("ops", "wrong") },
      { authorization: basic("op", "pä55:word") },
      { authorization: basic("ops", "pä55:wor") },
      { authorization: "Bearer x" },
    ];
    for (const headers of attempts) {
      for (const p of ["", "files.json", "events", "viewer.js"]) {
        const r = await request(cli.url + p, headers);
        expect(r.status).toBe(401);
        expect(r.headers["www-authenticate"]).toMatch(/^Basic realm="express-sockets"/);
      }
    }
    const ok = await request(cli.url + "files.json", { authorization: basic("ops", "pä55:word") });
    expect(ok.status).toBe(200);
  });

  it("takes the password from EXPRESS_SOCKETS_PASSWORD, and warns when open to every interface", async () => {
    const cli = await start(["tail", "--port", "0", "--user", "ops", log], {
      EXPRESS_SOCKETS_PASSWORD: "from-env",
    });
    const auth = "Basic " + Buffer.from("ops:from-env").toString("base64");
    expect((await request(cli.url, { authorization: auth })).status).toBe(200);

    const open = await start(["tail", "--port", "0", "--host", "0.0.0.0", log]);
    for (let i = 0; i < 100 && open.stderr() === ""; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(open.stderr()).toMatch(/warning: listening on 0\.0\.0\.0 without --user\/--password/);
  });

  it("--title names the page; --lines sets the first lines of each file", async () => {
    fs.writeFileSync(path.join(dir, "ten.log"), "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
    const cli = await start([
      "tail",
      "--port=0",
      "--title",
      "Prod <logs>",
      "-n",
      "3",
      path.join(dir, "ten.log"),
    ]);
    const list = JSON.parse((await request(cli.url + "files.json")).body) as object;
    expect(list).toMatchObject({ title: "Prod <logs>", lines: 3 });
    const events = await SseClient.connect(cli.url + "events");
    await events.until(() => events.events.length >= 1);
    expect(JSON.parse(events.events[0]!.data)).toEqual({ f: 0, o: 21, t: "8\n9\n10\n" });
    await events.close();
  });
});

describe("from an installed package", () => {
  function run(cmd: string, args: string[], cwd: string): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(cmd, args, { cwd, timeout: 120_000 }, (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
  }

  it("`npx express-sockets tail` runs from node_modules and serves the page from the package", async () => {
    const app = path.join(dir, "installed");
    fs.mkdirSync(app);
    // The tarball npm would publish (dist/ as built, no scripts run), installed into a new app.
    const out = await run(
      "npm",
      ["pack", "--ignore-scripts", "--json", "--pack-destination", app],
      ROOT,
    );
    const tarball = path.join(app, (JSON.parse(out) as { filename: string }[])[0]!.filename);
    fs.writeFileSync(path.join(app, "package.json"), '{ "name": "app", "private": true }');
    await run(
      "npm",
      ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", tarball],
      app,
    );
    const help = await run("npx", ["--no-install", "express-sockets", "--help"], app);
    expect(help).toMatch(/^Usage: express-sockets tail/);

    fs.writeFileSync(path.join(app, "x.log"), "from the package\n");
    const bin = path.join(app, "node_modules", ".bin", "express-sockets");
    const cli = await startCli(["tail", "--port", "0", "x.log"], {}, { cwd: app, bin });
    started.push(cli);
    expect((await request(cli.url)).body).toContain('<script src="viewer.js" defer></script>');
    expect((await request(cli.url + "viewer.js")).status).toBe(200);
  }, 180_000);
});
