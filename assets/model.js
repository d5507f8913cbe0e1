/* chrony-snap: data.json -> columnar client model.
 *
 * One file, two uses:
 *  - in a Web Worker (the normal case): fetches data.json itself, parses it
 *    and builds the model off the main thread, then posts typed arrays
 *    (transferred, not copied) and, only when they changed, the address and
 *    hostname strings;
 *  - as a classic script in the page (global ChronySnapModel): the same code
 *    on the main thread, used when a worker cannot be started.
 * Pure data code: no DOM.
 */
(function (root) {
  "use strict";

  var COLS = ["nPk", "nDr", "nInt", "nIntL", "nLast", "cPk", "cDr", "cInt", "cLast",
              "kCo", "kDr", "kInt", "kLast", "rPps", "rDps", "last"];
  var ST_CODE = { ok: 0, warning: 1, critical: 2 };
  var SH = 1048576; // 2^20: value * 2^20 + index stays exact in a double for values < 2^33

  function nn(v) { return typeof v === "number" ? v : NaN; } // null/absent -> NaN

  function v4num(a) {
    var p = a.split(".");
    if (p.length !== 4) return -1;
    var n = 0;
    for (var i = 0; i < 4; i++) {
      var s = p[i];
      if (!/^\d{1,3}$/.test(s)) return -1;
      var x = +s;
      if (x > 255) return -1;
      n = n * 256 + x;
    }
    return n;
  }

  function v6hex(a) { // 32 lowercase hex digits, or null
    var s = a.toLowerCase();
    if (s.indexOf(".") >= 0) {
      var c = s.lastIndexOf(":"), v = v4num(s.slice(c + 1));
      if (c < 0 || v < 0) return null;
      s = s.slice(0, c + 1) + Math.floor(v / 65536).toString(16) + ":" + (v % 65536).toString(16);
    }
    var groups, dbl = s.indexOf("::");
    if (dbl >= 0) {
      if (s.indexOf("::", dbl + 1) >= 0) return null;
      var h = s.slice(0, dbl), t = s.slice(dbl + 2);
      var hg = h ? h.split(":") : [], tg = t ? t.split(":") : [];
      if (hg.length + tg.length > 7) return null;
      groups = hg;
      for (var z = hg.length + tg.length; z < 8; z++) groups.push("0");
      groups = groups.concat(tg);
    } else {
      groups = s.split(":");
      if (groups.length !== 8) return null;
    }
    var out = "";
    for (var i = 0; i < 8; i++) {
      if (!/^[0-9a-f]{1,4}$/.test(groups[i])) return null;
      out += ("000" + groups[i]).slice(-4);
    }
    return out;
  }

  /* Address order: IPv4 numerically, then IPv6 numerically, then anything else by text. */
  function addressOrder(m) {
    var n = m.n, addr = m.addr;
    var fam = m.fam = new Uint8Array(n), v4 = m.v4 = new Float64Array(n), v6 = m.v6 = new Array(n);
    var n4 = 0, l6 = [], lx = [], i;
    for (i = 0; i < n; i++) {
      var a = addr[i];
      var x = a.indexOf(":") < 0 ? v4num(a) : -1;
      v6[i] = null;
      if (x >= 0) { fam[i] = 4; v4[i] = x; n4++; continue; }
      var h = v6hex(a);
      if (h !== null) { fam[i] = 6; v6[i] = h; l6.push(i); } else { fam[i] = 0; lx.push(i); }
    }
    var byAddr = m.byAddr = new Uint32Array(n), r = 0;
    if (n <= SH) {
      var keys = new Float64Array(n4), kk = 0;
      for (i = 0; i < n; i++) if (fam[i] === 4) keys[kk++] = v4[i] * SH + i;
      keys.sort();
      for (i = 0; i < n4; i++) byAddr[r++] = keys[i] % SH;
    } else {
      var l4 = [];
      for (i = 0; i < n; i++) if (fam[i] === 4) l4.push(i);
      l4.sort(function (a, b) { return v4[a] - v4[b]; });
      for (i = 0; i < l4.length; i++) byAddr[r++] = l4[i];
    }
    l6.sort(function (a, b) { return v6[a] < v6[b] ? -1 : v6[a] > v6[b] ? 1 : 0; });
    for (i = 0; i < l6.length; i++) byAddr[r++] = l6[i];
    lx.sort(function (a, b) { return addr[a] < addr[b] ? -1 : addr[a] > addr[b] ? 1 : 0; });
    for (i = 0; i < lx.length; i++) byAddr[r++] = lx[i];
    var rank = m.rank = new Uint32Array(n);
    for (i = 0; i < n; i++) rank[byAddr[i]] = i;
  }

  /* list: data.json "clients"; prev: the previous result (or null).
     Returns {n, addr, host, hostL, st, kHas, hasNts, c: {col: Float64Array},
     addrChanged, hostChanged, fam, v4, v6, rank, byAddr}. When addrChanged is
     false the address-derived fields are prev's. */
  function build(list, prev) {
    if (!Array.isArray(list)) list = [];
    var n = list.length;
    var addr = new Array(n), host = new Array(n), rows = new Array(n);
    var same = !!prev && prev.n === n;
    var k = 0, i, o;
    for (i = 0; i < n; i++) {
      o = list[i];
      if (!o || typeof o.address !== "string") continue; // malformed row: skipped
      addr[k] = o.address;
      host[k] = typeof o.hostname === "string" ? o.hostname : null;
      if (same && prev.addr[k] !== o.address) same = false;
      rows[k++] = o;
    }
    if (k !== n) { n = k; addr.length = n; host.length = n; same = !!prev && prev.n === n && same; }
    var m = { n: n, addr: addr, host: host, c: {}, addrChanged: !same || n === 0, hostChanged: true };
    var c = m.c;
    for (var j = 0; j < COLS.length; j++) c[COLS[j]] = new Float64Array(n);
    var st = m.st = new Uint8Array(n), kHas = m.kHas = new Int8Array(n);
    var hostL = m.hostL = new Array(n);
    var hasNts = false, hostSame = same;
    var nPk = c.nPk, nDr = c.nDr, nInt = c.nInt, nIntL = c.nIntL, nLast = c.nLast, cPk = c.cPk,
        cDr = c.cDr, cInt = c.cInt, cLast = c.cLast, kCo = c.kCo, kDr = c.kDr, kInt = c.kInt,
        kLast = c.kLast, rPps = c.rPps, rDps = c.rDps, last = c.last;
    for (i = 0; i < n; i++) {
      o = rows[i];
      var s = ST_CODE[o.status];
      st[i] = s === undefined ? 0 : s;
      var h = host[i];
      if (same && prev.host[i] === h) hostL[i] = prev.hostL[i];
      else { hostSame = false; hostL[i] = h === null ? null : h.toLowerCase(); }
      var t = o.ntp || {}, q = o.cmd || {}, r = o.rate || {};
      nPk[i] = nn(t.packets); nDr[i] = nn(t.drops); nInt[i] = nn(t.interval_s);
      nIntL[i] = nn(t.interval_limited_s); nLast[i] = nn(t.last_seen_s);
      cPk[i] = nn(q.packets); cDr[i] = nn(q.drops); cInt[i] = nn(q.interval_s); cLast[i] = nn(q.last_seen_s);
      rPps[i] = nn(r.ntp_pps); rDps[i] = nn(r.drop_pps);
      var l = nLast[i], l2 = cLast[i];
      if (l !== l || l2 < l) l = l2;
      if ("nts_ke" in o) {
        hasNts = true;
        var x = o.nts_ke;
        if (x) {
          kHas[i] = 1;
          kCo[i] = nn(x.connections); kDr[i] = nn(x.drops); kInt[i] = nn(x.interval_s); kLast[i] = nn(x.last_seen_s);
          if (l !== l || kLast[i] < l) l = kLast[i];
        } else { kHas[i] = 0; kCo[i] = kDr[i] = kInt[i] = kLast[i] = NaN; }
      } else { kHas[i] = -1; kCo[i] = kDr[i] = kInt[i] = kLast[i] = NaN; }
      last[i] = l;
    }
    m.hasNts = hasNts;
    m.hostChanged = !hostSame || m.addrChanged;
    if (m.addrChanged) addressOrder(m);
    else { m.fam = prev.fam; m.v4 = prev.v4; m.v6 = prev.v6; m.rank = prev.rank; m.byAddr = prev.byAddr; }
    return m;
  }

  /* Everything of data.json but the client list. */
  function meta(j) {
    var o = {};
    for (var k in j) if (k !== "clients" && Object.prototype.hasOwnProperty.call(j, k)) o[k] = j[k];
    return o;
  }

  /* GET data.json with a timeout: resolves { json, date, tResp, tParsed },
     rejects with { kind: timeout|json|network|other, message }.  Used by the
     worker, and by the page itself when no worker can run. */
  function fetchJSON(url, timeoutMs) {
    var ac = typeof AbortController === "function" ? new AbortController() : null;
    var timer = setTimeout(function () { if (ac) ac.abort(); }, timeoutMs || 5000);
    var tResp = 0, date = null;
    return fetch(url, { cache: "no-store", signal: ac ? ac.signal : undefined, credentials: "same-origin",
                        headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw { message: "HTTP " + r.status + (r.statusText ? " " + r.statusText : "") };
        tResp = performance.now();
        date = r.headers.get("Date");
        return r.json();
      })
      .then(function (j) {
        if (!j || typeof j !== "object" || Array.isArray(j)) throw { message: "data.json is not a JSON object" };
        clearTimeout(timer);
        return { json: j, date: date, tResp: tResp, tParsed: performance.now() };
      }, function (e) {
        clearTimeout(timer);
        throw e;
      })
      .catch(function (e) {
        clearTimeout(timer);
        throw { kind: e && e.name === "AbortError" ? "timeout" : e && e.name === "SyntaxError" ? "json" :
                      e && e.name === "TypeError" ? "network" : "other",
                message: (e && e.message) || String(e) };
      });
  }

  var api = { COLS: COLS, v4num: v4num, v6hex: v6hex, build: build, meta: meta, fetchJSON: fetchJSON };

  var inWorker = typeof WorkerGlobalScope !== "undefined" && root instanceof WorkerGlobalScope;
  if (!inWorker) { root.ChronySnapModel = api; return; }

  // ---------------------------------------------------------------- worker side
  var prev = null;       // last model (for the unchanged-address fast path)
  var lastSeq = null;
  root.onmessage = function (ev) {
    var req = ev.data || {};
    if (req.cmd === "reset") { prev = null; lastSeq = null; return; }
    if (req.cmd !== "fetch") return;
    var t0 = performance.now();
    fetchJSON(req.url, req.timeoutMs).then(function (res) {
        var j = res.json;
        var out = { id: req.id, ok: true, date: res.date, meta: meta(j), same: false };
        var t = { fetch: res.tResp - t0, parse: res.tParsed - res.tResp, build: 0 };
        if (j.seq === lastSeq && prev && !req.force) {
          out.same = true; // nothing new: no model to send
          out.t = t;
          root.postMessage(out);
          return;
        }
        var m = build(j.clients, req.force ? null : prev);
        lastSeq = j.seq;
        var transfer = [];
        out.n = m.n; out.hasNts = m.hasNts; out.addrChanged = m.addrChanged; out.hostChanged = m.hostChanged;
        out.c = {};
        for (var i = 0; i < COLS.length; i++) { out.c[COLS[i]] = m.c[COLS[i]]; transfer.push(m.c[COLS[i]].buffer); }
        out.st = m.st; out.kHas = m.kHas;
        transfer.push(m.st.buffer, m.kHas.buffer);
        if (m.addrChanged) {
          out.addr = m.addr; out.v6 = m.v6;
          // the worker keeps its own copies of what the next build compares against
          out.fam = m.fam.slice(); out.v4 = m.v4.slice(); out.rank = m.rank.slice(); out.byAddr = m.byAddr.slice();
          transfer.push(out.fam.buffer, out.v4.buffer, out.rank.buffer, out.byAddr.buffer);
        }
        if (m.hostChanged) { out.host = m.host; out.hostL = m.hostL; }
        prev = { n: m.n, addr: m.addr, host: m.host, hostL: m.hostL, fam: m.fam, v4: m.v4, v6: m.v6,
                 rank: m.rank, byAddr: m.byAddr };
        t.build = performance.now() - res.tParsed;
        out.t = t;
        root.postMessage(out, transfer);
      })
      .catch(function (e) {
        root.postMessage({ id: req.id, ok: false, kind: (e && e.kind) || "other",
                           message: (e && e.message) || String(e) });
      });
  };
})(self);
