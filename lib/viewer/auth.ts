// HTTP basic auth for the command-line viewer (`--user`/`--password`). Both the user name and
// the password are compared in constant time (as SHA-256 digests, so their lengths leak nothing
// either), and both comparisons always run. A refusal is a 401 with a `WWW-Authenticate` header,
// so the browser asks for credentials.

import { createHash, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** Middleware that lets through only requests carrying these basic-auth credentials. */
export function basicAuth(
  user: string,
  password: string,
  realm = "express-sockets",
): (req: Request, res: Response, next: NextFunction) => void {
  const wantUser = digest(user);
  const wantPassword = digest(password);
  const challenge = `Basic realm="${realm.replace(/["\\\r\n]/g, "")}", charset="UTF-8"`;
  return function basicAuthCheck(req: Request, res: Response, next: NextFunction): void {
    const header = req.headers.authorization;
    let ok = false;
    if (typeof header === "string" && /^basic /i.test(header)) {
      const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon >= 0) {
        const userOk = timingSafeEqual(digest(decoded.slice(0, colon)), wantUser);
        const passwordOk = timingSafeEqual(digest(decoded.slice(colon + 1)), wantPassword);
        ok = userOk && passwordOk;
      }
    }
    if (ok) {
      next();
      return;
    }
    res.setHeader("WWW-Authenticate", challenge);
    res.status(401).type("text/plain").send("Unauthorized");
  };
}
