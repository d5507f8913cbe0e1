/* chrony-snap dashboard. Vanilla JS, no framework, no external resource.
 *
 * Every value from data.json enters the DOM through textContent or
 * setAttribute, never as markup.  Only the cards in view exist in the DOM
 * (windowed grid); cards are keyed by client address and a card whose data
 * did not change is not touched.
 *
 * Data flow per poll: fetch data.json (one request at a time, timeout,
 * paused while the tab is hidden) -> JSON.parse -> columnar model (typed
 * arrays; the parsed object graph is dropped) -> sorted order (cached) ->
 * filtered view -> row layout -> visible window.
 */
(function () {
  "use strict";

  var D = document, HTML = D.documentElement, W = window;
  var STORE_KEY = "chrony-snap.ui.v1";
  var SORTS = { address: "asc", drops: "desc", last: "asc", packets: "desc", rate: "desc" };
  var STATUSES = ["ok", "warning", "critical"];
  var ST_CODE = { ok: 0, warning: 1, critical: 2 };
  var ST_TEXT = ["OK", "Warning", "Critical"];
  var ST_ICON = ["✓", "!", "✕"];
  var MAX_EXCEPT = 10000;
  var OVERSCAN = 120; // px above and below the viewport
  var HIDDEN_CHARS = /[\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/;

  function $(id) { return D.getElementById(id); }
  function numAttr(v, d) { var x = Number(v); return isFinite(x) && x > 0 ? x : d; }

  var CFG = {
    refreshMs: numAttr(HTML.getAttribute("data-refresh-ms"), 1000),
    staleAfterS: numAttr(HTML.getAttribute("data-stale-after-s"), 3),
    fetchTimeoutMs: numAttr(HTML.getAttribute("data-fetch-timeout-ms"), 5000),
    url: "data.json"
  };

  // ------------------------------------------------------------ debug/bench hooks
  var HOOK = W.chronySnap = { perf: [], search: [], polls: 0, errors: 0 };
  function ring(arr, item) { arr.push(item); if (arr.length > 100) arr.shift(); }

  // ------------------------------------------------------------ DOM helpers
  function el(tag, cls, text) {
    var e = D.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function setText(e, t) { if (e.textContent !== t) e.textContent = t; }
  function setAttr(e, k, v) { if (e.getAttribute(k) !== v) e.setAttribute(k, v); }
  function setHidden(e, h) { if (e.hidden !== h) e.hidden = h; }
  function afterPaint(cb) {
    requestAnimationFrame(function () {
      var ch = new MessageChannel();
      ch.port1.onmessage = function () { cb(performance.now()); };
      ch.port2.postMessage(0);
    });
  }

  // ------------------------------------------------------------ formatting
  var NF = new Intl.NumberFormat("en-US");
  function fInt(n) { return (n == null || n !== n) ? "–" : NF.format(n); }
  function fRate(x) {
    if (x == null || x !== x) return "–";
    if (x === 0) return "0/s";
    if (x >= 1000) return NF.format(Math.round(x)) + "/s";
    if (x >= 10) return (+x.toFixed(1)) + "/s";
    if (x >= 0.1) return (+x.toFixed(2)) + "/s";
    return (+x.toFixed(3)) + "/s";
  }
  var UNITS = [[31536000, "y"], [86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
  function fDur(s) {
    if (s == null || s !== s) return "–";
    if (s < 1) {
      var ms = s * 1000;
      return (ms < 10 ? +ms.toFixed(2) : Math.round(ms)) + " ms";
    }
    if (s < 60) return (s < 10 && s % 1 ? +s.toFixed(1) : Math.round(s)) + " s";
    s = Math.round(s);
    for (var k = 0; k < UNITS.length - 1; k++) {
      var u = UNITS[k][0];
      if (s >= u) {
        var a = Math.floor(s / u), r = s - a * u, u2 = UNITS[k + 1][0], b = Math.floor(r / u2);
        return b ? a + " " + UNITS[k][1] + " " + b + " " + UNITS[k + 1][1] : a + " " + UNITS[k][1];
      }
    }
    return s + " s";
  }
  function fAgo(s) { return (s == null || s !== s) ? "never" : (s < 1 ? "0 s" : fDur(s)) + " ago"; }
  function fSec(x, signed) { // small signed durations (offsets, delays)
    if (x == null || x !== x) return "–";
    var a = Math.abs(x), v, u;
    if (a === 0) return "0 s";
    if (a < 1e-6) { v = x * 1e9; u = "ns"; } else if (a < 1e-3) { v = x * 1e6; u = "µs"; }
    else if (a < 1) { v = x * 1e3; u = "ms"; } else { v = x; u = "s"; }
    return (signed && x > 0 ? "+" : "") + (+v.toPrecision(3)) + " " + u;
  }
  function fPpm(x) { return (x == null || x !== x) ? "–" : (+x.toPrecision(4)) + " ppm"; }
  function fTime(ms) {
    if (!ms) return "–";
    var d = new Date(ms);
    function p(n) { return (n < 10 ? "0" : "") + n; }
    return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }
  function fDateTime(ms) {
    var d = new Date(ms);
    function p(n) { return (n < 10 ? "0" : "") + n; }
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + fTime(ms);
  }
  function nn(v) { return typeof v === "number" ? v : NaN; } // null/absent -> NaN

  // ------------------------------------------------------------ addresses
  var MODEL = W.ChronySnapModel;
  var v4num = MODEL.v4num, v6hex = MODEL.v6hex;
  function parseCidr(q) {
    var m = /^([0-9a-f:.]+)\/(\d{1,3})$/i.exec(q);
    if (!m) return null;
    var bits = +m[2];
    if (m[1].indexOf(":") >= 0) {
      var hx = v6hex(m[1]);
      if (!hx || bits > 128) return { bad: true };
      var full = bits >> 2, rem = bits & 3;
      return { v: 6, bits: bits, prefix: hx.slice(0, full), full: full, rem: rem,
               nib: rem ? parseInt(hx[full], 16) >> (4 - rem) : 0,
               text: m[1] + "/" + bits };
    }
    var n = v4num(m[1]);
    if (n < 0 || bits > 32) return { bad: true };
    var mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return { v: 4, bits: bits, mask: mask, net: (n & mask) >>> 0, text: m[1] + "/" + bits };
  }

  // ------------------------------------------------------------ persisted UI state
  var S = { theme: null, sort: "address", dir: "asc", q: "", status: "", allOpen: false, except: new Set() };
  function loadState() {
    var raw = null;
    try { raw = JSON.parse(W.localStorage.getItem(STORE_KEY) || "null"); } catch (e) { raw = null; }
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) return;
    if (raw.theme === "light" || raw.theme === "dark") S.theme = raw.theme;
    if (typeof raw.sort === "string" && Object.prototype.hasOwnProperty.call(SORTS, raw.sort)) {
      S.sort = raw.sort;
      S.dir = SORTS[raw.sort];
    }
    if (raw.dir === "asc" || raw.dir === "desc") S.dir = raw.dir;
    if (typeof raw.q === "string" && raw.q.length <= 200) S.q = raw.q;
    if (typeof raw.status === "string" && STATUSES.indexOf(raw.status) >= 0) S.status = raw.status;
    if (typeof raw.allOpen === "boolean") S.allOpen = raw.allOpen;
    if (Array.isArray(raw.except)) {
      for (var i = 0; i < raw.except.length && i < MAX_EXCEPT; i++) {
        var a = raw.except[i];
        if (typeof a === "string" && a.length <= 64) S.except.add(a);
      }
    }
  }
  var saveTimer = 0;
  function saveNow() {
    saveTimer = 0;
    var ex = [], n = 0;
    S.except.forEach(function (a) { if (n++ < MAX_EXCEPT) ex.push(a); });
    try {
      W.localStorage.setItem(STORE_KEY, JSON.stringify({
        v: 1, theme: S.theme, sort: S.sort, dir: S.dir, q: S.q, status: S.status,
        allOpen: S.allOpen, except: ex }));
    } catch (e) { /* storage full or disabled: not fatal */ }
  }
  function saveSoon() { if (!saveTimer) saveTimer = setTimeout(saveNow, 150); }
  function isOpen(a) { return S.allOpen !== S.except.has(a); }

  // ------------------------------------------------------------ columnar model
  // Built by model.js (in a worker, or on this thread as a fallback); here we
  // only adopt it. Address-derived arrays and strings arrive only when changed.
  var COLS = MODEL.COLS;
  var M = { n: 0, ver: 0, addr: [], host: [], hostL: [], fam: null, st: null, v4: null, v6: null,
            rank: null, byAddr: null, index: null, c: {}, kHas: null, hasNts: false, sameOrder: false };

  function adopt(msg) {
    var prev = M;
    var m = { n: msg.n, ver: prev.ver + 1, c: msg.c, st: msg.st, kHas: msg.kHas, hasNts: msg.hasNts,
              sameOrder: !msg.addrChanged && prev.ver > 0, index: null };
    if (msg.addrChanged) {
      m.addr = msg.addr; m.fam = msg.fam; m.v4 = msg.v4; m.v6 = msg.v6; m.rank = msg.rank; m.byAddr = msg.byAddr;
    } else {
      m.addr = prev.addr; m.fam = prev.fam; m.v4 = prev.v4; m.v6 = prev.v6; m.rank = prev.rank;
      m.byAddr = prev.byAddr; m.index = prev.index;
    }
    if (msg.hostChanged || msg.addrChanged) { m.host = msg.host; m.hostL = msg.hostL; }
    else { m.host = prev.host; m.hostL = prev.hostL; }
    M = m;
  }
  function addrIndex() { // address -> model index, built when first needed
    if (!M.index) {
      var ix = new Map();
      for (var i = 0; i < M.n; i++) ix.set(M.addr[i], i);
      M.index = ix;
    }
    return M.index;
  }

  // ------------------------------------------------------------ sort + filter
  var SORT_COL = { drops: "nDr", last: "last", packets: "nPk", rate: "rPps" };
  var sortCache = { key: null, dir: null, ver: -1, order: null, col: null };

  function sortedOrder() {
    var key = S.sort, desc = S.dir === "desc", n = M.n;
    var sc = sortCache;
    if (sc.ver === M.ver && sc.key === key && sc.dir === S.dir) return sc.order;
    var order;
    if (key === "address") {
      if (desc) { order = new Uint32Array(n); for (var i = 0; i < n; i++) order[i] = M.byAddr[n - 1 - i]; }
      else order = M.byAddr;
      sc.col = null;
    } else {
      var col = M.c[SORT_COL[key]];
      // unchanged key column and address order: the previous order still holds
      if (M.sameOrder && sc.key === key && sc.dir === S.dir && sc.col && sc.col.length === n && sameCol(sc.col, col)) {
        order = sc.order;
      } else {
        order = sortByCol(col, desc, key === "rate" ? 1000 : 1);
        sc.col = col.slice();
      }
    }
    sc.key = key; sc.dir = S.dir; sc.ver = M.ver; sc.order = order;
    return order;
  }
  function sameCol(a, b) {
    for (var i = 0; i < a.length; i++) {
      var x = a[i], y = b[i];
      if (x !== y && (x === x || y === y)) return false;
    }
    return true;
  }
  function sortByCol(col, desc, scale) {
    var n = M.n, rank = M.rank, byAddr = M.byAddr, SH = 1048576, i;
    var max = 0;
    for (i = 0; i < n; i++) { var v = col[i]; if (v > max) max = v; }
    var maxS = Math.round(max * scale);
    var order = new Uint32Array(n);
    if (n <= SH && (maxS + 2) * SH < 9007199254740992) {
      // composite keys (value, address rank) in one Float64Array: native numeric sort
      var keys = new Float64Array(n);
      for (i = 0; i < n; i++) {
        var x = col[i], k;
        if (x !== x) k = maxS + 1; // unknown / never: last in both directions
        else { k = Math.round(x * scale); if (desc) k = maxS - k; }
        keys[i] = k * SH + rank[i];
      }
      keys.sort();
      for (i = 0; i < n; i++) order[i] = byAddr[keys[i] % SH];
      return order;
    }
    for (i = 0; i < n; i++) order[i] = i;
    var sign = desc ? -1 : 1;
    order.sort(function (a, b) {
      var x = col[a], y = col[b];
      if (x !== y) {
        if (x !== x) return 1;
        if (y !== y) return -1;
        if (x < y) return -sign;
        if (x > y) return sign;
      }
      return rank[a] - rank[b];
    });
    return order;
  }

  var V = new Uint32Array(0); // the view: model indices, in display order
  var viewKey = { q: null, status: null, ver: -1, order: null };
  var queryInfo = { text: "", cidr: null };

  function matcher() {
    var q = S.q.trim().toLowerCase();
    var cidr = q ? parseCidr(q) : null;
    queryInfo = { text: q, cidr: cidr };
    var st = S.status ? ST_CODE[S.status] : -1;
    if (!q && st < 0) return null;
    var stA = M.st, addr = M.addr, hostL = M.hostL, fam = M.fam, v4 = M.v4, v6 = M.v6;
    var tq = function (i) { return st < 0 || stA[i] === st; };
    if (!q) return tq;
    if (cidr) {
      if (cidr.bad) return function () { return false; };
      if (cidr.v === 4) {
        var mask = cidr.mask, net = cidr.net;
        return function (i) { return fam[i] === 4 && ((v4[i] & mask) >>> 0) === net && tq(i); };
      }
      return function (i) {
        if (fam[i] !== 6) return false;
        var h = v6[i];
        if (h.slice(0, cidr.full) !== cidr.prefix) return false;
        if (cidr.rem && (parseInt(h[cidr.full], 16) >> (4 - cidr.rem)) !== cidr.nib) return false;
        return tq(i);
      };
    }
    return function (i) {
      return (st < 0 || stA[i] === st) &&
        (addr[i].indexOf(q) >= 0 || (hostL[i] !== null && hostL[i].indexOf(q) >= 0));
    };
  }

  function computeView() {
    var order = sortedOrder();
    var qn = S.q.trim().toLowerCase();
    // typing more characters only narrows the previous result (same data, same order)
    var narrow = viewKey.ver === M.ver && viewKey.order === order && viewKey.status === S.status &&
      viewKey.q !== null && viewKey.q !== "" && qn.indexOf(viewKey.q) === 0 &&
      qn.indexOf("/") < 0 && viewKey.q.indexOf("/") < 0;
    var f = matcher();
    if (!f) V = order;
    else {
      var src = narrow ? V : order, out = new Uint32Array(src.length), k = 0;
      for (var i = 0; i < src.length; i++) { var x = src[i]; if (f(x)) out[k++] = x; }
      V = out.subarray(0, k);
    }
    viewKey = { q: qn, status: S.status, ver: M.ver, order: order };
  }

  // ------------------------------------------------------------ grid layout (windowed)
  var grid = $("grid");
  var L = { cols: 1, cw: 280, ch: 96, oh: 320, gap: 10, minW: 280, width: 0, tops: new Float64Array(1), rows: 0, total: 0 };
  var live = new Map(); // address -> card element in the DOM
  var pool = [];

  function measure() {
    var probe = el("div", "probe");
    probe.setAttribute("aria-hidden", "true");
    var a = el("div", "card"), b = el("div", "card open"), w = el("div", "minw");
    probe.append(a, b, w);
    grid.appendChild(probe);
    var cs = getComputedStyle(grid);
    L.gap = parseFloat(cs.columnGap) || parseFloat(cs.rowGap) || 10;
    L.ch = a.getBoundingClientRect().height || 96;
    L.oh = b.getBoundingClientRect().height || 320;
    L.minW = w.getBoundingClientRect().width || 280;
    grid.removeChild(probe);
    L.width = grid.clientWidth;
    L.cols = Math.max(1, Math.floor((L.width + L.gap) / (L.minW + L.gap)));
    L.cw = Math.floor((L.width - L.gap * (L.cols - 1)) / L.cols);
  }

  function layoutRows() {
    var n = V.length, cols = L.cols, rows = Math.ceil(n / cols);
    var openRow = new Uint8Array(rows);
    var ex = S.except;
    if (ex.size === 0) {
      if (S.allOpen) openRow.fill(1);
    } else {
      var pos = new Int32Array(M.n).fill(-1);
      for (var p = 0; p < n; p++) pos[V[p]] = p;
      if (!S.allOpen) {
        var ix = addrIndex();
        ex.forEach(function (a) {
          var i = ix.get(a);
          if (i !== undefined && pos[i] >= 0) openRow[(pos[i] / cols) | 0] = 1;
        });
      } else {
        var closed = new Uint16Array(rows), ix2 = addrIndex();
        ex.forEach(function (a) {
          var i = ix2.get(a);
          if (i !== undefined && pos[i] >= 0) closed[(pos[i] / cols) | 0]++;
        });
        for (var r = 0; r < rows; r++) {
          var inRow = Math.min(cols, n - r * cols);
          if (closed[r] < inRow) openRow[r] = 1;
        }
      }
    }
    var tops = new Float64Array(rows + 1), y = 0;
    for (var q = 0; q < rows; q++) { tops[q] = y; y += (openRow[q] ? L.oh : L.ch) + L.gap; }
    tops[rows] = y;
    L.tops = tops; L.rows = rows; L.total = rows ? y - L.gap : 0;
    var hpx = L.total + "px";
    if (grid.style.height !== hpx) grid.style.height = hpx;
  }

  function firstRowAt(y) { // last row whose top <= y
    var lo = 0, hi = L.rows - 1, tops = L.tops;
    if (hi < 0) return 0;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (tops[mid] <= y) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  var cardSeq = 0;
  function makeCard() {
    var c = el("article", "card");
    c.setAttribute("role", "listitem");
    var head = el("button", "card-head");
    head.type = "button";
    head.setAttribute("aria-expanded", "false");
    var badge = el("span", "badge"), ico = el("span", "ico"), stt = el("span", "st-text");
    ico.setAttribute("aria-hidden", "true");
    badge.append(ico, stt);
    var addr = el("bdi", "addr mono"), fam = el("span", "fam"); // the chevron is CSS (::after)
    head.append(badge, addr, fam);
    var name = el("bdi", "name");
    var stats = el("div", "stats");
    var sP = el("span", "s-pk"), sD = el("span", "s-dr"), sL = el("span", "s-last"), sR = el("span", "s-rate");
    stats.append(sP, sD, sL, sR);
    c.append(head, name, stats);
    c._r = { head: head, ico: ico, stt: stt, addr: addr, fam: fam, name: name, sP: sP, sD: sD, sL: sL, sR: sR, det: null };
    c._id = "card-" + (++cardSeq);
    c._a = null; c._sig = null; c._x = -1; c._y = -1; c._w = -1;
    return c;
  }

  function sigOf(i, open) {
    var c = M.c, s = M.addr[i] + "\u0001" + M.host[i] + "\u0001" + M.st[i] + "\u0001" + M.kHas[i] + (open ? "\u0001o" : "\u0001c");
    for (var j = 0; j < COLS.length; j++) s += "\u0001" + c[COLS[j]][i];
    return s;
  }

  function fillCard(card, i, open) {
    var sig = sigOf(i, open);
    if (card._sig === sig) return false; // keyed: unchanged card is not touched
    card._sig = sig;
    var r = card._r, c = M.c, st = M.st[i], a = M.addr[i], h = M.host[i];
    var cls = "card st-" + STATUSES[st] + (open ? " open" : "") + (h === null ? " noname" : "");
    if (card.className !== cls) card.className = cls;
    setText(r.ico, ST_ICON[st]);
    setText(r.stt, ST_TEXT[st]);
    setText(r.addr, a);
    setText(r.fam, M.fam[i] === 6 ? "IPv6" : M.fam[i] === 4 ? "IPv4" : "");
    setText(r.name, h === null ? "no hostname" : h);
    if (h === null) { if (r.name.hasAttribute("title")) r.name.removeAttribute("title"); }
    else setAttr(r.name, "title", h);
    setText(r.sP, "NTP " + fInt(c.nPk[i]));
    setText(r.sD, "drop " + fInt(c.nDr[i]));
    setText(r.sL, c.last[i] !== c.last[i] ? "never seen" : "seen " + fAgo(c.last[i]));
    setText(r.sR, c.rPps[i] !== c.rPps[i] ? "" : fRate(c.rPps[i]).replace("/s", " req/s"));
    setAttr(r.head, "aria-expanded", open ? "true" : "false");
    setAttr(r.head, "aria-label", (h === null ? a : a + " (" + h + ")") + ", status " + ST_TEXT[st] + (open ? ", details shown" : ""));
    if (open) {
      var nts = M.kHas[i] >= 0;
      if (r.det && r.det.nts !== nts) { card.removeChild(r.det.root); r.det = null; }
      if (!r.det) { r.det = makeDetails(card, nts); card.appendChild(r.det.root); }
      setAttr(r.head, "aria-controls", card._id + "-d");
      fillDetails(r.det, i);
    } else if (r.det) {
      card.removeChild(r.det.root);
      r.det = null;
      r.head.removeAttribute("aria-controls");
    }
    return true;
  }

  var DET_ROWS = [["Packets", "nPk", "cPk", "kCo", fInt], ["Drops", "nDr", "cDr", "kDr", fInt],
                  ["Interval", "nInt", "cInt", "kInt", fDur], ["Interval (limited)", "nIntL", null, null, fDur],
                  ["Last seen", "nLast", "cLast", "kLast", fAgo]];
  function makeDetails(card, nts) {
    var root = el("div", "det");
    root.id = card._id + "-d";
    var fn = el("div", "fullname"), k = el("span", "k", "Hostname"), v = el("bdi", "v"), warn = el("span", "hidden-chars", "⚠ contains invisible or direction-changing characters");
    fn.append(k, warn, v);
    var tbl = el("table", "dt"), tb = el("tbody");
    var hr = el("tr");
    hr.append(el("td"), el("th", null, "NTP"), el("th", null, "Command"));
    if (nts) hr.append(el("th", null, "NTS-KE"));
    for (var s = 1; s < hr.children.length; s++) hr.children[s].scope = "col";
    tb.append(hr);
    var cells = [];
    for (var j = 0; j < DET_ROWS.length; j++) {
      var tr = el("tr"), th = el("th", null, DET_ROWS[j][0]);
      th.scope = "row";
      var row = [el("td"), el("td")];
      if (nts) row.push(el("td"));
      tr.append(th, row[0], row[1]);
      if (nts) tr.append(row[2]);
      tb.append(tr);
      cells.push(row);
    }
    tbl.append(tb);
    var rate = el("p", "rate");
    root.append(fn, tbl, rate);
    return { root: root, name: v, warn: warn, cells: cells, rate: rate, nts: nts };
  }
  function fillDetails(d, i) {
    var c = M.c, h = M.host[i], kh = M.kHas[i];
    setText(d.name, h === null ? "none known" : h);
    setHidden(d.warn, !(h !== null && HIDDEN_CHARS.test(h)));
    for (var j = 0; j < DET_ROWS.length; j++) {
      var row = DET_ROWS[j], f = row[4], cells = d.cells[j];
      setText(cells[0], f(c[row[1]][i]));
      setText(cells[1], row[2] ? f(c[row[2]][i]) : "–");
      if (d.nts) setText(cells[2], kh === 0 ? (j === 0 ? "none" : "–") : row[3] ? f(c[row[3]][i]) : "–");
    }
    var p = c.nPk[i], dr = c.nDr[i];
    setText(d.rate, "Request rate " + fRate(c.rPps[i]) + " · drop rate " + fRate(c.rDps[i]) +
      (p > 0 ? " · " + (+(100 * dr / p).toPrecision(3)) + " % of NTP requests dropped" : ""));
  }

  function renderWindow() {
    var n = V.length;
    var rect = grid.getBoundingClientRect();
    var vh = W.innerHeight || HTML.clientHeight;
    var y0 = -rect.top - OVERSCAN, y1 = -rect.top + vh + OVERSCAN;
    var want = [];
    if (n && y1 >= 0 && y0 <= L.total) {
      var cols = L.cols, r0 = firstRowAt(Math.max(0, y0)), tops = L.tops;
      for (var r = r0; r < L.rows && tops[r] <= y1; r++) {
        for (var col = 0; col < cols; col++) {
          var p = r * cols + col;
          if (p >= n) break;
          want.push(p);
        }
      }
    }
    var keep = new Set();
    for (var w = 0; w < want.length; w++) keep.add(M.addr[V[want[w]]]);
    live.forEach(function (card, a) {
      if (!keep.has(a)) { live.delete(a); if (card.parentNode) card.remove(); card._a = null; pool.push(card); }
    });
    var prev = null;
    for (w = 0; w < want.length; w++) {
      p = want[w];
      var i = V[p], a = M.addr[i], card = live.get(a);
      if (!card) {
        card = pool.pop() || makeCard();
        card._a = a; card._sig = null;
        live.set(a, card);
      }
      fillCard(card, i, isOpen(a));
      var x = (p % L.cols) * (L.cw + L.gap), y = L.tops[(p / L.cols) | 0];
      if (card._x !== x || card._y !== y) {
        card.style.transform = "translate(" + x + "px," + y + "px)";
        card._x = x; card._y = y;
      }
      if (card._w !== L.cw) { card.style.width = L.cw + "px"; card._w = L.cw; }
      // DOM order follows display order (tab order = reading order)
      var want0 = prev ? prev.nextSibling : grid.firstChild;
      if (card !== want0) grid.insertBefore(card, want0);
      prev = card;
    }
    if (pool.length > 400) pool.length = 400;
  }

  var frameReq = 0;
  function scheduleWindow() {
    if (frameReq) return;
    frameReq = requestAnimationFrame(function () { frameReq = 0; renderWindow(); });
  }

  // ------------------------------------------------------------ view refresh (after data/sort/filter change)
  var countEl = $("count"), emptyEl = $("empty"), hintEl = $("q-hint");
  function refreshView(relayout) {
    if (!haveData) return;
    computeView();
    if (grid.classList.contains("nts") !== M.hasNts) { grid.classList.toggle("nts", M.hasNts); relayout = true; }
    if (relayout) { measure(); lastW = grid.clientWidth; }
    layoutRows();
    renderWindow();
    var n = V.length, total = M.n;
    setText(countEl, n === total ? fInt(total) + (total === 1 ? " client" : " clients")
      : "Showing " + fInt(n) + " of " + fInt(total) + " clients");
    var qi = queryInfo;
    var hint = "";
    if (qi.cidr && qi.cidr.bad) hint = "Not a valid network: use a CIDR like 10.1.0.0/16 or 2001:db8::/32.";
    else if (qi.cidr) hint = "Clients in network " + qi.cidr.text + " (IPv" + qi.cidr.v + ").";
    setText(hintEl, hint);
    setHidden(hintEl, !hint);
    var empty = "";
    if (total === 0) empty = clientsUnknown ? "The client list is unknown: chronyd did not answer." : "No clients in chronyd's client log yet.";
    else if (n === 0) empty = "No client matches the search or filter.";
    setText(emptyEl, empty);
    setHidden(emptyEl, !empty);
  }

  // ------------------------------------------------------------ header, summary, health
  var haveData = false, clientsUnknown = false, clientsAsOf = 0;
  function setSummary(sm) {
    sm = sm || {};
    setText($("sum-clients"), fInt(nn(sm.clients)));
    setText($("sum-ok"), fInt(nn(sm.ok)));
    setText($("sum-warning"), fInt(nn(sm.warning)));
    setText($("sum-critical"), fInt(nn(sm.critical)));
    setText($("sum-ipv4"), fInt(nn(sm.ipv4)));
    setText($("sum-ipv6"), fInt(nn(sm.ipv6)));
    setText($("sum-active"), fInt(nn(sm.active_60s)));
    setText($("sum-ntp"), fInt(nn(sm.ntp_packets)));
    setText($("sum-drops"), fInt(nn(sm.ntp_drops)));
    setText($("sum-cmd"), fInt(nn(sm.cmd_packets)));
    setText($("sum-pps"), fRate(nn(sm.ntp_pps)));
    setText($("sum-dps"), fRate(nn(sm.drop_pps)));
  }

  var SRC_STATE = { selected: ["*", "selected"], combined: ["+", "combined"], not_combined: ["-", "not combined"],
                    unusable: ["?", "unusable"], falseticker: ["x", "falseticker"], too_variable: ["~", "too variable"] };
  var SRC_MODE = { server: "server", peer: "peer", refclock: "ref. clock" };
  var SS_LABEL = {
    ntp_packets_received: "NTP packets received", ntp_packets_dropped: "NTP packets dropped",
    cmd_packets_received: "Command packets received", cmd_packets_dropped: "Command packets dropped",
    client_log_records_dropped: "Client log records dropped",
    nts_ke_connections_accepted: "NTS-KE connections accepted", nts_ke_connections_dropped: "NTS-KE connections dropped",
    authenticated_ntp_packets: "Authenticated NTP packets", interleaved_ntp_packets: "Interleaved NTP packets",
    ntp_timestamps_held: "NTP timestamps held", ntp_timestamp_span_s: "NTP timestamp span",
    ntp_daemon_rx_timestamps: "Daemon RX timestamps", ntp_daemon_tx_timestamps: "Daemon TX timestamps",
    ntp_kernel_rx_timestamps: "Kernel RX timestamps", ntp_kernel_tx_timestamps: "Kernel TX timestamps",
    ntp_hardware_rx_timestamps: "Hardware RX timestamps", ntp_hardware_tx_timestamps: "Hardware TX timestamps"
  };

  var SYNC_KEYS = [["ref", "Reference"], ["stratum", "Stratum"], ["systime", "System time"],
    ["lastoff", "Last offset"], ["rms", "RMS offset"], ["freq", "Frequency"], ["resid", "Residual freq."],
    ["skew", "Skew"], ["rdelay", "Root delay"], ["rdisp", "Root dispersion"], ["upd", "Update interval"],
    ["leap", "Leap status"], ["reftime", "Ref. time"]];
  var syncDD = null;
  function renderSync(t, genMs) {
    var box = $("sync-state"), ico = box.firstElementChild, txt = box.lastElementChild;
    var kv = $("sync-kv");
    if (!syncDD) {
      syncDD = {};
      for (var i = 0; i < SYNC_KEYS.length; i++) {
        var d = el("div"), dt = el("dt", null, SYNC_KEYS[i][1]), dd = el("dd");
        d.append(dt, dd); kv.append(d);
        syncDD[SYNC_KEYS[i][0]] = dd;
      }
    }
    var v = {};
    var cls;
    if (!t || typeof t !== "object") {
      cls = "unknown"; setText(ico, "?"); setText(txt, "Unknown: the tracking report is unavailable");
    } else {
      var local = t.reference_id === "7F7F0101";
      var ref = (t.reference_name || t.reference_address || "");
      if (t.leap_status === "Not synchronised") {
        cls = "bad"; setText(ico, "✕"); setText(txt, "Not synchronised");
      } else {
        cls = "good"; setText(ico, "✓");
        setText(txt, local ? "Serving its local clock (local stratum " + t.stratum + ")"
          : "Synchronised to " + (ref || t.reference_id) + ", stratum " + t.stratum);
      }
      v.ref = t.reference_id + (ref ? " (" + ref + ")" : local ? " (local clock)" : "");
      v.stratum = String(t.stratum);
      var s = nn(t.system_time_s);
      v.systime = s === 0 ? "0 s (on time)" : fSec(Math.abs(s)) + (s < 0 ? " fast of NTP time" : " slow of NTP time");
      v.lastoff = fSec(nn(t.last_offset_s), true);
      v.rms = fSec(nn(t.rms_offset_s));
      var f = nn(t.frequency_ppm);
      v.freq = f === 0 ? "0 ppm" : fPpm(Math.abs(f)) + (f < 0 ? " slow" : " fast");
      v.resid = fPpm(nn(t.residual_freq_ppm));
      v.skew = fPpm(nn(t.skew_ppm));
      v.rdelay = fSec(nn(t.root_delay_s));
      v.rdisp = fSec(nn(t.root_dispersion_s));
      v.upd = fDur(nn(t.update_interval_s));
      v.leap = String(t.leap_status);
      var rt = nn(t.ref_time);
      v.reftime = rt > 0 ? fDateTime(rt * 1000) + (genMs ? " (" + fAgo(Math.max(0, genMs / 1000 - rt)) + ")" : "") : "never";
    }
    setAttr(box, "class", "sync-state " + cls);
    for (var k in syncDD) setText(syncDD[k], v[k] == null ? "–" : v[k]);
  }

  var srcSig = null;
  function renderSources(src) {
    var sig = JSON.stringify(src);
    if (sig === srcSig) return;
    srcSig = sig;
    var body = $("sources-body"), note = $("sources-note");
    var rows = [];
    if (Array.isArray(src)) {
      for (var i = 0; i < src.length; i++) {
        var s = src[i] || {}, stt = SRC_STATE[s.state] || ["?", String(s.state)];
        var tr = el("tr", "src-" + (s.state || "unknown"));
        var c0 = el("td", "src-state"), sym = el("span", "mono sym", stt[0]);
        sym.setAttribute("aria-hidden", "true");
        c0.append(sym, D.createTextNode(" " + stt[1]));
        var c1 = el("td"), ad = el("bdi", "mono", String(s.address));
        c1.append(ad, el("span", "muted small", " " + (SRC_MODE[s.mode] || s.mode || "")));
        var reach = typeof s.reach === "number" ? s.reach : NaN;
        var c4 = el("td", "mono", reach === reach ? reach.toString(8) : "–");
        if (reach === reach) c4.title = "reach register " + ("00000000" + reach.toString(2)).slice(-8) + " (last 8 polls, newest right)";
        tr.append(c0, c1, el("td", "num", String(s.stratum)), el("td", "num", fDur(nn(s.poll_s))), c4,
                  el("td", "num", fAgo(typeof s.last_rx_s === "number" ? s.last_rx_s : NaN)),
                  el("td", "num", fSec(nn(s.offset_s), true) + " ± " + fSec(nn(s.error_s))));
        rows.push(tr);
      }
    }
    body.replaceChildren.apply(body, rows);
    var msg = !Array.isArray(src) ? "Unknown: the sources report is unavailable." :
      src.length === 0 ? "No time sources configured (serving the local clock only)." : "";
    setText(note, msg);
    setHidden(note, !msg);
    setHidden($("sources-table"), !rows.length);
  }

  var statsKeys = null, statsCells = {};
  function renderStats(ss, rate, activity) {
    var body = $("stats-body"), sat = $("saturation");
    var keys = ss && typeof ss === "object" ? Object.keys(ss) : [];
    var ksig = keys.join(",");
    if (ksig !== statsKeys) {
      statsKeys = ksig; statsCells = {};
      var rows = [];
      for (var i = 0; i < keys.length; i++) {
        var k = keys[i], tr = el("tr"), th = el("th", null, SS_LABEL[k] || k), a = el("td"), b = el("td");
        th.scope = "row";
        tr.append(th, a, b);
        rows.push(tr);
        statsCells[k] = [a, b];
      }
      body.replaceChildren.apply(body, rows);
    }
    for (i = 0; i < keys.length; i++) {
      k = keys[i];
      var span = k === "ntp_timestamp_span_s";
      setText(statsCells[k][0], span ? fDur(ss[k]) : fInt(ss[k]));
      var rv = rate && typeof rate[k] === "number" ? fRate(rate[k]) : (k === "ntp_timestamps_held" || span) ? "" : "–";
      setText(statsCells[k][1], rv);
    }
    setHidden($("stats-table"), !keys.length);
    var dropped = ss && ss.client_log_records_dropped;
    if (dropped > 0) {
      setText(sat, "⚠ Client log saturated: " + fInt(dropped) + " client records dropped. The client list and counts are incomplete; raise clientloglimit in chrony.conf.");
    }
    setHidden(sat, !(dropped > 0));
    var act = "";
    if (!keys.length) act = "Unknown: the serverstats report is unavailable. ";
    if (activity && typeof activity === "object") {
      act += "Sources online " + activity.online + ", offline " + activity.offline +
        (activity.burst_online || activity.burst_offline ? ", in burst " + (activity.burst_online + activity.burst_offline) : "") +
        (activity.unresolved ? ", unresolved " + activity.unresolved : "") + ".";
    }
    setText($("activity"), act);
  }

  function renderAbout(j) {
    var ch = j.chrony || {}, r = j.status_rule || {};
    var parts = [];
    parts.push("chronyc " + (ch.version || "?") + (ch.socket ? " via " + ch.socket : ""));
    if (typeof j.duration_ms === "number") parts.push("snapshot took " + j.duration_ms + " ms");
    if (r.preset) {
      parts.push("status rule (" + r.preset + "): warning at ≥ " + r.warning_drops + " NTP drop" + (r.warning_drops === 1 ? "" : "s") +
        ", critical at ≥ " + r.critical_drops + " drops" + (r.critical_drop_ratio > 0 ? " and ≥ " + (+(r.critical_drop_ratio * 100).toPrecision(3)) + " % of packets" : ""));
    }
    setText($("about"), parts.join(" · "));
  }

  var errSig = null;
  function renderErrors(j) {
    var errs = Array.isArray(j.errors) ? j.errors : [];
    var unreachable = j.chrony && j.chrony.reachable === false;
    var sig = JSON.stringify([errs, unreachable]);
    if (sig === errSig) return;
    errSig = sig;
    var banner = $("error-banner"), list = $("error-list");
    // group identical problems (a dead socket fails every report the same way)
    var groups = [], byKey = new Map();
    for (var i = 0; i < errs.length; i++) {
      var e = errs[i] || {};
      var key = String(e.message) + "\u0000" + String(e.hint) + "\u0000" + String(e.code);
      var g = byKey.get(key);
      if (!g) { g = { reports: [], e: e }; byKey.set(key, g); groups.push(g); }
      g.reports.push(String(e.report));
    }
    var items = groups.map(function (g) {
      var li = el("li"), rep = el("strong", "rep", g.reports.join(", ") + ": ");
      var msg = el("span", "msg", String(g.e.message));
      li.append(rep, msg);
      if (g.e.code) li.append(el("code", "code", String(g.e.code)));
      if (g.e.hint) { var hint = el("div", "hint"); hint.append(el("span", "hl", "Hint: "), el("span", null, String(g.e.hint))); li.append(hint); }
      return li;
    });
    list.replaceChildren.apply(list, items);
    setText($("error-title"), unreachable ? "chronyd is unreachable" : errs.length === 1 ? "chronyd reported a problem" : "chronyd reported problems");
    setHidden(banner, !(errs.length || unreachable));
    HTML.classList.toggle("chrony-down", !!unreachable);
  }

  // ------------------------------------------------------------ freshness
  var lastSeq = null, lastChangeAt = 0, genMs = 0, skewMs = 0, failSince = 0, failMsg = "", hiddenAt = 0;
  function isStale(now) {
    if (!haveData) return false;
    if (failSince) return true;
    if (lastChangeAt && now - lastChangeAt > CFG.staleAfterS * 1000) return true;
    // tolerance: the Date header used for clock-skew correction has 1 s resolution
    return !!genMs && now + skewMs - genMs > CFG.staleAfterS * 1000 + 1500;
  }
  function updateFreshness() {
    var now = Date.now();
    var stale = isStale(now);
    var age = genMs ? Math.max(0, now + skewMs - genMs) / 1000 : null;
    var state = !haveData ? (failSince ? "error" : "loading") : stale ? "stale" : "live";
    if (HTML.getAttribute("data-state") !== state) HTML.setAttribute("data-state", state);
    HTML.classList.toggle("is-stale", stale);
    var txt;
    if (!haveData) txt = failSince ? "No data: " + failMsg : "Loading…";
    else txt = (stale ? "Stale · snapshot " : "Live · snapshot ") + fDur(age) + " old · #" + lastSeq;
    setText($("fresh-text"), txt);
    var b = $("stale-banner");
    if (stale || (!haveData && failSince)) {
      var t, msg;
      if (failSince) {
        t = "Cannot load data.json";
        msg = "since " + fTime(failSince) + " (" + failMsg + ")." +
          (haveData ? " Showing the last good snapshot, taken " + fTime(genMs) + " (" + fDur(age) + " ago)." : "");
      } else {
        t = "Stale data";
        var since = lastChangeAt && (now - lastChangeAt > CFG.staleAfterS * 1000) ? lastChangeAt : genMs;
        msg = "data.json has not changed since " + fTime(since) + "; the snapshot shown was taken " + fTime(genMs) +
          " (" + fDur(age) + " ago). Is chrony-snap's timer running?";
      }
      setText($("stale-title"), t);
      setText($("stale-text"), msg);
      setHidden(b, false);
    } else setHidden(b, true);
  }

  // ------------------------------------------------------------ applying a snapshot
  // msg: {meta: data.json without clients, same: seq unchanged, n, c, st, ...model}
  function apply(msg) {
    var j = msg.meta;
    if (j.schema_version !== 1) throw new Error("data.json schema_version " + j.schema_version + " is not supported by this page; reload it");
    var changed = j.seq !== lastSeq;
    if (changed) { lastSeq = j.seq; lastChangeAt = Date.now(); }
    var g = Date.parse(j.generated_at);
    genMs = isFinite(g) ? g : 0;
    if (typeof j.refresh_s === "number" && j.refresh_s > 0) CFG.refreshMs = Math.max(200, j.refresh_s * 1000);
    if (typeof j.stale_after_s === "number" && j.stale_after_s > 0) CFG.staleAfterS = j.stale_after_s;
    if (msg.same || (!changed && haveData)) return false;
    var errs = Array.isArray(j.errors) ? j.errors : [];
    var clientsFailed = errs.some(function (e) { return e && typeof e.report === "string" && e.report.indexOf("clients") === 0; });
    var first = !haveData;
    var wasUnknown = clientsUnknown;
    // chronyd did not answer for the client list: keep the last known cards, marked stale
    if (clientsFailed && msg.n === 0 && M.n > 0) {
      clientsUnknown = true;
    } else {
      clientsUnknown = clientsFailed && msg.n === 0;
      adopt(msg);
      clientsAsOf = genMs;
      setSummary(j.summary);
    }
    haveData = true;
    HTML.classList.toggle("clients-stale", clientsUnknown && M.n > 0);
    var cs = $("clients-stale-note");
    if (clientsUnknown && M.n > 0) {
      setText(cs, "Client list from " + fTime(clientsAsOf) + ": chronyd did not answer since; these cards are not current.");
      setHidden(cs, false);
    } else setHidden(cs, true);
    renderSync(j.tracking, genMs);
    renderSources(j.sources);
    renderStats(j.serverstats, j.serverstats_rate, j.activity);
    renderAbout(j);
    renderErrors(j);
    if (!clientsUnknown || wasUnknown !== clientsUnknown || first) refreshView(first);
    HTML.setAttribute("data-seq", String(j.seq));
    return true;
  }

  // ------------------------------------------------------------ polling
  // One request at a time. Normally a worker (model.js) fetches and parses;
  // if no worker can run, the same code runs here.
  var inflight = false, timer = 0, reqId = 0, watchdog = 0, pollT0 = 0;
  var worker = null, useWorker = typeof Worker === "function", mainPrev = null, mainSeq = null;
  var modelScript = D.querySelector('script[src*="model."]');
  Object.defineProperty(HOOK, "scheduled", { get: function () { return !!timer; } });
  Object.defineProperty(HOOK, "inflight", { get: function () { return inflight; } });
  Object.defineProperty(HOOK, "worker", { get: function () { return !!worker; } });
  var dataUrl = new URL(CFG.url, D.baseURI).href; // a worker resolves relative URLs against its own

  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = 0;
    if (D.hidden) return; // resumed by visibilitychange
    timer = setTimeout(poll, ms);
  }
  function startWorker() {
    try {
      worker = new Worker(modelScript.src);
    } catch (e) { worker = null; useWorker = false; return false; }
    worker.onmessage = function (ev) { if (ev.data && ev.data.id === reqId) done(ev.data); };
    worker.onerror = function (ev) { // could not load or crashed: carry on without it
      if (ev && ev.preventDefault) ev.preventDefault();
      stopWorker(); useWorker = false;
      if (inflight) { inflight = false; clearTimeout(watchdog); poll(); }
    };
    return true;
  }
  function stopWorker() { if (worker) { worker.terminate(); worker = null; } }

  function poll() {
    timer = 0;
    if (inflight || D.hidden) return;
    inflight = true;
    HOOK.polls++;
    pollT0 = performance.now();
    var id = ++reqId;
    if (useWorker && (worker || startWorker())) {
      // the worker aborts its own fetch at the timeout; this catches a stuck parse
      watchdog = setTimeout(function () {
        if (id !== reqId || !inflight) return;
        stopWorker(); // its model state goes with it: the next one starts fresh
        done({ id: id, ok: false, kind: "timeout" });
      }, CFG.fetchTimeoutMs + 10000);
      worker.postMessage({ cmd: "fetch", id: id, url: dataUrl, timeoutMs: CFG.fetchTimeoutMs });
      return;
    }
    MODEL.fetchJSON(CFG.url, CFG.fetchTimeoutMs).then(function (res) {
      var j = res.json;
      var out = { id: id, ok: true, date: res.date, meta: MODEL.meta(j), same: j.seq === mainSeq && !!mainPrev };
      if (!out.same) {
        var m = MODEL.build(j.clients, mainPrev);
        mainPrev = m; mainSeq = j.seq;
        for (var k in m) if (!(k in out)) out[k] = m[k];
      }
      out.t = { fetch: res.tResp - pollT0, parse: res.tParsed - res.tResp, build: performance.now() - res.tParsed };
      done(out);
    }, function (e) {
      done({ id: id, ok: false, kind: (e && e.kind) || "other", message: (e && e.message) || String(e) });
    });
  }

  function mark(name) { // for traces (bench/browser_bench.py); cleared at once, nothing accumulates
    if (performance.mark) { performance.mark(name); performance.clearMarks(name); }
  }
  function done(msg) {
    if (!inflight || msg.id !== reqId) return;
    clearTimeout(watchdog);
    var tMsg = performance.now();
    mark("cs:refresh-start");
    try {
      if (!msg.ok) throw msg;
      var dh = Date.parse(msg.date || "");
      if (isFinite(dh)) { var sk = dh - Date.now(); skewMs = Math.abs(sk) > 2000 ? sk : 0; }
      var didRender = apply(msg);
      var tApplied = performance.now();
      failSince = 0; failMsg = "";
      if (didRender) {
        var seq = msg.meta.seq, t = msg.t || {};
        afterPaint(function (tPaint) {
          mark("cs:refresh-painted");
          ring(HOOK.perf, { seq: seq, worker: !!worker, fetch: t.fetch, parse: t.parse, build: t.build,
                            apply: tApplied - tMsg, main: tPaint - tMsg,
                            painted: (t.parse || 0) + (t.build || 0) + (tPaint - tMsg), clients: M.n });
        });
      }
    } catch (e) {
      HOOK.errors++;
      if (!failSince) failSince = Date.now();
      failMsg = e.kind === "timeout" ? "no answer within " + fDur(CFG.fetchTimeoutMs / 1000)
        : e.kind === "json" ? "data.json is not valid JSON"
        : e.kind === "network" ? "the web server is unreachable"
        : (e && e.message) || String(e);
    }
    inflight = false;
    updateFreshness();
    schedule(Math.max(50, CFG.refreshMs - (performance.now() - pollT0)));
  }

  D.addEventListener("visibilitychange", function () {
    if (D.hidden) {
      hiddenAt = Date.now();
      if (timer) { clearTimeout(timer); timer = 0; }
    } else {
      // the time we were not looking is not "no change observed"
      if (hiddenAt && lastChangeAt) lastChangeAt += Date.now() - hiddenAt;
      hiddenAt = 0;
      if (!inflight) poll();
    }
  });

  // ------------------------------------------------------------ theme
  var mql = W.matchMedia ? W.matchMedia("(prefers-color-scheme: dark)") : null;
  function effectiveTheme() { return S.theme || (mql && mql.matches ? "dark" : "light"); }
  function applyTheme() {
    if (S.theme) HTML.setAttribute("data-theme", S.theme); else HTML.removeAttribute("data-theme");
    var other = effectiveTheme() === "dark" ? "light" : "dark";
    setText($("theme-ico"), other === "dark" ? "☾" : "☀");
    setText($("theme-label"), other === "dark" ? "Dark" : "Light");
    setAttr($("theme-toggle"), "aria-label", "Switch to " + other + " theme");
    setAttr($("theme-toggle"), "aria-pressed", effectiveTheme() === "dark" ? "true" : "false");
  }
  $("theme-toggle").addEventListener("click", function () {
    S.theme = effectiveTheme() === "dark" ? "light" : "dark";
    applyTheme(); saveSoon();
  });
  if (mql && mql.addEventListener) mql.addEventListener("change", applyTheme);

  // ------------------------------------------------------------ controls
  var qEl = $("q"), sortEl = $("sort"), dirEl = $("dir");
  function syncControls() {
    if (qEl.value !== S.q) qEl.value = S.q;
    if (sortEl.value !== S.sort) sortEl.value = S.sort;
    var asc = S.dir === "asc";
    setText($("dir-ico"), asc ? "↑" : "↓");
    setText($("dir-label"), asc ? "Ascending" : "Descending");
    setAttr(dirEl, "aria-label", "Sort direction: " + (asc ? "ascending" : "descending") + " (click to reverse)");
    var btns = D.querySelectorAll(".sf");
    for (var i = 0; i < btns.length; i++) setAttr(btns[i], "aria-pressed", btns[i].getAttribute("data-status") === S.status ? "true" : "false");
    HTML.classList.toggle("filtered", !!S.status);
  }
  qEl.addEventListener("input", function (ev) {
    var t0 = ev.timeStamp, q = qEl.value;
    S.q = q; saveSoon();
    refreshView(false);
    afterPaint(function (t) { ring(HOOK.search, { q: q, ms: t - t0, shown: V.length }); });
  });
  qEl.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && qEl.value) { qEl.value = ""; qEl.dispatchEvent(new Event("input")); }
  });
  sortEl.addEventListener("change", function () {
    S.sort = Object.prototype.hasOwnProperty.call(SORTS, sortEl.value) ? sortEl.value : "address";
    S.dir = SORTS[S.sort];
    syncControls(); saveSoon(); refreshView(false);
  });
  dirEl.addEventListener("click", function () {
    S.dir = S.dir === "asc" ? "desc" : "asc";
    syncControls(); saveSoon(); refreshView(false);
  });
  D.querySelector(".sum-filters").addEventListener("click", function (ev) {
    var b = ev.target.closest(".sf");
    if (!b) return;
    var s = b.getAttribute("data-status");
    S.status = S.status === s ? "" : s;
    syncControls(); saveSoon(); refreshView(false);
  });
  $("expand-all").addEventListener("click", function () {
    S.allOpen = true; S.except.clear(); saveSoon(); layoutRows(); renderWindow();
  });
  $("collapse-all").addEventListener("click", function () {
    S.allOpen = false; S.except.clear(); saveSoon(); layoutRows(); renderWindow();
  });
  grid.addEventListener("click", function (ev) {
    var head = ev.target.closest(".card-head");
    if (!head) return;
    var card = head.parentNode, a = card._a;
    if (!a) return;
    if (S.except.has(a)) S.except.delete(a); else S.except.add(a);
    saveSoon(); layoutRows(); renderWindow();
  });
  grid.addEventListener("keydown", function (ev) { // arrow keys move between cards
    var head = ev.target.closest && ev.target.closest(".card-head");
    if (!head) return;
    var card = head.parentNode, next = null;
    if (ev.key === "ArrowRight" || ev.key === "ArrowDown") next = card.nextElementSibling;
    else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") next = card.previousElementSibling;
    if (next && next._r) { ev.preventDefault(); next._r.head.focus(); }
  });

  W.addEventListener("scroll", scheduleWindow, { passive: true });
  var lastW = -1;
  function onResize() {
    if (!haveData) return;
    if (grid.clientWidth !== lastW) { lastW = grid.clientWidth; measure(); layoutRows(); }
    renderWindow();
  }
  if (typeof ResizeObserver === "function") new ResizeObserver(function () { onResize(); }).observe(grid);
  W.addEventListener("resize", onResize);
  W.addEventListener("pagehide", function () { if (saveTimer) { clearTimeout(saveTimer); saveNow(); } });

  // ------------------------------------------------------------ start
  loadState();
  applyTheme();
  syncControls();
  setInterval(updateFreshness, 1000);
  poll();
})();
