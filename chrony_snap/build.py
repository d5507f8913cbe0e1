"""`chrony-snap build`: one tick. Collect, write data.json atomically, keep the
page current, remember state. Imports stay lean: Jinja2 only when the page
must be re-rendered, watchdog never.
"""

import os
import sys
import time

from chrony_snap import collect as C, config, dns, snapshot, state as S
from chrony_snap.writer import StreamingFile, remove_stale_temps

def _boot():
    """(boot id, seconds since boot): a clock no NTP step can move."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot_id = f.read().strip()
    except OSError:
        boot_id = ""
    return boot_id, time.clock_gettime(time.CLOCK_BOOTTIME)


def log(msg):
    sys.stderr.write(f"chrony-snap: {msg}\n")
    sys.stderr.flush()


def load_config(path, st):
    """Parsed config, cached in state by the file's identity (no TOML parse per tick)."""
    ident = config.identity(path)
    cached = st.get("config")
    if cached is not None and st.get("config_ident") == ident and ident is not None:
        return cached, ident
    if ident is None:
        cfg = config.resolve_status(config.defaults())
    else:
        cfg, _ = config.load(path)
    st["config"], st["config_ident"] = cfg, ident
    return cfg, ident


def build(out, config_path=None, chronyc=None, socket=None, state_dir=None, render_page=True):
    t0 = time.monotonic()
    state_dir = state_dir or S.DEFAULT_DIR
    persist = True
    try:
        S.ensure_dir(state_dir)
        lock_fd = S.lock(state_dir)
    except S.Busy as e:
        log(f"{e}; skipping this run")
        return 0
    except OSError as e:
        log(f"cannot use state directory {state_dir}: {e.strerror}; running without state "
            "(no rates, no DNS cache, problems logged every run)")
        persist = False
    st = S.load(state_dir, "state", log) if persist else {}

    try:
        cfg, ident = load_config(config_path, st)
    except config.ConfigError as e:
        log(str(e))
        return 2
    ch = dict(cfg["chrony"])
    if chronyc:
        ch["chronyc"] = chronyc
    if socket is not None:
        ch["socket"] = socket
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        log(f"cannot create output directory {out}: {e.strerror}")
        return 1

    # chronyc starts first; what follows overlaps its run
    running = C.start(ch)
    remove_stale_temps(out)
    if persist:
        remove_stale_temps(state_dir)
    now = time.time()
    boot_id, since_boot = _boot()
    prev = S.load(state_dir, "prev", log) if persist else {}
    dt = None
    if prev.get("boot_id") == boot_id and prev.get("since_boot") is not None:
        dt = since_boot - prev["since_boot"]
        if dt <= 0.001:
            dt = None
    prev_clients = prev.get("clients", {})
    cache = S.load(state_dir, "dns", log) if persist else {}
    static = dns.load_names(cfg["dns"]["names_file"], st) if cfg["dns"]["names_file"] else {}
    lookups = dns.start(cache, prev_clients.keys(), now, cfg["dns"], st.get("dns_backoff", 0.0), static)

    host = cfg["output"]["host"] or os.uname().nodename
    seq = max(st.get("seq", 0), S.seq_from_snapshot(os.path.join(out, "data.json"))) + 1
    head = snapshot.head_bytes(seq=seq, now_wall=now, host=host, cfg=cfg)
    try:
        dest = StreamingFile(os.path.join(out, "data.json"),
                             cfg["output"]["gzip_level"] if cfg["output"]["gzip"] else None, cfg["output"]["fsync"])
    except OSError as e:
        running.wait()
        log(f"cannot write {os.path.join(out, 'data.json')}: {e.strerror or e}; the previous snapshot stays in place")
        return 1
    dest.write(head)

    def new_encoder(nts=None):
        return snapshot.ClientEncoder(nts, prev_clients, dt, cfg["status"], cache, static, dest.write)

    # clients are parsed, encoded, written and compressed while chronyc still
    # prints them (unless NTS-KE columns must be merged in first)
    encoder = None if ch["nts_ke"] else new_encoder()
    results = running.wait({"clients": encoder.feed_bytes} if encoder else None)
    if encoder is not None:
        encoder.finish_input()
        results["clients"].out = "\n".join(encoder.status_lines).encode()  # what diagnose needs
    version = C.chronyc_version(ch["chronyc"], st.setdefault("version_cache", {}))
    sock_state = C.socket_state(ch["socket"])

    errors = []
    reachable = None
    reports = {}
    for name, res in results.items():
        deadline = ch["clients_deadline_s"] if name.startswith("clients") else ch["reports_deadline_s"]
        err, ok = C.diagnose(name, res, ch, sock_state, deadline)
        if ok is True:
            reachable = True
        elif ok is False and reachable is None:
            reachable = False
        if err is not None:
            errors.append(err)
        if name == "clients" and encoder is not None:
            continue
        value, problems = (None, []) if res.timed_out or res.spawn_error else \
            C.PARSERS[name](res.out.decode("utf-8", "replace"))
        if problems:
            errors.append(C.garbage_error(name, problems))
        reports[name] = None if err is not None and not value else value  # unknown, not "empty"

    clients_res = results["clients"]
    if clients_res.timed_out or clients_res.spawn_error:
        if encoder is not None and encoder.n:
            dest.reset()  # a partial client list is not trustworthy: none
            dest.write(head)
        encoder = new_encoder()
    elif encoder is None:
        encoder = new_encoder({r[0]: r for r in (reports.pop("clients_nts", None) or [])})
        encoder.feed(reports.pop("clients", None) or "")
    summary, new_prev_clients, problems = encoder.finish()
    if problems:
        errors.append(C.garbage_error("clients", problems))
    reports.pop("clients", None)
    reports.pop("clients_nts", None)
    if lookups is not None:
        st["dns_backoff"] = dns.finish(lookups, cache, now, cfg["dns"], cfg["dns"]["budget_ms"] / 1000.0)

    ss = reports.get("serverstats")
    ss_rate = snapshot.serverstats_rate(ss, prev.get("serverstats"), dt)
    chrony = {"reachable": bool(reachable), "version": version, "socket": ch["socket"] or None}
    dest.write(snapshot.tail_bytes(
        cfg=cfg, chrony=chrony, reports=reports, summary=summary, errors=errors,
        duration_ms=round((time.monotonic() - t0) * 1000, 1), ss_rate=ss_rate))
    try:
        dest.commit()
    except OSError as e:
        log(f"cannot write {os.path.join(out, 'data.json')}: {e.strerror or e}; "
            "the previous snapshot stays in place")
        return 1

    rc = ensure_page(out, cfg, host, st) if render_page else 0

    # log each problem once when it starts and once when it clears
    active = {f"{e['report']}|{e['code']}": e for e in errors}
    before = st.get("active_errors", {})
    for k, e in active.items():
        if k not in before:
            log(f"{e['report']}: {e['message']} (hint: {e['hint']})")
    for k, msg in before.items():
        if k not in active:
            log(f"{k.split('|')[0]}: recovered (was: {msg})")
    st["active_errors"] = {k: e["message"] for k, e in active.items()}

    if persist:
        st["seq"] = seq
        dns.prune(cache, now, new_prev_clients)
        try:
            S.save(state_dir, "prev", {"boot_id": boot_id, "since_boot": since_boot,
                                       "clients": new_prev_clients, "serverstats": ss})
            if lookups is not None or not cache:
                S.save(state_dir, "dns", cache)
            S.save(state_dir, "state", st)
        except OSError as e:
            log(f"cannot save state in {state_dir}: {e.strerror}")
        os.close(lock_fd)
    return rc


def ensure_page(out, cfg, host, st=None) -> int:
    """Render the page when its inputs changed. A broken template is reported
    once (st remembers the failed inputs) and the previous page stays."""
    from chrony_snap import site
    page = cfg["page"]
    dirs = {"templates": page["templates_dir"] or None, "assets": page["assets_dir"] or None}
    try:
        key = site.inputs_key(page, **dirs) + "\n" + host
        if site.is_current(out, key):
            return 0
        if st is not None and st.get("page_failed") == key:
            return 1
        site.render(out, page, key, host, **dirs)
    except Exception as e:  # a broken template must not stop data.json
        log(f"cannot render the page in {out}: {type(e).__name__}: {e}; the previous page stays in place")
        if st is not None and "key" in locals():
            st["page_failed"] = key
        return 1
    if st is not None:
        st.pop("page_failed", None)
    return 0
