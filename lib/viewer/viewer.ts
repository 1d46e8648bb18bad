// sockets.viewer({ files | root }): the log viewer page as Express middleware. Mount it anywhere
// (`app.use("/logs", requireLogin, sockets.viewer({ files: ["app.log"] }))`); the app's own
// middleware before it (auth, sessions, rate limits) guards the page, its script and its stream
// alike, since all of them are requests under the same path.
//
// What it answers, relative to where it is mounted:
//   GET /             the page (a mount path without its trailing slash is redirected to it,
//                     so the page's relative URLs stay under the mount)
//   GET /viewer.js, /viewer.css, /favicon.svg
//   GET /files.json   { title, mode, files: [names], lines, maxLines }
//   GET /events?f=<name>&o=<offset>...   one SSE stream for the named files (see stream.ts)
// Anything else goes to the app's next handler (its 404).

import express, { type NextFunction, type Request, type Response, type Router } from "express";
import * as fs from "node:fs";
import { createLog, type LoggerLike, type LogLevel } from "../core/logger";
import { checkCount, checkTime } from "../core/options";
import { sse, type SseLocals } from "../sse/sse";
import { loadAssets, securityHeaders, sendAsset } from "./assets";
import { fileCatalog, rootCatalog, type Catalog } from "./catalog";
import { streamFiles } from "./stream";

interface ViewerCommonOptions {
  /** The page's title. Defaults to the file names (list mode) or the root's path. */
  title?: string;
  /** Each file starts with its last this many lines. Defaults to `100`. */
  lines?: number;
  /** Lines the page keeps per file; older ones are dropped. Defaults to `10000`. */
  maxLines?: number;
  /** Files one page may follow at once (one stream). Defaults to `32`. */
  maxFiles?: number;
  /** Delay (ms) before the browser reconnects a dropped stream. Defaults to `1000`. */
  retry?: number;
  /** A keep-alive comment after this many ms of silence. `0` = never. Defaults to `15000`. */
  keepAlive?: number;
  /** Safety-net stat poll of followed files, in ms; `0` = file-system events only. Defaults to `2000`. */
  pollInterval?: number;
  /** Where log lines go. Defaults to stdout, prefixed `[sockets] `. */
  logger?: LoggerLike;
  /** The most verbose level written. Defaults to `"info"`. */
  logLevel?: LogLevel;
  /** No logging at all. Defaults to `false`. */
  skipLogging?: boolean;
}

/** A viewer of a fixed list of files, each in its own tab, named as given. */
export interface ViewerFilesOptions extends ViewerCommonOptions {
  /** The files to follow. They may not exist yet: a tab waits for its file, like `tail -F`. */
  files: string | readonly string[];
  root?: undefined;
}

/** A viewer of the regular files inside a directory: the page lists them, one tab per file opened. */
export interface ViewerRootOptions extends ViewerCommonOptions {
  /** The directory; must exist. Nothing outside it is served (symlinks leading out included). */
  root: string;
  files?: undefined;
}

/** Options of `sockets.viewer()`: exactly one of `files` or `root`, the rest optional. */
export type ViewerOptions = ViewerFilesOptions | ViewerRootOptions;

function checkOptions(options: ViewerOptions): { catalog: Catalog; title: string } {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError("sockets.viewer: expected an options object with `files` or `root`");
  }
  const { files, root } = options;
  if ((files === undefined) === (root === undefined)) {
    throw new TypeError("sockets.viewer: give exactly one of `files` or `root`");
  }
  if (files !== undefined) {
    const list = typeof files === "string" ? [files] : files;
    if (!Array.isArray(list) || list.length === 0) {
      throw new TypeError("sockets.viewer: `files` must be a path or a non-empty array of paths");
    }
    for (const f of list as unknown[]) {
      if (typeof f !== "string" || f === "" || f.includes("\0")) {
        throw new TypeError(`sockets.viewer: invalid file path ${JSON.stringify(f)}`);
      }
    }
    return { catalog: fileCatalog(list), title: options.title ?? list.join(", ") };
  }
  if (typeof root !== "string" || root === "") {
    throw new TypeError("sockets.viewer: `root` must be a directory path");
  }
  let real: string;
  try {
    real = fs.realpathSync(root);
  } catch (err) {
    throw new TypeError(`sockets.viewer: root ${root} is not accessible`, { cause: err });
  }
  if (!fs.statSync(real).isDirectory()) {
    throw new TypeError(`sockets.viewer: root ${root} is not a directory`);
  }
  return { catalog: rootCatalog(real), title: options.title ?? root };
}

/** A request target's path and query (`?...` or ""), as sent: no URL parsing of `//host`. */
function splitUrl(target: string): { pathname: string; search: string } {
  const q = target.indexOf("?");
  return q < 0
    ? { pathname: target, search: "" }
    : { pathname: target.slice(0, q), search: target.slice(q) };
}

/** A resume position from the page: decimal digits, or empty for "its last lines". */
function parsePosition(value: string): number | undefined | null {
  if (value === "") return undefined;
  if (!/^\d{1,16}$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

interface StreamRequest {
  paths: string[];
  starts: (number | undefined)[];
}

/** What viewerResolve found for a stream request, for viewerStream after sockets.sse(). */
const streams = new WeakMap<Request, StreamRequest>();

/**
 * `sockets.viewer({ files | root, ...options })`: an Express router serving the log viewer page
 * and its live stream. Throws TypeError/RangeError at once for invalid options.
 */
export function viewer(options: ViewerOptions): Router {
  const { catalog, title } = checkOptions(options);
  if (options.title !== undefined && typeof options.title !== "string") {
    throw new TypeError("sockets.viewer: `title` must be a string");
  }
  const lines = checkCount("lines", options.lines, 100);
  const maxLines = checkCount("maxLines", options.maxLines, 10_000);
  if (maxLines < 1) throw new RangeError("options.maxLines must be at least 1");
  const maxFiles = checkCount("maxFiles", options.maxFiles, 32);
  if (maxFiles < 1) throw new RangeError("options.maxFiles must be at least 1");
  const log = createLog(options);
  const logOptions = {
    logger: options.logger,
    logLevel: options.logLevel,
    skipLogging: options.skipLogging,
  };
  const tailOptions = {
    lines,
    pollInterval: checkTime("pollInterval", options.pollInterval, 2_000),
    ...logOptions,
  };
  const events = sse({
    retry: checkCount("retry", options.retry, 1_000),
    keepAlive: checkTime("keepAlive", options.keepAlive, 15_000),
    ...logOptions,
  });
  const assets = loadAssets();
  const page = assets.get("index.html")!;
  const script = assets.get("viewer.js")!;
  const style = assets.get("viewer.css")!;
  const icon = assets.get("favicon.svg")!;

  const router = express.Router({ caseSensitive: true, strict: true });
  router.use(securityHeaders);

  router.get("/", function viewerPage(req: Request, res: Response): void {
    const { pathname, search } = splitUrl(req.originalUrl);
    if (!pathname.endsWith("/")) {
      // Never "//host/...": a protocol-relative Location would leave this site.
      res.redirect(302, `${pathname.replace(/^\/+/, "/")}/${search}`);
      return;
    }
    sendAsset(req, res, page);
  });
  router.get("/viewer.js", (req, res) => sendAsset(req, res, script));
  router.get("/viewer.css", (req, res) => sendAsset(req, res, style));
  router.get("/favicon.svg", (req, res) => sendAsset(req, res, icon));

  router.get("/files.json", function viewerFiles(_req: Request, res: Response, next): void {
    catalog.list().then((files) => {
      res.setHeader("Cache-Control", "no-store");
      res.json({ title, mode: catalog.mode, files, lines, maxLines, maxFiles });
    }, next);
  });

  router.get(
    "/events",
    function viewerResolve(req: Request, res: Response, next: NextFunction): void {
      void resolveStream(req, res).then((found) => {
        if (found === null) return;
        streams.set(req, found);
        next();
      }, next);
    },
    events,
    function viewerStream(req: Request, res: Response<unknown, SseLocals>): Promise<void> {
      const found = streams.get(req)!;
      streams.delete(req);
      return streamFiles(found.paths, found.starts, res.locals.socket, tailOptions);
    },
  );

  /** The files and positions a stream request names; answers 400/404 itself (then null). */
  async function resolveStream(req: Request, res: Response): Promise<StreamRequest | null> {
    const query = new URLSearchParams(splitUrl(req.originalUrl).search);
    let names = query.getAll("f");
    if (names.length === 0 && catalog.mode === "files") names = await catalog.list();
    const refuse = (status: number, message: string): null => {
      log.info(req.socket.remoteAddress ?? "", `viewer: refused ${req.originalUrl}: ${message}`);
      res.status(status).type("text/plain").send(message);
      return null;
    };
    if (names.length === 0) return refuse(400, "name the files to follow with ?f=");
    if (names.length > maxFiles) return refuse(400, `at most ${maxFiles} files per stream`);
    if (new Set(names).size !== names.length) return refuse(400, "a file is named twice");
    const paths: string[] = [];
    for (const name of names) {
      const p = await catalog.resolve(name);
      if (p === null) return refuse(404, "Not Found");
      paths.push(p);
    }
    // Positions: the browser's Last-Event-ID (its own reconnect) wins over ?o= (the page's).
    let starts: (number | undefined)[] | null = null;
    const lastEventId = req.headers["last-event-id"];
    if (typeof lastEventId === "string" && lastEventId !== "") {
      const parts = lastEventId.split(",").map(parsePosition);
      if (parts.length === names.length && !parts.includes(null)) {
        starts = parts as (number | undefined)[];
      }
    }
    if (starts === null) {
      const given = query.getAll("o");
      if (given.length !== 0 && given.length !== names.length) {
        return refuse(400, "give one ?o= per ?f=, or none");
      }
      const parts = given.map(parsePosition);
      if (parts.includes(null)) return refuse(400, "invalid resume offset");
      starts = names.map((_, i) => parts[i] ?? undefined);
    }
    return { paths, starts };
  }

  return router;
}
