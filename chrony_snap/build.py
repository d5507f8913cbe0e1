"""`chrony-snap build`: one tick, as named steps (see build()).

Collect, write data.json atomically, keep the page current, remember state.
Imports stay lean: Jinja2 only when the page must be re-rendered, watchdog
never.  The lock, the chronyc children and the temp files are held by
context managers, so no way out of a tick leaks them.
"""

import os
import sys
import time

from chrony_snap import clientlog, clients, collect as C, config, dns, firstseen, health, metrics, snapshot, state as S
from chrony_snap.writer import StreamingFile, prepare as prepare_file, remove_stale_temps


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
    with C.start(t.ch) as running:
        prepare(t)
        try:
            dest = open_snapshot(t)
        except OSError as e:
            log(f"cannot write {t.data_json}: {e.strerror or e}; the previous snapshot stays in place")
            return 1
        with dest:
            results, encoder = stream_clients(t, running, dest)
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
    return t


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
    return st


def make_output_dir(out) -> bool:
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        log(f"cannot create output directory {out}: {e.strerror}")
        return False
    return True


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
    if t.sdir is not None:
        remove_stale_temps(t.sdir)
    t.now = time.time()
    t.boot_id, t.since_boot = _boot()
    prev = S.load(t.sdir, "prev", log)
    t.dt = None
    since = prev.get("since_boot")
    if prev.get("boot_id") == t.boot_id and since.__class__ is float:
        dt = t.since_boot - since
        t.dt = dt if dt > 0.001 else None
    clients_ = prev.get("clients")
    t.prev_clients = clients_ if clients_.__class__ is dict else {}
    t.prev_serverstats = prev.get("serverstats")
    t.cache = dns.valid_cache(S.load(t.sdir, "dns", log))
    t.errors = []
    dcfg = t.cfg["dns"]
    t.static = {}
    if dcfg["names_file"]:
        t.static, err = dns.load_names(dcfg["names_file"], t.sdir, log)
        if err is not None:
            t.errors.append(err)
    t.first_seen, t.first_seen_stored = firstseen.load(t.sdir, log, t.prev_clients)
    t.first_seen_unkeyed = None  # encoder.unkeyed, when the list is complete: saved then, if it changed
    t.now_member = firstseen.member(firstseen.rfc3339(t.now))
    t.lookups = dns.start(t.cache, t.prev_clients.keys(), t.now, dcfg, t.st.get("dns_backoff", 0.0), t.static)
    t.seq = max(t.st["seq"], S.seq_from_snapshot(t.data_json, log)) + 1


def open_snapshot(t: Tick) -> StreamingFile:
    """data.json's temp files, with everything known before chronyc answers."""
    o = t.cfg["output"]
    dest = StreamingFile(t.data_json, o["gzip_level"] if o["gzip"] else None, o["fsync"])
    t.head = snapshot.head_bytes(seq=t.seq, now_wall=t.now, host=t.host, cfg=t.cfg)
    dest.write(t.head)
    return dest


def _encoder(t, dest, nts=None):
    m = t.cfg["metrics"]
    t.counts = metrics.ClientCounts(m["top_clients"]) if m["enabled"] else None
    return clients.ClientEncoder(
        nts, t.prev_clients, t.dt, t.cfg["status"], t.cache, t.static, dest.write, t.counts, t.first_seen, t.now_member
    )


def stream_clients(t: Tick, running, dest):
    """Wait for every chronyc.  Clients are parsed, encoded, written and
    compressed while chronyc still prints them (unless NTS-KE columns must be
    merged in first)."""
    encoder = None if t.ch["nts_ke"] else _encoder(t, dest)
    results = running.wait({"clients": encoder.feed_bytes} if encoder else None)
    if encoder is not None:
        encoder.finish_input()
        results["clients"].out = "\n".join(encoder.status_lines).encode()  # what diagnose needs
    return results, encoder


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
            continue
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
    failed call publishes none."""
    failed = _failed(results["clients"])
    if failed:
        if encoder is not None and encoder.n:
            dest.reset()
            dest.write(t.head)
        encoder = _encoder(t, dest)
    elif encoder is None:
        encoder = _encoder(t, dest, reports.get("clients_nts") or {})
        encoder.feed(reports.get("clients") or "")
    t.summary, t.new_prev_clients, problems = encoder.finish()
    listed = not failed and _ok(t.errors, "clients")
    if listed and t.first_seen is not None:  # a failed call lists no client: that forgets none of them
        t.first_seen_unkeyed = encoder.unkeyed
    t.client_log = client_log_use(t) if listed else None
    if problems:
        t.errors.append(C.garbage_error("clients", problems))
    reports.pop("clients", None)
    reports.pop("clients_nts", None)
    if t.lookups is not None:
        t.st["dns_backoff"] = dns.finish(t.lookups, t.cache, t.now, t.cfg["dns"], t.cfg["dns"]["budget_ms"] / 1000.0)


def client_log_use(t: Tick) -> dict:
    """chronyd's client log: "N of M records" (clientlog.py; the conf is read
    only when it changed)."""
    cap, source, notes, t.st["clientlog_cache"] = clientlog.capacity(t.ch, t.st.get("clientlog_cache"))
    return clientlog.summary(t.summary["clients"], cap, source, notes)


def judge_health(t: Tick, reports):
    """The counters' rates and the health verdict from this tick's reports."""
    t.serverstats = reports.get("serverstats")
    t.ss_rate = snapshot.serverstats_rate(t.serverstats, t.prev_serverstats, t.dt)
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
    if clients_ok and t.dt is not None:
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
    from chrony_snap.writer import atomic_write

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
    dest.write(
        snapshot.tail_bytes(
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
        )
    )
    if t.cancelled():
        log("stopping: this tick publishes nothing")
        return False
    try:
        dest.commit()
    except OSError as e:
        log(f"cannot write {t.data_json}: {e.strerror or e}; the previous snapshot stays in place")
        return False
    return True


def keep_page_current(t: Tick) -> int:
    from chrony_snap import site

    return site.ensure_page(t.out, t.cfg, t.host, t.st)


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
    dns.prune(t.cache, t.now, t.new_prev_clients)
    try:
        S.save(
            t.sdir,
            "prev",
            {
                "boot_id": t.boot_id,
                "since_boot": t.since_boot,
                "clients": t.new_prev_clients,
                "serverstats": t.serverstats,
            },
        )
        if t.first_seen_unkeyed is not None:
            # after prev.bin: a second reference to its address strings would make
            # marshal track every one of them while writing it
            firstseen.save_if_changed(
                t.sdir, t.first_seen_stored, t.prev_clients, t.new_prev_clients, t.first_seen_unkeyed, t.first_seen
            )
        if t.lookups is not None or not t.cache:
            S.save(t.sdir, "dns", t.cache)
        S.save(t.sdir, "state", t.st)
    except OSError as e:
        log(f"cannot save state in {t.sdir}: {e.strerror}")
