// The viewer page's static files (HTML, CSS, one script), shipped in the package's `assets/viewer`
// folder and read once when a viewer is made, plus the security headers every viewer response
// carries: a Content-Security-Policy that allows only the package's own script and stylesheet
// (no inline script, no eval, no other origin), no framing, no MIME sniffing, no referrer.

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { NextFunction, Request, Response } from "express";

/** The assets folder: two levels up from lib/viewer/ (sources) and dist/viewer/ (the build). */
export const ASSETS_DIR = path.join(__dirname, "..", "..", "assets", "viewer");

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
};

let cache: Map<string, Asset> | undefined;

/** The page's files by name (index.html, viewer.css, viewer.js, favicon.svg), read once per process. */
export function loadAssets(): Map<string, Asset> {
  if (cache !== undefined) return cache;
  const assets = new Map<string, Asset>();
  for (const name of ["index.html", "viewer.css", "viewer.js", "favicon.svg"]) {
    const file = path.join(ASSETS_DIR, name);
    let body: Buffer;
    try {
      body = fs.readFileSync(file);
    } catch (err) {
      throw new Error(`sockets.viewer: the page's file ${file} is missing from the package`, {
        cause: err,
      });
    }
    const etag = `"${createHash("sha1").update(body).digest("base64url").slice(0, 20)}"`;
    assets.set(name, { body, type: TYPES[path.extname(name)]!, etag });
  }
  return (cache = assets);
}

/** Sends an asset; revalidated on every load (`no-cache` + ETag), so an upgrade shows at once. */
export function sendAsset(req: Request, res: Response, asset: Asset): void {
  res.setHeader("Cache-Control", "no-cache");
  res.setHeader("ETag", asset.etag);
  if (req.headers["if-none-match"] === asset.etag) {
    res.status(304).end();
    return;
  }
  res.status(200).type(asset.type).send(asset.body);
}

/** Middleware: the security headers of every viewer response. */
export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("X-Frame-Options", "DENY");
  next();
}
