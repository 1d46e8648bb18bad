// sockets.client(): the built browser client served to pages (Content-Type, ETag, caching,
// gzip), and its size against socket.io-client's browser bundle, measured the same way.

import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { sockets, CLIENT_PATH } from "../lib/index";

const root = path.join(__dirname, "..");
const bundle = path.join(root, "dist", "client", "express-sockets-client.min.js");
const version = (
  JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
    version: string;
  }
).version;

beforeAll(() => {
  if (!fs.existsSync(bundle)) throw new Error("dist/client is missing: run `npm run build`");
});

/** One real HTTP request to `app` on a loopback port: status, headers, the raw body and its text. */
async function call(
  app: express.Express,
  method: string,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; text: string }> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method, path: url, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, headers: res.headers, body, text: body.toString() });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Gzipped size at level 9, the way the README states both sizes. */
const gzipped = (file: string): number => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;

describe("sockets.client()", () => {
  const mw = sockets.client();
  const app = express();
  app.use(mw);
  app.use("/assets", sockets.client({ path: "/js" }));

  it("serves the bundle at a versioned path, cached for a year, as JavaScript", async () => {
    expect(mw.path).toBe(`${CLIENT_PATH}/client.${version}.js`);
    const res = await call(app, "GET", mw.path, { "Accept-Encoding": "identity" });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(res.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["etag"]).toMatch(/^"[\w-]+"$/);
    expect(res.text).toBe(fs.readFileSync(bundle, "utf8"));
    expect(res.text).toMatch(/export\s*\{/); // an ES module
  });

  it("serves the unversioned path revalidated every time, and answers 304 to its ETag", async () => {
    const res = await call(app, "GET", mw.latestPath, { "Accept-Encoding": "identity" });
    expect(res.status).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-cache");
    const again = await call(app, "GET", mw.latestPath, {
      "Accept-Encoding": "identity",
      "If-None-Match": res.headers["etag"]!,
    });
    expect(again.status).toBe(304);
    expect(again.text).toBe("");
  });

  it("sends it gzipped to clients that accept gzip, with its own ETag", async () => {
    const res = await call(app, "GET", mw.path, { "Accept-Encoding": "gzip, deflate" });
    expect(res.headers["content-encoding"]).toBe("gzip");
    expect(res.headers["vary"]).toBe("Accept-Encoding");
    expect(res.headers["etag"]).toMatch(/-gz"$/);
    expect(Number(res.headers["content-length"])).toBeLessThan(fs.statSync(bundle).size);
    expect(zlib.gunzipSync(res.body).toString()).toBe(fs.readFileSync(bundle, "utf8"));
  });

  it("answers HEAD without a body, and passes every other request on", async () => {
    const head = await call(app, "HEAD", mw.path);
    expect(head.status).toBe(200);
    expect(head.text ?? "").toBe("");
    expect((await call(app, "GET", `${CLIENT_PATH}/client.0.0.0-old.js`)).status).toBe(404);
    expect((await call(app, "POST", mw.path)).status).toBe(404);
    expect((await call(app, "GET", "/assets/js/client.js")).status).toBe(200);
  });

  it("refuses a path option that does not start with /", () => {
    expect(() => sockets.client({ path: "js" })).toThrow(TypeError);
  });
});

describe("client size", () => {
  it("is at most 5 KB minified and gzipped, against socket.io-client's browser bundle", () => {
    const ours = gzipped(bundle);
    const socketIo = gzipped(
      path.join(root, "node_modules", "socket.io-client", "dist", "socket.io.min.js"),
    );
    expect(ours).toBeLessThanOrEqual(5 * 1024);
    expect(ours).toBeLessThan(socketIo / 2);
  });
});

describe("express-sockets/client in the exports map", () => {
  it("imports as ESM in Node by its package name, with ws as the WebSocket", async () => {
    const script = `
      import { connect, ClientError } from "express-sockets/client";
      import { WebSocket } from "ws";
      const c = connect("ws://127.0.0.1:9/", { WebSocket, reconnect: false });
      c.onStatus((s) => { console.log(JSON.stringify({ s, err: typeof ClientError })); });
    `;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ["--input-type=module", "-e", script],
        { cwd: root, timeout: 15_000 },
        (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout)),
      ),
    );
    expect(JSON.parse(out)).toEqual({ s: "closed", err: "function" });
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
      exports: Record<string, { types: string; default: string }>;
    };
    for (const f of Object.values(pkg.exports["./client"]!)) {
      expect(fs.existsSync(path.join(root, f))).toBe(true);
    }
  });
});
