// sockets.client(): serves the browser client (dist/client/express-sockets-client.min.js, an ES
// module) to pages that have no bundler. The versioned path is cached for a year (immutable);
// the unversioned one is revalidated on every load (ETag, 304), so a deploy is picked up.

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import type { NextFunction, Request, RequestHandler, Response } from "express";

/** Where the bundle is served by default, under the mount point of the middleware. */
export const CLIENT_PATH = "/express-sockets";

const FILE = "express-sockets-client.min.js";

/** Options of `sockets.client()`. */
export interface ClientOptions {
  /** The folder (URL path) the bundle is served under. Defaults to `"/express-sockets"`. */
  path?: string;
}

/** The middleware, with the paths it answers (relative to where it is mounted). */
export interface ClientMiddleware extends RequestHandler {
  /** `/express-sockets/client.<version>.js`: `Cache-Control: public, max-age=31536000, immutable`. */
  readonly path: string;
  /** `/express-sockets/client.js`: `Cache-Control: no-cache` (revalidated with its ETag). */
  readonly latestPath: string;
}

/** The built bundle: next to this file once compiled (dist/static -> dist/client), or in dist/ from the sources. */
function findBundle(): string {
  const candidates = [
    path.join(__dirname, "..", "client", FILE),
    path.join(__dirname, "..", "..", "dist", "client", FILE),
  ];
  const found = candidates.find((f) => fs.existsSync(f));
  if (found === undefined) {
    throw new Error(
      `sockets.client(): ${FILE} not found (run \`npm run build\`): looked in ${candidates.join(", ")}`,
    );
  }
  return found;
}

function version(): string {
  const pkg = JSON.parse(
    fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"),
  ) as { version: string };
  return pkg.version;
}

/**
 * Serves the browser client as an ES module: `GET <path>/client.<version>.js` (cached for a
 * year) and `GET <path>/client.js` (revalidated each time). Gzipped when the browser accepts it.
 * Other requests pass through. Reads the bundle once, when called; throws if it is not built.
 */
export function client(options: ClientOptions = {}): ClientMiddleware {
  const dir = (options.path ?? CLIENT_PATH).replace(/\/+$/, "");
  if (typeof dir !== "string" || (dir !== "" && !dir.startsWith("/"))) {
    throw new TypeError(`sockets.client(): path must start with "/", got ${String(options.path)}`);
  }
  const body = fs.readFileSync(findBundle());
  const gzipped = zlib.gzipSync(body, { level: 9 });
  const hash = crypto.createHash("sha256").update(body).digest("base64url").slice(0, 27);
  const versioned = `${dir}/client.${version()}.js`;
  const latest = `${dir}/client.js`;

  const handler = function expressSocketsClient(
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    const immutable = req.path === versioned;
    if (!immutable && req.path !== latest) return next();
    const gzip = /\bgzip\b/.test(req.headers["accept-encoding"] ?? "");
    const etag = gzip ? `"${hash}-gz"` : `"${hash}"`;
    res.setHeader("Content-Type", "text/javascript; charset=utf-8");
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
    res.setHeader("Vary", "Accept-Encoding");
    res.setHeader("ETag", etag);
    const match = req.headers["if-none-match"];
    if (
      match !== undefined &&
      match.split(/\s*,\s*/).some((t) => t === etag || t === `W/${etag}` || t === "*")
    ) {
      res.statusCode = 304;
      res.end();
      return;
    }
    const data = gzip ? gzipped : body;
    if (gzip) res.setHeader("Content-Encoding", "gzip");
    res.setHeader("Content-Length", data.length);
    res.end(req.method === "HEAD" ? undefined : data);
  };
  return Object.assign(handler, { path: versioned, latestPath: latest });
}
