// Which files a viewer may show: a fixed list (`files`) or the regular files inside a directory
// (`root`). A page asks for files by name; a name is resolved here and nowhere else, so a file
// outside the list or the root is never opened: in list mode a name must be one of the list
// (compared as a string, never joined to a path); in root mode `..`, absolute paths, empty
// segments, dotfiles and dot folders (.env, .git/), NUL and backslashes are refused, and so is
// a symlink whose target lies outside the root or anything that is not a regular file.

import * as fsp from "node:fs/promises";
import * as path from "node:path";

/** At most this many names are listed for a root (breadth first, sorted within each folder). */
export const MAX_LISTED = 1000;
/** Folders deeper than this below the root are not listed (they can still be named). */
const MAX_DEPTH = 4;

export interface Catalog {
  readonly mode: "files" | "root";
  /** The names a page may ask for, in display order (bounded by MAX_LISTED). */
  list(): Promise<string[]>;
  /** The real path of a name, or null when it must be refused. */
  resolve(name: string): Promise<string | null>;
}

/** A catalog of exactly these files, named as given (duplicates dropped). */
export function fileCatalog(files: readonly string[]): Catalog {
  const byName = new Map<string, string>();
  for (const f of files) if (!byName.has(f)) byName.set(f, path.resolve(f));
  const names = [...byName.keys()];
  return {
    mode: "files",
    list: () => Promise.resolve(names.slice()),
    resolve: (name) => Promise.resolve(byName.get(name) ?? null),
  };
}

/** A catalog of the regular files inside `root` (a real path), named by their relative path. */
export function rootCatalog(root: string): Catalog {
  return {
    mode: "root",
    list: () => listRoot(root),
    resolve: (name) => resolveInRoot(root, name),
  };
}

async function listRoot(root: string): Promise<string[]> {
  const out: string[] = [];
  let level: string[] = [""];
  for (let depth = 0; depth <= MAX_DEPTH && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      let entries;
      try {
        entries = await fsp.readdir(path.join(root, dir), { withFileTypes: true });
      } catch {
        continue;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        if (e.name.startsWith(".")) continue; // .git, editor swap files...
        const rel = dir === "" ? e.name : `${dir}/${e.name}`;
        if (e.isDirectory()) next.push(rel);
        else if ((e.isFile() || e.isSymbolicLink()) && (await resolveInRoot(root, rel)) !== null) {
          out.push(rel);
          if (out.length >= MAX_LISTED) return out;
        }
      }
    }
    level = next;
  }
  return out;
}

/** `name` is a `/`-separated path relative to `root`; null unless it is a regular file inside. */
export async function resolveInRoot(root: string, name: string): Promise<string | null> {
  if (typeof name !== "string" || name === "" || name.length > 4096) return null;
  const segments = name.split("/");
  for (const s of segments) {
    // Empty, dot segments, dotfiles and dot folders (.env, .git/), backslashes, NUL.
    if (s === "" || s.startsWith(".") || /[\\\0]/.test(s)) return null;
  }
  let real: string;
  try {
    real = await fsp.realpath(path.join(root, ...segments));
  } catch {
    return null;
  }
  if (!real.startsWith(root + path.sep)) return null;
  try {
    return (await fsp.stat(real)).isFile() ? real : null;
  } catch {
    return null;
  }
}
