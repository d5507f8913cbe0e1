"""`chrony-snap build`: one tick, as named steps (see build()).

Collect, write data.json atomically, keep the page current, remember state.
Imports stay lean: Jinja2 only when the page must be re-rendered, watchdog
never.  The lock, the chronyc children and the temp files are held by
context managers, so no way out of a tick leaks them.
"""

import os
import sys
import time

from chrony_snap import (
    cadence,
    clientlog,
    clients,
    collect as C,
    config,
    dns,
    firstseen,
    health,
    metrics,
    snapshot,
    state as S,
)
from chrony_snap.writer import (
    Segment,
    StreamingFile,
    atomic_write,
    prepare as prepare_file,
    real_dir,
    remove_stale_temps,
)

PARTS_DIR = "data.json.d"  # the page's parts of data.json: live.json, clients-SEQ.json.gz
KEEP_CLIENT_FILES = 3  # a viewer that read live.json just before a collection still finds its list


def log(msg):
    sys.stderr.write(f"chrony-snap: {msg}\n")
    sys.stderr.flush()


def _never():
    return False


def build(out, config_path=None, chronyc=None, socket=None, state_dir=None, render_page=True, cancelled=None) -> int:
    """One tick; returns the exit code.  `cancelled()` is true once our own
    shutdown was requested (watch/demo): such a tick publishes nothing."""
    t0 = time.monotonic()
    try:
        with S.locked(state_dir or S.DEFAULT_DIR, log) as sdir:
            return tick(t0, out, sdir, config_path, chronyc, socket, render_page, cancelled or _never)
    except S.Busy as e:
        log(f"{e}; skipping this run")
        return 0


def tick(t0, out, sdir, config_path, chronyc, socket, render_page, cancelled) -> int:
    """The steps, holding the lock (sdir is None: no usable state)."""
    try:
        t = load_config_and_state(out, sdir, config_path, chronyc, socket)
    except config.ConfigError as e:
        log(str(e))
        return 2
    t.t0, t.cancelled = t0, cancelled
    if not make_output_dir(out):
        return 1
    make_parts_dir(t)
    plan_clients(t)
    with KeptList(t) as kept_fd, C.start(t.ch, t.collect) as running:
        prepare(t)
        try:
            dest = open_snapshot(t, kept_fd)
        except OSError as e:
            log(f"cannot write {t.data_json}: {e.strerror or e}; the previous snapshot stays in place")
            return 1
        with dest:
            results, encoder = stream_clients(t, running, dest)
            results = small_reports(t, results)
            reports = read_reports(t, results)
            finish_clients(t, results, reports, encoder, dest)
            judge_health(t, reports)
            record_history(t, reports)
            with write_metrics(t, reports) as pending:
                if not publish(t, dest, reports):
                    return 0 if t.cancelled() else 1
                pending.commit()
    rc = keep_page_current(t) if render_page else 0
    remember_state(t)
    return rc


class Tick:
    """What one tick knows, filled in step by step."""


def load_config_and_state(out, sdir, config_path, chronyc, socket) -> Tick:
    """The small state file and the config (cached in it: no TOML parse per
    tick).  Raises config.ConfigError."""
    t = Tick()
    t.out, t.sdir = out, sdir
    t.data_json = os.path.join(out, "data.json")
    t.st = _checked_state(S.load(sdir, "state", log))
    t.cfg, t.st["config_cache"] = config.load_cached(config_path, t.st.get("config_cache"))
    ch = dict(t.cfg["chrony"])
    if chronyc:
        ch["chronyc"] = chronyc
    if socket is not None:
        ch["socket"] = socket
    t.ch = ch
    t.host = t.cfg["output"]["host"] or os.uname().nodename
    t.now = time.time()
    t.boot_id, t.since_boot = _boot()
    return t


def _clients_key(t) -> tuple:
    """What the kept client list depends on besides chronyd: a change
    re-collects it."""
    m = t.cfg["metrics"]
    st = t.cfg["status"]
    return (
        st["warning_drops"],
        st["critical_drops"],
        st["critical_drop_ratio"],
        t.ch["nts_ke"],
        m["enabled"],
        m["top_clients"],
        t.cfg["output"]["gzip"],
        t.cfg["output"]["gzip_level"],
    )


def _parts(t, name):
    return os.path.join(t.out, PARTS_DIR, name)


def plan_clients(t: Tick):
    """Collect the client list on this tick, or reuse the kept one (cadence.py)."""
    ccfg = t.cfg["clients"]
    kept = t.st.get("clients_kept")
    t.kept = kept
    idle = not cadence.watched(ccfg["poll_log"], t.now, ccfg["idle_after_s"])
    carry = kept["raw_size"] * kept.get("carry_per_byte", 0.0) if kept else 0.0
    t.every_s, t.cadence_reason = cadence.interval(kept["cost"] if kept else None, ccfg, idle, carry)
    last = (kept["boot_id"], kept["since_boot"]) if kept else None
    force = t.st.pop("force_clients", False) or t.sdir is None or (kept and kept["key"] != _clients_key(t))
    t.collect = cadence.due(last, t.since_boot, t.boot_id, t.every_s, force)
    if t.collect:
        _begin_collection(t)


def _begin_collection(t: Tick):
    """What a collection's cost is measured from (note_cost)."""
    t.collect = True
    t.chronyd_before = cadence.chronyd_cpu(t.cfg["clients"]["pid_file"])
    t.cpu_before = time.process_time()


class KeptList:
    """For a tick that reuses the kept client list: the current data.json
    open (the list's raw bytes are in it, at a recorded offset) and the
    list's deflate segment from data.json.d/clients-SEQ.json.gz
    (t.kept_segment; None with gzip off).  A file missing or not matching
    what state.bin recorded: this tick collects after all."""

    def __init__(self, t):
        self.t, self.fds = t, []

    def __enter__(self):
        t = self.t
        if t.collect:
            return None
        k = t.kept
        path = _parts(t, f"clients-{k['seq']}.json.gz")
        ok = False
        try:
            if t.parts_error is not None:
                raise ValueError("no usable data.json.d")
            fd, st = S.open_regular(t.data_json, os.O_NOFOLLOW)
            self.fds.append(fd)
            seg = None
            if (st.st_ino, st.st_size, st.st_mtime_ns) == k["data_ident"]:
                if k["crc"] is None:
                    ok = not t.cfg["output"]["gzip"]
                else:
                    self.fds.append(S.open_regular(path, os.O_NOFOLLOW)[0])
                    seg = Segment.in_gzip_file(self.fds[-1], k["raw_size"], k.get("shift"))
                    ok = seg is not None and seg.crc == k["crc"]
        except (OSError, ValueError):
            pass
        if not ok:
            log(f"kept client list ({t.data_json}, {path}) is missing or changed; collecting it again")
            self.close()
            _begin_collection(t)
            return None
        t.kept_segment = seg
        return self.fds[0]  # data.json's

    def close(self):
        while self.fds:
            os.close(self.fds.pop())

    def __exit__(self, *exc):
        self.close()


def _checked_state(raw: dict) -> dict:
    """state.bin's values that are sane; an older release's extra keys (such
    as a copy of the names file) are dropped."""
    st = {}
    seq = raw.get("seq")
    st["seq"] = seq if seq.__class__ is int and 0 <= seq < 1 << 62 else 0
    if raw.get("config_cache") is not None:
        st["config_cache"] = raw["config_cache"]  # checked by config.load_cached
    vc = raw.get("version_cache")
    if vc.__class__ is dict and C.sane_version(vc.get("version")):
        st["version_cache"] = {"key": vc.get("key"), "version": vc.get("version")}
    backoff = raw.get("dns_backoff")
    if backoff.__class__ in (int, float) and backoff == backoff:
        st["dns_backoff"] = backoff
    active = raw.get("active_errors")
    if active.__class__ is dict:
        st["active_errors"] = {k: v for k, v in active.items() if k.__class__ is str and v.__class__ is str}
    if raw.get("history_obs").__class__ is dict:
        st["history_obs"] = raw["history_obs"]  # only compared with, never trusted further
    if raw.get("clientlog_cache").__class__ is dict:
        st["clientlog_cache"] = raw["clientlog_cache"]  # checked by clientlog.capacity
    if raw.get("page_failed").__class__ is str:
        st["page_failed"] = raw["page_failed"]
    ss = raw.get("ss_prev")
    if ss.__class__ is tuple and len(ss) == 3:
        st["ss_prev"] = ss  # each value re-checked where used (_dt, serverstats_rate)
    kept = _checked_kept(raw.get("clients_kept"))
    if kept is not None:
        st["clients_kept"] = kept
    for flag in ("force_clients", "chronyd_estimated"):
        if raw.get(flag) is True:
            st[flag] = True
    return st


_KEPT_TYPES = {
    "seq": int,
    "boot_id": str,
    "since_boot": float,
    "at": float,
    "raw_size": int,
    "offset": int,
    "data_ident": tuple,
    "summary": dict,
    "errors": list,
    "cost": float,
    "key": tuple,
}


def _checked_kept(kept):
    """The kept client list's record, or None when anything looks wrong (the
    tick then collects)."""
    if kept.__class__ is not dict or any(kept.get(k).__class__ is not c for k, c in _KEPT_TYPES.items()):
        return None
    if "crc" not in kept or "counts" not in kept:  # read without .get() when the list is reused
        return None
    if kept["crc"] is not None and kept["crc"].__class__ is not int:
        return None
    carry = kept.get("carry_per_byte", 0.0)
    if carry.__class__ is not float or not 0.0 <= carry < 1e-6:  # 1 s per MB: not a copy
        kept.pop("carry_per_byte")  # measured again by the next reusing tick
    shift = kept.get("shift")
    if shift is not None and (shift.__class__ is not list or len(shift) != 32 or {x.__class__ for x in shift} != {int}):
        return None
    counts = kept.get("counts")
    if counts is not None and (counts.__class__ is not tuple or len(counts) != 7):
        return None
    if not all(e.__class__ is dict and e.get("report").__class__ is str for e in kept["errors"]):
        return None
    return kept


def make_output_dir(out) -> bool:
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        log(f"cannot create output directory {out}: {e.strerror}")
        return False
    return True


def make_parts_dir(t: Tick):
    """data.json.d/, a directory of ours (never a planted symlink); unusable,
    its files are not written (an error entry; the page falls back to
    data.json) and the client list is collected every tick."""
    d = os.path.join(t.out, PARTS_DIR)
    try:
        real_dir(d)
        t.parts_error = None
    except OSError as e:
        t.parts_error = C.write_error("page_files", d, e)


def _boot():
    """(boot id, seconds since boot): a clock no NTP step can move."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot_id = f.read().strip()
    except OSError:
        boot_id = ""
    return boot_id, time.clock_gettime(time.CLOCK_BOOTTIME)


def prepare(t: Tick):
    """While chronyc runs: clean up after killed runs, read the previous
    counters and the name caches, start reverse DNS lookups."""
    remove_stale_temps(t.out)
    if t.parts_error is None:
        remove_stale_temps(os.path.join(t.out, PARTS_DIR))
    if t.sdir is not None:
        remove_stale_temps(t.sdir)
    ss_prev = t.st.get("ss_prev") or (None, None, None)
    t.dt = _dt(t, ss_prev[0], ss_prev[1])  # serverstats' rates: per second since the last tick
    t.prev_serverstats = ss_prev[2]
    t.errors = [] if t.parts_error is None else [t.parts_error]
    t.seq = max(t.st["seq"], S.seq_from_snapshot(t.data_json, log)) + 1
    t.lookups = None
    t.first_seen, t.now_member, t.first_seen_stored, t.first_seen_unkeyed = None, None, None, None
    if not t.collect:
        return  # the kept list carries its clients' first_seen; firstseen.bin stays as it is
    # a collection: per-client rates over the real interval since the last one
    prev = S.load(t.sdir, "prev", log)
    t.client_dt = _dt(t, prev.get("boot_id"), prev.get("since_boot"))
    clients_ = prev.get("clients")
    t.prev_clients = clients_ if clients_.__class__ is dict else {}
    t.cache = dns.valid_cache(S.load(t.sdir, "dns", log))
    dcfg = t.cfg["dns"]
    t.static = {}
    if dcfg["names_file"]:
        t.static, err = dns.load_names(dcfg["names_file"], t.sdir, log)
        if err is not None:
            t.errors.append(err)
    t.first_seen, t.first_seen_stored = firstseen.load(t.sdir, log, t.prev_clients)
    # t.first_seen_unkeyed: encoder.unkeyed, when the list is complete: saved then, if it changed
    t.now_member = firstseen.member(snapshot.rfc3339(t.now, ms=False))
    t.lookups = dns.start(t.cache, t.prev_clients.keys(), t.now, dcfg, t.st.get("dns_backoff", 0.0), t.static)


def _dt(t, boot_id, since):
    if boot_id != t.boot_id or since.__class__ is not float:
        return None
    dt = t.since_boot - since
    return dt if dt > 0.001 else None


def open_snapshot(t: Tick, kept_fd) -> StreamingFile:
    """data.json's temp files, with everything known before chronyc answers
    (and all of the client list when this tick reuses the kept one)."""
    o = t.cfg["output"]
    dest = StreamingFile(t.data_json, o["gzip_level"] if o["gzip"] else None, o["fsync"])
    t.head = snapshot.head_bytes(seq=t.seq, now_wall=t.now, host=t.host, cfg=t.cfg)
    t.offset = len(t.head) - 1  # where the list starts in data.json
    if not t.collect:
        dest.write(t.head[:-1])
        cpu0 = time.process_time()
        dest.splice(kept_fd, t.kept["offset"], t.kept["raw_size"], t.kept_segment)
        t.carry_s = time.process_time() - cpu0  # part of the list's cost (cadence.interval)
        return dest
    _start_list(t, dest)
    return dest


def _start_list(t, dest):
    """The head, then the client list as a segment of its own (its raw bytes
    and deflate segment are what later ticks reuse)."""
    dest.write(t.head[:-1])
    dest.begin_segment()
    dest.write(b"[")


def _encoder(t, dest, nts=None):
    m = t.cfg["metrics"]
    t.counts = metrics.ClientCounts(m["top_clients"]) if m["enabled"] else None
    return clients.ClientEncoder(
        nts,
        t.prev_clients,
        t.client_dt,
        t.cfg["status"],
        t.cache,
        t.static,
        dest.write,
        t.counts,
        t.first_seen,
        t.now_member,
    )


def stream_clients(t: Tick, running, dest):
    """Wait for every chronyc.  Clients are parsed, encoded, written and
    compressed while chronyc still prints them (unless NTS-KE columns must be
    merged in first)."""
    encoder = None if t.ch["nts_ke"] or not t.collect else _encoder(t, dest)
    results = running.wait({"clients": encoder.feed_bytes} if encoder else None)
    if encoder is not None:
        encoder.finish_input()
        results["clients"].out = "\n".join(encoder.status_lines).encode()  # what diagnose needs
    return results, encoder


def small_reports(t: Tick, results) -> dict:
    """The five small reports' results, from their one combined chronyc, or
    asked again one chronyc each when that failed (collect.CHEAP); in
    REPORTS' order, as their errors are listed."""
    cheap = C.split_cheap(results.pop(C.COMBINED))
    if cheap is None:
        with C.start_each(t.ch) as again:
            cheap = again.wait()
    results.update(cheap)
    return {name: results[name] for name in C.REPORTS if name in results}


def _failed(res) -> bool:
    return bool(res.timed_out or res.overflow or res.spawn_error or (res.rc is not None and res.rc < 0))


def read_reports(t: Tick, results) -> dict:
    """Diagnose every call and parse the reports other than the streamed
    clients.  Fills t.errors and t.reachable."""
    sock_state = C.socket_state(t.ch["socket"])
    reachable = None
    reports = {}
    for name, res in results.items():
        report = C.REPORTS[name]
        err, ok = C.diagnose(name, res, t.ch, sock_state, t.ch[report.deadline_key])
        if ok is True:
            reachable = True
        elif ok is False and reachable is None:
            reachable = False
        if err is not None:
            t.errors.append(err)
        if name == "clients" and not t.ch["nts_ke"]:
            continue  # streamed into the encoder
        if _failed(res):
            value, problems = None, []
        elif report.parse is None:
            value, problems = res.out.decode("utf-8", "replace"), []
        else:
            try:
                value, problems = report.parse(res.out.decode("utf-8", "replace"))
            except Exception as e:  # noqa: BLE001 - one report's surprise must not lose the others
                value, problems = None, [f"{name}: output chrony-snap cannot parse ({type(e).__name__}: {e})"[:300]]
        if problems:
            t.errors.append(C.garbage_error(name, problems))
        reports[name] = None if err is not None and not value else value  # unknown, not "empty"
    t.reachable = reachable
    t.version = C.chronyc_version(t.ch["chronyc"], t.st.setdefault("version_cache", {}))
    return reports


def finish_clients(t: Tick, results, reports, encoder, dest):
    """The clients array is complete: a partial list is not trustworthy, so a
    failed call publishes none.  A tick that reused the kept list takes its
    summary and counts too."""
    if not t.collect:
        if t.reachable is False:
            drop_kept(t, dest)
            t.client_log = None
        else:
            reuse_kept(t)
            t.client_log = client_log_use(t)
        return
    t.clients_failed = _failed(results["clients"])
    if t.clients_failed:
        if encoder is not None and encoder.n:
            dest.reset()
            _start_list(t, dest)
        encoder = _encoder(t, dest)
    elif encoder is None:
        encoder = _encoder(t, dest, reports.get("clients_nts") or {})
        encoder.feed(reports.get("clients") or "")
    t.summary, t.new_prev_clients, problems = encoder.finish()
    dest.write(b"]")
    t.raw_size = dest.size_since_segment()
    t.segment = dest.end_segment()
    listed = not t.clients_failed and _ok(t.errors, "clients")
    if listed and t.first_seen is not None:  # a failed call lists no client: that forgets none of them
        t.first_seen_unkeyed = encoder.unkeyed
    t.client_log = client_log_use(t) if listed else None
    if problems:
        t.errors.append(C.garbage_error("clients", problems))
    reports.pop("clients", None)
    reports.pop("clients_nts", None)
    note_cost(t, results)
    if t.lookups is not None:
        t.st["dns_backoff"] = dns.finish(t.lookups, t.cache, t.now, t.cfg["dns"], t.cfg["dns"]["budget_ms"] / 1000.0)


def note_cost(t: Tick, results):
    """What this collection cost: our CPU since plan_clients (encoding; the
    other reports' parsing is small), chronyc's, chronyd's share."""
    ccfg = t.cfg["clients"]
    own = time.process_time() - t.cpu_before
    children = sum(results[n].cpu_s for n in ("clients", "clients_nts") if n in results)
    after = cadence.chronyd_cpu(ccfg["pid_file"])
    chronyd, measured = cadence.chronyd_cost(t.chronyd_before, after, t.summary["clients"])
    if not measured and not t.st.get("chronyd_estimated"):
        log(
            f"cannot read chronyd's CPU time (pid file {ccfg['pid_file']}, /proc): "
            "estimating its share of the client list's cost from the client count"
        )
    t.st["chronyd_estimated"] = not measured
    previous = t.kept["cost"] if t.kept else None
    t.cost = cadence.smoothed(previous, own + children + chronyd)


def reuse_kept(t: Tick):
    k = t.kept
    t.summary = k["summary"]
    t.counts = None
    if k["counts"] is not None:
        t.counts = metrics.ClientCounts(k["counts"][5])
        t.counts.last, t.counts.interval, t.counts.drops, t.counts.idle, t.counts.nts, _, t.counts.top = k["counts"]
    t.errors.extend(k["errors"])  # the kept list's own problems (garbage rows) stay shown with it


def drop_kept(t: Tick, dest):
    """chronyd stopped answering since the kept list was collected: that
    list is not current, so this snapshot has none (as a failed collection),
    and the next tick collects."""
    dest.reset()
    dest.write(t.head[:-1] + b"[]")
    t.prev_clients, t.client_dt, t.cache, t.static = {}, None, {}, {}
    t.summary = _encoder(t, dest).finish()[0]
    err = next((e for e in t.errors if e["report"] == "tracking"), None)
    if err is not None:
        t.errors.insert(0, dict(err, report="clients"))
    t.kept = None
    t.st.pop("clients_kept", None)


def _counts_kept(counts):
    if counts is None:
        return None
    top = metrics.top_clients(counts)
    return (dict(counts.last), dict(counts.interval), dict(counts.drops), counts.idle, counts.nts, counts.top_n, top)


def client_log_use(t: Tick) -> dict:
    """chronyd's client log: "N of M records" (clientlog.py; the conf is read
    only when it changed)."""
    cap, source, notes, t.st["clientlog_cache"] = clientlog.capacity(t.ch, t.st.get("clientlog_cache"))
    return clientlog.summary(t.summary["clients"], cap, source, notes)


def judge_health(t: Tick, reports):
    """The counters' rates and the health verdict from this tick's reports.
    A chronyd that restarted or stopped answering since the kept client list
    was collected makes the next tick collect it again."""
    t.serverstats = reports.get("serverstats")
    t.ss_rate = snapshot.serverstats_rate(t.serverstats, t.prev_serverstats, t.dt)
    if not t.collect and (not t.reachable or cadence.restarted(t.prev_serverstats, t.serverstats)):
        t.st["force_clients"] = True
    t.health = health.verdict(
        reachable=bool(t.reachable),
        tracking=reports.get("tracking"),
        sources=reports.get("sources"),
        serverstats=t.serverstats,
        serverstats_rate=t.ss_rate,
        thresholds=t.cfg["health"],
        client_log=t.client_log,
    )


_HISTORY_HINT = (
    "Check that chrony-snap's user may write the history directory ([history] dir, default STATE/history) "
    "and that its file system is not full; data.json is written all the same."
)


def record_history(t: Tick, reports):
    """[history]: this tick's series into the ring file (O(1)), what changed
    into the events log.  Off: not even imported.  A failure is an `errors`
    entry (logged once by remember_state); it never costs data.json."""
    t.history = None
    if not t.cfg["history"]["enabled"]:
        return
    from chrony_snap import history as H

    hdir = H.directory(t.cfg, t.sdir)
    if hdir is None:
        t.errors.append(C._err("history", "no usable state directory: running without history", "state", _HISTORY_HINT))
        return
    tracking, sources = reports.get("tracking"), reports.get("sources")
    clients_ok = _ok(t.errors, "clients")
    new = None
    if t.collect and clients_ok and t.client_dt is not None:  # new since the last collection
        new = len(t.new_prev_clients.keys() - t.prev_clients.keys())
    hist = os.path.join(t.out, "history")
    published = None
    try:
        os.makedirs(hdir, mode=0o750, exist_ok=True)
        with H.Ring.open(os.path.join(hdir, "history.bin"), H.Layout(H.tiers_of(t.cfg)), log) as ring:
            pos = ring.position(t.boot_id, t.since_boot, t.now)
            sources_changed = H.assign_sources(ring.sources, sources)
            if sources_changed:
                ring.write_sources()
            summary = t.summary if clients_ok else None
            vals = H.values(tracking, t.ss_rate, summary, new, sources, ring.sources)
            ring.append(pos, vals)
            try:
                from chrony_snap import history_publish

                history_publish.publish(ring, pos, hist, sources_changed)
                published = "history/index.json"
            except OSError as e:
                t.errors.append(_publish_error(hist, e))
    except OSError as e:
        code = "disk_full" if H.is_disk_full(e) else "write"
        t.errors.append(C._err("history", f"cannot write history in {hdir}: {e.strerror or e}", code, _HISTORY_HINT))
        return
    obs = H.observe(t.reachable, tracking, sources, t.ss_rate, summary, t.health)
    events = H.changes(t.st.get("history_obs"), obs, t.now)
    t.st["history_obs"] = H.keep_unknown(t.st.get("history_obs"), obs)
    web = os.path.join(hist, "events.json") if published is not None else None  # never through a refused dir
    if events or (web is not None and not os.path.exists(web)):
        try:
            _publish_events(t, hdir, web, events, H.MAX_EVENTS)
        except OSError as e:
            if published is not None:  # one entry for the web root
                t.errors.append(_publish_error(hist, e))
            published = None
    t.history = {
        "events": "history/events.json",
        "position": pos,
        "tiers": [{"name": n, "step_s": step, "span_s": step * slots} for n, step, slots, _, _ in ring.layout.tiers],
        # this tick's values as the 1 s tier holds them (float32: 9 digits round-trip), index.json's order
        "row": [None if v != v else float(f"{v:.9g}") for v in H.as_f32(vals)],
    }
    if published is not None:
        t.history["index"] = published


def _publish_error(hist, e: OSError) -> dict:
    from chrony_snap.history import is_disk_full

    return C._err(
        "history",
        f"cannot publish history in {hist}: {e.strerror or e}" + (f" ({e.filename})" if e.filename else ""),
        "disk_full" if is_disk_full(e) else "publish",
        "Check that chrony-snap's user may write the web root's history/ directory and that its file system "
        "is not full; the history is still recorded, and data.json is written all the same.",
    )


def _publish_events(t: Tick, hdir, published, new, limit):
    """The events log (bounded, oldest dropped) in the state directory, and
    its JSON for the page and tools in the web root (atomic, never torn;
    `published` None: the web root's history/ is not usable this tick)."""
    from chrony_snap.jsonenc import dumps

    events = S.load(hdir, "events", log).get("events")
    events = (events if events.__class__ is list else []) + new
    events = events[-limit:]
    if new:
        S.save(hdir, "events", {"events": events})
    if published is None:
        return
    shown = [{**e, "time": snapshot.rfc3339(e["t"])} for e in events]
    atomic_write(published, dumps({"schema_version": 1, "events": shown}).encode("utf-8"))


class PendingFiles:
    """Temp files written before data.json, renamed into place only after it
    (so the metrics never announce a snapshot that was not published);
    removed on any other way out."""

    def __init__(self):
        self.files = []

    def commit(self):
        for f in self.files:
            try:
                f.commit()
            except OSError as e:
                log(f"cannot write {f.path}: {e.strerror or e}")
        self.files = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for f in self.files:
            f.abort()


def _ok(errors, report) -> bool:
    """The report gave a trustworthy answer (some garbage lines aside)."""
    return not any(e["report"] == report and e["code"] != "unparsable" for e in errors)


def write_metrics(t: Tick, reports) -> PendingFiles:
    """Prometheus text (metrics.py) for node_exporter's textfile collector
    (`metrics.textfile_dir`) and the web root's `metrics`.  A file that
    cannot be written is an error entry; it never costs data.json."""
    t.duration_ms = round((time.monotonic() - t.t0) * 1000, 1)
    pending = PendingFiles()
    m = t.cfg["metrics"]
    if not m["enabled"]:
        try:
            os.unlink(os.path.join(t.out, "metrics"))  # turned off: no stale numbers on /metrics
        except OSError:
            pass
        return pending
    targets = [os.path.join(t.out, "metrics")]
    if m["textfile_dir"]:  # first, so that the web root's file counts its failure
        targets.insert(0, os.path.join(m["textfile_dir"], "chrony_snap.prom"))
        remove_stale_temps(m["textfile_dir"])
    text = None
    for path in targets:
        if text is None:
            text = _metrics_text(t, reports)
        try:
            pending.files.append(prepare_file(path, text, t.cfg["output"]["fsync"]))
        except OSError as e:
            t.errors.append(C.write_error("metrics", path, e))
            text = None
    return pending


def _metrics_text(t: Tick, reports) -> bytes:
    clients_ok = _ok(t.errors, "clients")
    return metrics.render(
        up=t.reachable,
        reports=reports,
        summary=t.summary if clients_ok else None,
        counts=t.counts,
        nts_ke=t.ch["nts_ke"] and _ok(t.errors, "clients_nts"),
        errors=t.errors,
        now=t.now,
        duration_s=t.duration_ms / 1000,
        chrony_version=t.version,
    ).encode("utf-8")


def publish(t: Tick, dest, reports) -> bool:
    """Write the rest of data.json and rename it into place.  Not when our own
    shutdown interrupted the tick: its reports may be cut short."""
    chrony = {"reachable": bool(t.reachable), "version": t.version, "socket": t.ch["socket"] or None}
    tail = snapshot.tail_bytes(
        cfg=t.cfg,
        chrony=chrony,
        health=t.health,
        reports=reports,
        summary=t.summary,
        errors=t.errors,
        duration_ms=t.duration_ms,
        ss_rate=t.ss_rate,
        history=t.history,
        client_log=t.client_log,
        clients_meta=clients_meta(t),
    )
    dest.write(tail[1:])  # its "]" is the kept list's own
    if t.cancelled():
        log("stopping: this tick publishes nothing")
        return False
    t.list_published = t.collect and publish_client_list(t)
    try:
        dest.commit()
        st = os.stat(t.data_json)
    except OSError as e:
        log(f"cannot write {t.data_json}: {e.strerror or e}; the previous snapshot stays in place")
        return False
    t.data_ident = (st.st_ino, st.st_size, st.st_mtime_ns)
    if t.parts_error is not None:
        return True
    try:  # after data.json: live.json never names a list that data.json does not have yet
        atomic_write(_parts(t, "live.json"), snapshot.live_bytes(t.head, tail), fsync=t.cfg["output"]["fsync"])
    except OSError as e:
        t.errors.append(C.write_error("live", _parts(t, "live.json"), e))
    return True


def clients_meta(t: Tick) -> dict:
    """data.json's optional keys on the client list's age and cadence."""
    ccfg = t.cfg["clients"]
    at, seq = (t.kept["at"], t.kept["seq"]) if t.kept and not t.collect else (t.now, t.seq)
    return {
        "clients_collected_at": snapshot.rfc3339(at),
        "clients_seq": seq,
        "clients_cadence": {
            "interval_s": t.every_s,
            "reason": t.cadence_reason,
            "cpu_budget": ccfg["cpu_budget"],
            "max_interval_s": ccfg["max_interval_s"],
        },
    }


def publish_client_list(t: Tick) -> bool:
    """data.json.d/clients-SEQ.json.gz (the deflate segment data.json.gz
    holds, framed as a gzip file of its own), renamed into place before
    data.json names it; the oldest beyond KEEP_CLIENT_FILES go.  With gzip
    off there is none: the page reads data.json when the list changes.  A
    failure is an error entry; data.json is written all the same."""
    if t.segment is None or t.parts_error is not None:
        return False
    path = _parts(t, f"clients-{t.seq}.json.gz")
    try:
        atomic_write(path, t.segment.gzip(), fsync=t.cfg["output"]["fsync"])
    except OSError as e:
        t.errors.append(C.write_error("page_files", path, e))
        return False
    d = os.path.dirname(path)
    try:
        names = os.listdir(d)
    except OSError:
        return True
    seqs = sorted(int(n[8:-8]) for n in names if n[:8] == "clients-" and n[-8:] == ".json.gz" and n[8:-8].isdigit())
    # by seq below this one (a seq that started again, with state lost, must not delete the new list)
    kept = {t.seq, *[s for s in seqs if s < t.seq][-(KEEP_CLIENT_FILES - 1) :]}
    for old in (s for s in seqs if s not in kept):
        try:
            os.unlink(os.path.join(d, f"clients-{old}.json.gz"))
        except OSError:
            pass
    return True


def keep_page_current(t: Tick) -> int:
    from chrony_snap import site

    return site.ensure_page(t.out, t.cfg, t.host, t.st)


def remember_client_list(t: Tick):
    """What a later tick needs to reuse this collection (state.bin) and to
    compute the next one's rates (prev.bin)."""
    if t.segment is not None and not t.list_published:
        t.st.pop("clients_kept", None)  # not published: nothing to reuse
    else:
        t.st["clients_kept"] = {
            "seq": t.seq,
            "boot_id": t.boot_id,
            "since_boot": t.since_boot,
            "at": t.now,
            "raw_size": t.raw_size,
            "offset": t.offset,
            "data_ident": t.data_ident,
            "crc": None if t.segment is None else t.segment.crc,
            "shift": None if t.segment is None else t.segment.shift,
            "summary": t.summary,
            "counts": _counts_kept(t.counts),
            # its own problems, the names file's included (its names are in the list): shown
            # as long as the list is, not only on the ticks that collect
            "errors": [e for e in t.errors if e["report"] in ("clients", "clients_nts", "dns")],
            "cost": t.cost,
            "key": _clients_key(t),
        }
        if t.kept and "carry_per_byte" in t.kept:  # the copy's cost per byte outlives one list
            t.st["clients_kept"]["carry_per_byte"] = t.kept["carry_per_byte"]
    if t.clients_failed or not _ok(t.errors, "clients") or (t.ch["nts_ke"] and not _ok(t.errors, "clients_nts")):
        t.st["force_clients"] = True  # a list chronyd did not give (whole) is never kept as the answer
    dns.prune(t.cache, t.now, t.new_prev_clients)
    S.save(t.sdir, "prev", {"boot_id": t.boot_id, "since_boot": t.since_boot, "clients": t.new_prev_clients})
    if t.first_seen_unkeyed is not None:
        # after prev.bin: a second reference to its address strings would make
        # marshal track every one of them while writing it
        firstseen.save_if_changed(
            t.sdir, t.first_seen_stored, t.prev_clients, t.new_prev_clients, t.first_seen_unkeyed, t.first_seen
        )
    if t.lookups is not None or not t.cache:
        S.save(t.sdir, "dns", t.cache)


def remember_state(t: Tick):
    """Log each problem once when it starts and once when it clears; save
    the state for the next tick."""
    active = {f"{e['report']}|{e['code']}": e for e in t.errors}
    before = t.st.get("active_errors", {})
    for k, e in active.items():
        if k not in before:
            log(f"{e['report']}: {e['message']} (hint: {e['hint']})")
    for k, msg in before.items():
        if k not in active:
            log(f"{k.split('|')[0]}: recovered (was: {msg})")
    t.st["active_errors"] = {k: e["message"] for k, e in active.items()}
    if t.sdir is None:
        return
    t.st["seq"] = t.seq
    t.st["ss_prev"] = (t.boot_id, t.since_boot, t.serverstats)
    try:
        if t.collect:
            remember_client_list(t)
        elif t.st.get("clients_kept") is not None:  # the list now lives in this tick's data.json
            kept = t.st["clients_kept"]
            kept.update(offset=t.offset, data_ident=t.data_ident)
            per_byte = t.carry_s / max(1, kept["raw_size"])
            kept["carry_per_byte"] = cadence.smoothed(kept.get("carry_per_byte"), per_byte)
        S.save(t.sdir, "state", t.st)
    except OSError as e:
        log(f"cannot save state in {t.sdir}: {e.strerror}")
