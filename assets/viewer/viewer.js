// The log viewer page's script (served by sockets.viewer(); no framework, no build step).
//
// One EventSource carries every open file (see lib/viewer/stream.ts): each event is
// {f, o, t}: the file's index in this stream, the byte offset after its lines, and the lines.
// The browser resumes by itself with Last-Event-ID; when it gives up (the server answered an
// error), the page reconnects with the offsets it holds (?o=), so no line is lost or repeated.
//
// Rendering: lines are stored per file (at most maxLines each) and drawn once per animation
// frame, only for the tab on screen, so a burst of thousands of lines costs one layout. Every
// line is put in the page as text (text nodes, spans for ANSI colours and highlights), never
// parsed as HTML.
"use strict";

(function viewerPage() {
  const $ = (id) => document.getElementById(id);
  const log = $("log");
  const tabsEl = $("tabs");
  const statusEl = $("status");
  const countEl = $("count");
  const filterEl = $("filter");
  const highlightEl = $("highlight");
  const rulesEl = $("rules");
  const pauseEl = $("pause");
  const followEl = $("follow");
  const openEl = $("open");

  const RULES_KEY = "express-sockets.viewer.rules";
  const DEFAULT_RULES = [
    { text: "/\\b(error|fatal|panic|exception)\\b/i", cls: "h1" },
    { text: "/\\bwarn(ing)?\\b/i", cls: "h0" },
  ];

  let config = { title: "Log viewer", mode: "files", files: [], maxLines: 10000, maxFiles: 32 };
  let maxLines = 10000;
  /** Open files, in tab order: { name, lines, unrendered, unread, offset, button, badge }. */
  const tabs = [];
  const byName = new Map();
  let active = null;
  let paused = false;
  let matcher = null; // the filter: (plainText) => boolean, or null for every line
  let rules = loadRules();
  let shown = 0; // line elements on screen not hidden by the filter
  let frameQueued = false;

  // ------------------------------------------------------------------------------ status

  function setStatus(text, state) {
    statusEl.textContent = text;
    statusEl.className = "status " + state;
    statusEl.dataset.state = state;
  }

  // ---------------------------------------------------------------------------- patterns

  /** "text" (case-insensitive) or "/regex/flags" into a RegExp; null when invalid or empty. */
  function compile(source, global) {
    if (source === "") return null;
    const m = /^\/(.+)\/([a-z]*)$/.exec(source);
    try {
      if (m !== null) {
        const flags = m[2].replace(/[gy]/g, "") + (global ? "g" : "");
        return new RegExp(m[1], flags);
      }
      return new RegExp(source.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), global ? "gi" : "i");
    } catch {
      return undefined; // invalid: told apart from empty
    }
  }

  // -------------------------------------------------------------------------------- ANSI

  const CSI = /\x1b\[([0-9;:?]*)([A-Za-z])/g; // eslint-disable-line no-control-regex

  /** The 256-colour palette entry n (16..255) as an rgb() string. */
  function color256(n) {
    if (n < 16) return n;
    if (n >= 232) {
      const v = 8 + (n - 232) * 10;
      return `rgb(${v},${v},${v})`;
    }
    const i = n - 16;
    const c = (x) => (x === 0 ? 0 : 55 + x * 40);
    return `rgb(${c(Math.floor(i / 36))},${c(Math.floor(i / 6) % 6)},${c(i % 6)})`;
  }

  function sgr(state, params) {
    const p = params === "" ? [0] : params.split(/[;:]/).map((x) => (x === "" ? 0 : Number(x)));
    const s = Object.assign({}, state);
    for (let i = 0; i < p.length; i++) {
      const n = p[i];
      if (n === 0) Object.assign(s, PLAIN);
      else if (n === 1) s.b = true;
      else if (n === 2) s.d = true;
      else if (n === 3) s.i = true;
      else if (n === 4) s.u = true;
      else if (n === 7) s.inv = true;
      else if (n === 9) s.s = true;
      else if (n === 22) s.b = s.d = false;
      else if (n === 23) s.i = false;
      else if (n === 24) s.u = false;
      else if (n === 27) s.inv = false;
      else if (n === 29) s.s = false;
      else if (n >= 30 && n <= 37) s.fg = n - 30;
      else if (n === 39) s.fg = null;
      else if (n >= 40 && n <= 47) s.bg = n - 40;
      else if (n === 49) s.bg = null;
      else if (n >= 90 && n <= 97) s.fg = n - 90 + 8;
      else if (n >= 100 && n <= 107) s.bg = n - 100 + 8;
      else if (n === 38 || n === 48) {
        let value;
        if (p[i + 1] === 5 && i + 2 < p.length) {
          value = color256(Math.min(255, p[i + 2]));
          i += 2;
        } else if (p[i + 1] === 2 && i + 4 < p.length) {
          const [r, g, b] = p.slice(i + 2, i + 5).map((x) => Math.min(255, x));
          value = `rgb(${r},${g},${b})`;
          i += 4;
        } else {
          break;
        }
        if (n === 38) s.fg = value;
        else s.bg = value;
      }
    }
    return s;
  }

  const PLAIN = {
    fg: null,
    bg: null,
    b: false,
    d: false,
    i: false,
    u: false,
    s: false,
    inv: false,
  };

  /** A line as [{ text, style }] runs (ANSI escape sequences removed); style null = plain. */
  function runs(line) {
    if (line.indexOf("\x1b") < 0) return [{ text: line, style: null }];
    const out = [];
    let state = PLAIN;
    let last = 0;
    CSI.lastIndex = 0;
    for (let m = CSI.exec(line); m !== null; m = CSI.exec(line)) {
      if (m.index > last) out.push({ text: line.slice(last, m.index), style: state });
      last = CSI.lastIndex;
      if (m[2] === "m") state = sgr(state, m[1]);
    }
    if (last < line.length) out.push({ text: line.slice(last), style: state });
    return out.map((r) => (r.style === PLAIN ? { text: r.text, style: null } : r));
  }

  function styled(node, style) {
    if (style === null) return node;
    let fg = style.fg;
    let bg = style.bg;
    if (style.inv) {
      fg = bg === null ? "var(--bg)" : bg;
      bg = style.fg === null ? "var(--fg)" : style.fg;
    }
    const span = document.createElement("span");
    let cls = "";
    if (typeof fg === "number") cls += ` f${fg}`;
    else if (fg !== null) span.style.color = fg;
    if (typeof bg === "number") cls += ` g${bg}`;
    else if (bg !== null) span.style.backgroundColor = bg;
    if (style.b) cls += " b";
    if (style.d) cls += " d";
    if (style.i) cls += " i";
    if (style.u) cls += " u";
    if (style.s) cls += " s";
    span.className = cls.trim();
    span.append(node);
    return span;
  }

  // ------------------------------------------------------------------------ line elements

  /** Highlight ranges [start, end, class] of the plain text, first rule first, no overlaps. */
  function marks(plain) {
    const out = [];
    for (const rule of rules) {
      if (!rule.re) continue;
      rule.re.lastIndex = 0;
      let count = 0;
      for (let m = rule.re.exec(plain); m !== null && count < 100; m = rule.re.exec(plain)) {
        if (m[0] === "") {
          rule.re.lastIndex++;
          continue;
        }
        const start = m.index;
        const end = start + m[0].length;
        if (!out.some((r) => start < r[1] && end > r[0])) out.push([start, end, rule.cls]);
        count++;
      }
    }
    return out.sort((a, b) => a[0] - b[0]);
  }

  /** One line as an element: text nodes only (never HTML), wrapped for colours and marks. */
  function lineElement(line) {
    const el = document.createElement("div");
    el.className = "line";
    const parts = runs(line);
    const plain = parts.length === 1 ? parts[0].text : parts.map((r) => r.text).join("");
    const ranges = rules.length === 0 ? [] : marks(plain);
    if (parts.length === 1 && parts[0].style === null && ranges.length === 0) {
      el.textContent = plain;
    } else {
      let pos = 0;
      let k = 0;
      for (const part of parts) {
        let i = 0;
        while (i < part.text.length) {
          const at = pos + i;
          while (k < ranges.length && ranges[k][1] <= at) k++;
          let end = part.text.length;
          let cls = null;
          if (k < ranges.length) {
            if (ranges[k][0] <= at) {
              cls = ranges[k][2];
              end = Math.min(end, ranges[k][1] - pos);
            } else {
              end = Math.min(end, ranges[k][0] - pos);
            }
          }
          let node = styled(document.createTextNode(part.text.slice(i, end)), part.style);
          if (cls !== null) {
            const mark = document.createElement("mark");
            mark.className = cls;
            mark.append(node);
            node = mark;
          }
          el.append(node);
          i = end;
        }
        pos += part.text.length;
      }
    }
    if (matcher !== null && !matcher(plain)) el.hidden = true;
    return el;
  }

  // ---------------------------------------------------------------------------- drawing

  function atBottom() {
    return log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  }

  function scheduleFrame() {
    if (frameQueued) return;
    frameQueued = true;
    requestAnimationFrame(frame);
  }

  // Lines are drawn into blocks of BLOCK lines: appending touches the last block, dropping old
  // lines touches the first, so the browser re-lays out two small boxes, not 10,000 lines.
  const BLOCK = 200;
  let drawn = 0; // line elements in the page

  /** Appends line elements to the blocks, opening new blocks as they fill. */
  function appendLines(elements) {
    let block = log.lastElementChild;
    let i = 0;
    while (i < elements.length) {
      if (block === null || block.childElementCount >= BLOCK) {
        block = document.createElement("div");
        block.className = "block";
        log.append(block);
      }
      const take = Math.min(BLOCK - block.childElementCount, elements.length - i);
      block.append(...elements.slice(i, i + take));
      i += take;
    }
    drawn += elements.length;
  }

  /** Drops the oldest line elements beyond maxLines: whole blocks first, then single lines. */
  function trimLines() {
    while (drawn > maxLines) {
      const first = log.firstElementChild;
      const excess = drawn - maxLines;
      if (first.childElementCount <= excess) {
        for (let el = first.firstElementChild; el !== null; el = el.nextElementSibling) {
          if (!el.hidden) shown--;
        }
        drawn -= first.childElementCount;
        first.remove();
      } else {
        for (let k = 0; k < excess; k++) {
          const el = first.firstElementChild;
          if (!el.hidden) shown--;
          el.remove();
        }
        drawn -= excess;
      }
    }
  }

  /** New line elements for lines[from..], counting those the filter shows. */
  function elementsFor(lines, from) {
    const out = new Array(lines.length - from);
    for (let i = from; i < lines.length; i++) {
      const el = lineElement(lines[i]);
      if (!el.hidden) shown++;
      out[i - from] = el;
    }
    return out;
  }

  /** Redraws the active tab from its stored lines. */
  function redraw() {
    log.replaceChildren();
    drawn = 0;
    shown = 0;
    if (active !== null) {
      const lines = active.lines;
      appendLines(elementsFor(lines, Math.max(0, lines.length - maxLines)));
      active.unrendered = 0;
    }
    log.scrollTop = log.scrollHeight;
    followEl.hidden = true;
    updateCount();
  }

  /** Once per animation frame: draw what arrived for the tab on screen, update the badges. */
  function frame() {
    frameQueued = false;
    for (const tab of tabs) {
      tab.badge.textContent = tab.unread === 0 ? "" : tab.unread > 9999 ? "9999+" : tab.unread;
    }
    const tab = active;
    if (tab === null) return;
    if (tab.lines.length > maxLines) tab.lines.splice(0, tab.lines.length - maxLines);
    if (paused) {
      updateCount();
      return;
    }
    const n = Math.min(tab.unrendered, tab.lines.length);
    tab.unrendered = 0;
    if (n === 0) return updateCount();
    const bottom = atBottom();
    if (n >= maxLines) {
      redraw();
      return;
    }
    appendLines(elementsFor(tab.lines, tab.lines.length - n));
    trimLines();
    if (bottom) log.scrollTop = log.scrollHeight;
    else followEl.hidden = false;
    updateCount();
  }

  function updateCount() {
    const total = drawn;
    let text = `${total.toLocaleString()} line${total === 1 ? "" : "s"}`;
    if (matcher !== null) text += ` · ${shown.toLocaleString()} shown`;
    if (paused && active !== null && active.unrendered > 0) {
      text += ` · paused, ${Math.min(active.unrendered, maxLines).toLocaleString()} new`;
    } else if (paused) {
      text += " · paused";
    }
    countEl.textContent = text;
  }

  function refilter() {
    shown = 0;
    for (const el of log.querySelectorAll(".line")) {
      el.hidden = matcher !== null && !matcher(el.textContent);
      if (!el.hidden) shown++;
    }
    updateCount();
  }

  // ------------------------------------------------------------------------------- tabs

  function receive(tab, text) {
    const lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      tab.lines.push(line.endsWith("\r") ? line.slice(0, -1) : line);
    }
    tab.unrendered += lines.length;
    // A file's first lines (its backlog) are not news; what comes after them is.
    if (tab !== active && tab.started) tab.unread += lines.length;
    tab.started = true;
    // Files not on screen are trimmed here, in batches; the one on screen at each frame.
    if (tab.lines.length > maxLines + 4096) tab.lines.splice(0, tab.lines.length - maxLines);
    scheduleFrame();
  }

  /** A file's label: its last path segment, or the whole name when that is ambiguous. */
  function shortName(name) {
    const base = (n) => n.slice(Math.max(n.lastIndexOf("/"), n.lastIndexOf("\\")) + 1);
    const short = base(name);
    const same = config.files.filter((n) => base(n) === short).length;
    return short !== "" && same <= 1 ? short : name;
  }

  function addTab(name) {
    if (byName.has(name)) return byName.get(name);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "tab";
    button.setAttribute("role", "tab");
    button.title = name;
    const label = document.createElement("span");
    label.textContent = shortName(name);
    const badge = document.createElement("span");
    badge.className = "unread";
    button.append(label, badge);
    const tab = {
      name,
      lines: [],
      unrendered: 0,
      unread: 0,
      started: false,
      offset: "",
      button,
      badge,
    };
    if (config.mode === "root") {
      const close = document.createElement("span");
      close.className = "close";
      close.textContent = "×";
      close.title = "Close";
      close.addEventListener("click", (e) => {
        e.stopPropagation();
        closeTab(tab);
      });
      button.append(close);
    }
    button.addEventListener("click", () => activate(tab));
    tabs.push(tab);
    byName.set(name, tab);
    tabsEl.append(button);
    return tab;
  }

  function closeTab(tab) {
    tabs.splice(tabs.indexOf(tab), 1);
    byName.delete(tab.name);
    tab.button.remove();
    if (active === tab) activate(tabs[0] ?? null);
    saveOpen();
    fillOpenList();
    connect();
  }

  function activate(tab) {
    active = tab;
    for (const t of tabs) t.button.setAttribute("aria-selected", String(t === tab));
    if (tab !== null) {
      tab.unread = 0;
      tab.badge.textContent = "";
      document.title = `${shortName(tab.name)} · ${config.title}`;
    }
    redraw();
  }

  // ----------------------------------------------------------------- root mode: file list

  function saveOpen() {
    if (config.mode !== "root") return;
    const q = new URLSearchParams();
    for (const t of tabs) q.append("f", t.name);
    history.replaceState(null, "", "#" + q.toString());
  }

  function fillOpenList() {
    if (config.mode !== "root") return;
    const first = document.createElement("option");
    first.value = "";
    first.textContent = config.files.length === 0 ? "No files" : "Open a file…";
    const options = [first];
    for (const name of config.files) {
      if (byName.has(name)) continue;
      const o = document.createElement("option");
      o.value = name;
      o.textContent = name;
      options.push(o);
    }
    openEl.replaceChildren(...options);
    openEl.hidden = false;
  }

  // --------------------------------------------------------------------------- the stream

  let source = null;
  let streamNames = [];
  let retryTimer = null;
  let retryDelay = 1000;

  function connect() {
    if (source !== null) source.close();
    source = null;
    clearTimeout(retryTimer);
    streamNames = tabs.map((t) => t.name);
    if (streamNames.length === 0) {
      setStatus("no file open", "closed");
      return;
    }
    const q = new URLSearchParams();
    for (const t of tabs) {
      q.append("f", t.name);
      q.append("o", t.offset);
    }
    const es = new EventSource("events?" + q.toString());
    source = es;
    setStatus("connecting", "connecting");
    es.onopen = () => {
      retryDelay = 1000;
      setStatus("live", "open");
    };
    es.onmessage = (event) => {
      if (source !== es) return;
      let m;
      try {
        m = JSON.parse(event.data);
      } catch {
        return;
      }
      const tab = byName.get(streamNames[m.f]);
      if (tab === undefined || typeof m.t !== "string") return;
      tab.offset = String(m.o);
      receive(tab, m.t);
    };
    es.onerror = () => {
      if (source !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // Refused (401, 404, 5xx) or given up: try again by ourselves, with our own positions.
        es.close();
        source = null;
        const delay = Math.round(retryDelay * (0.5 + Math.random() / 2));
        retryDelay = Math.min(retryDelay * 2, 30000);
        setStatus(`offline · retrying in ${Math.ceil(delay / 1000)} s`, "closed");
        retryTimer = setTimeout(connect, delay);
      } else {
        setStatus("reconnecting", "reconnecting");
      }
    };
  }

  // ------------------------------------------------------------------------ highlights

  function loadRules() {
    let saved;
    try {
      saved = JSON.parse(localStorage.getItem(RULES_KEY));
    } catch {
      saved = null;
    }
    const list = Array.isArray(saved) ? saved : DEFAULT_RULES;
    return list
      .filter((r) => r && typeof r.text === "string" && /^h[0-5]$/.test(r.cls))
      .map((r) => ({ text: r.text, cls: r.cls, re: compile(r.text, true) || null }));
  }

  function saveRules() {
    try {
      localStorage.setItem(
        RULES_KEY,
        JSON.stringify(rules.map((r) => ({ text: r.text, cls: r.cls }))),
      );
    } catch {
      // storage full or disabled: the rules last for this page only
    }
  }

  function drawRules() {
    const chips = rules.map((rule, i) => {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = `rule ${rule.cls}`;
      chip.textContent = rule.text;
      chip.title = "Remove this highlight";
      chip.addEventListener("click", () => {
        rules.splice(i, 1);
        saveRules();
        drawRules();
        redraw();
      });
      return chip;
    });
    rulesEl.replaceChildren(...chips);
  }

  // ------------------------------------------------------------------------------- wiring

  filterEl.addEventListener("input", () => {
    const re = compile(filterEl.value, false);
    filterEl.classList.toggle("invalid", re === undefined);
    matcher = re ? (text) => re.test(text) : null;
    refilter();
  });

  highlightEl.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    const text = highlightEl.value;
    const re = compile(text, true);
    highlightEl.classList.toggle("invalid", re === undefined);
    if (!re) return;
    const used = new Set(rules.map((r) => r.cls));
    const cls = ["h0", "h1", "h2", "h3", "h4", "h5"].find((c) => !used.has(c)) || "h0";
    rules.push({ text, cls, re });
    highlightEl.value = "";
    saveRules();
    drawRules();
    redraw();
  });

  pauseEl.addEventListener("click", () => {
    paused = !paused;
    pauseEl.textContent = paused ? "Resume" : "Pause";
    pauseEl.setAttribute("aria-pressed", String(paused));
    if (paused) updateCount();
    else scheduleFrame();
  });

  $("clear").addEventListener("click", () => {
    if (active === null) return;
    active.lines = [];
    active.unrendered = 0;
    redraw();
  });

  followEl.addEventListener("click", () => {
    log.scrollTop = log.scrollHeight;
    followEl.hidden = true;
  });

  log.addEventListener("scroll", () => {
    if (atBottom()) followEl.hidden = true;
  });

  openEl.addEventListener("change", () => {
    const name = openEl.value;
    if (name === "" || tabs.length >= config.maxFiles) return;
    const tab = addTab(name);
    saveOpen();
    fillOpenList();
    activate(tab);
    connect();
  });

  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && document.activeElement === document.body) {
      e.preventDefault();
      filterEl.focus();
    }
  });

  async function start() {
    let delay = 1000;
    for (;;) {
      try {
        const res = await fetch("files.json", { cache: "no-store" });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        config = Object.assign(config, await res.json());
        break;
      } catch (err) {
        setStatus(`cannot load the file list (${err.message}) · retrying`, "closed");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30000);
      }
    }
    maxLines = Math.max(1, Number(config.maxLines) || 10000);
    document.title = config.title;
    $("title").textContent = config.title;
    $("title").title = config.title;
    drawRules();
    let names = config.files;
    if (config.mode === "root") {
      const wanted = new URLSearchParams(location.hash.slice(1)).getAll("f");
      names = wanted.filter((n) => config.files.includes(n));
      if (names.length === 0) names = config.files.slice(0, 1);
      names = names.slice(0, config.maxFiles);
    }
    for (const name of names) addTab(name);
    fillOpenList();
    saveOpen();
    activate(tabs[0] ?? null);
    connect();
  }

  start();
})();
