"""Configuration: built-in defaults, a TOML file, validation.

Every key is listed in SCHEMA with its meaning in README.md ("Configuration").
Unknown keys and bad values raise ConfigError naming the key (exit 2).
"""

from chrony_snap import __version__

DEFAULT_PATH = "/etc/chrony-snap/config.toml"
CACHE_FORMAT = 1  # bump when the cached form below changes
MAX_SIZE = 1 << 20

# section -> key -> (default, kind, constraint)
SCHEMA = {
    "chrony": {
        "chronyc": ("chronyc", "str", None),
        "socket": ("/run/chrony/chronyd.sock", "str", None),
        "port": (0, "int", (0, 65535)),
        "request_timeout_ms": (250, "int", (10, 10000)),
        "retries": (1, "int", (0, 5)),
        "reports_deadline_s": (0.8, "float", (0.05, 30)),
        "clients_deadline_s": (5.0, "float", (0.1, 120)),
        "nts_ke": (False, "bool", None),
        "conf": ("/etc/chrony/chrony.conf", "str", None),  # read for clientloglimit (clientlog.py)
        "client_log_capacity": (0, "int", (0, 1 << 40)),  # records; 0 = from conf
    },
    "status": {
        "preset": ("default", "enum", ("default", "legacy")),
        "warning_drops": (None, "int", (1, 1 << 62)),
        "critical_drops": (None, "int", (1, 1 << 62)),
        "critical_drop_ratio": (None, "float", (0.0, 1.0)),
    },
    "dns": {
        "enabled": (True, "bool", None),
        "names_file": ("", "str", None),
        "skip_loopback": (True, "bool", None),
        "max_lookups_per_tick": (8, "int", (1, 256)),
        "budget_ms": (50, "int", (0, 1000)),
        "ttl_s": (3600, "int", (1, 86400 * 30)),
        "negative_ttl_s": (600, "int", (1, 86400 * 30)),
    },
    # the client list's CPU budget (chrony_snap/cadence.py)
    "clients": {
        "cpu_budget": (0.05, "float", (0.0, 1.0)),  # 0 refused in resolve_status
        "max_interval_s": (30.0, "float", (1.0, 3600.0)),
        "idle_after_s": (300.0, "float", (1.0, 86400.0 * 30)),
        "poll_log": ("/var/log/nginx/chrony-snap-poll.log", "str", None),
        "pid_file": ("/run/chrony/chronyd.pid", "str", None),
    },
    "output": {
        "gzip": (True, "bool", None),
        "gzip_level": (1, "int", (1, 9)),
        "fsync": (False, "bool", None),
        "host": ("", "str", None),
    },
    "metrics": {
        "enabled": (True, "bool", None),
        "textfile_dir": ("", "str", None),
        "top_clients": (0, "int", (0, 100)),  # capped: each is two series per scrape
    },
    "page": {
        "title": ("chrony-snap", "str", None),
        "refresh_s": (1.0, "float", (0.2, 3600)),
        "stale_after_refreshes": (3, "int", (1, 1000)),
        "fetch_timeout_s": (5.0, "float", (0.5, 120)),
        "templates_dir": ("", "str", None),
        "assets_dir": ("", "str", None),
        "ipv4_prefix": (24, "int", (1, 32)),  # the page's network groups
        "ipv6_prefix": (48, "int", (1, 128)),
    },
    # the health verdict's thresholds (chrony_snap/health.py)
    "health": {
        "offset_degraded_s": (0.05, "float", (0.0, 1e9)),
        "offset_critical_s": (0.5, "float", (0.0, 1e9)),
        "max_error_degraded_s": (0.1, "float", (0.0, 1e9)),
        "ntp_drop_share_degraded": (0.1, "float", (0.0, 1.0)),
        "ntp_drop_min_pps": (1.0, "float", (0.0, 1e9)),
    },
    # trends kept in ring files (chrony_snap/history.py); the spans fix the file's size
    "history": {
        "enabled": (True, "bool", None),
        "dir": ("", "str", None),
        "span_1s_hours": (24, "int", (1, 24 * 7)),
        "span_1m_days": (90, "int", (1, 3650)),
        "span_1h_years": (5, "int", (1, 50)),
    },
}

# Status rule presets: (warning_drops, critical_drops, critical_drop_ratio)
PRESETS = {
    # ok: no NTP drops; warning: some; critical: >= 10 drops and >= half of packets dropped
    "default": (1, 10, 0.5),
    # the Flask tool's rule: drops >= 10 critical, > 0 warning
    "legacy": (1, 10, 0.0),
}


class ConfigError(Exception):
    pass


def defaults() -> dict:
    return {sec: {k: v[0] for k, v in keys.items()} for sec, keys in SCHEMA.items()}


def _check(sec, key, value):
    default, kind, con = SCHEMA[sec][key]
    name = f"{sec}.{key}"
    if kind == "bool":
        if value is not True and value is not False:
            raise ConfigError(f"config: {name} must be true or false, got {value!r}")
        return value
    if kind in ("str", "enum"):
        if not isinstance(value, str):
            raise ConfigError(f"config: {name} must be a string, got {value!r}")
        if kind == "enum" and value not in con:
            raise ConfigError(f"config: {name} must be one of {', '.join(con)}, got {value!r}")
        if "\0" in value:
            raise ConfigError(f"config: {name} contains a NUL character")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "int" and not isinstance(value, int)):
        raise ConfigError(f"config: {name} must be {'an integer' if kind == 'int' else 'a number'}, got {value!r}")
    lo, hi = con
    if not lo <= value <= hi:
        raise ConfigError(f"config: {name} must be between {lo} and {hi}, got {value!r}")
    return float(value) if kind == "float" else value


def validate(raw: dict) -> dict:
    cfg = defaults()
    for sec, body in raw.items():
        if sec not in SCHEMA:
            raise ConfigError(f"config: unknown section [{sec}] (known: {', '.join(SCHEMA)})")
        if not isinstance(body, dict):
            raise ConfigError(f"config: {sec} must be a table ([{sec}])")
        for key, value in body.items():
            if key not in SCHEMA[sec]:
                raise ConfigError(f"config: unknown key {sec}.{key} (known in [{sec}]: {', '.join(SCHEMA[sec])})")
            cfg[sec][key] = _check(sec, key, value)
    return resolve_status(cfg)


def resolve_status(cfg: dict) -> dict:
    st = cfg["status"]
    w, c, r = PRESETS[st["preset"]]
    st["warning_drops"] = w if st["warning_drops"] is None else st["warning_drops"]
    st["critical_drops"] = c if st["critical_drops"] is None else st["critical_drops"]
    st["critical_drop_ratio"] = r if st["critical_drop_ratio"] is None else st["critical_drop_ratio"]
    if st["critical_drops"] < st["warning_drops"]:
        raise ConfigError("config: status.critical_drops must be >= status.warning_drops")
    if cfg["clients"]["cpu_budget"] <= 0:
        budget = cfg["clients"]["cpu_budget"]
        raise ConfigError(f"config: clients.cpu_budget must be > 0 (a fraction of one core), got {budget!r}")
    h = cfg["health"]
    if h["offset_critical_s"] < h["offset_degraded_s"]:
        raise ConfigError("config: health.offset_critical_s must be >= health.offset_degraded_s")
    return cfg


def parse_raw(text: str) -> dict:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config: not valid TOML: {e}") from None


def _read_raw(path: str) -> dict:
    from chrony_snap.state import read_regular

    try:
        data = read_regular(path, MAX_SIZE)
    except OSError as e:
        raise ConfigError(f"config: cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"config: cannot read {path}: {e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config: {path} is not UTF-8") from None
    return parse_raw(text)


def load(path: str | None) -> tuple[dict, tuple | None]:
    """Return (config, file identity) for PATH, or built-in defaults.

    The identity (inode, size, mtime) lets callers cache the parsed config and
    notice when the file changes.
    """
    ident = identity(path)
    if ident is None:
        return resolve_status(defaults()), None
    return validate(_read_raw(ident[1] if ident[0] == "missing" else ident[0])), ident


def load_cached(path: str | None, cache):
    """(config, what to cache) for PATH without a TOML parse per tick.

    `cache` is what the state held last time (anything: it is not trusted).
    The file's raw table is cached keyed by chrony-snap's version,
    CACHE_FORMAT and the file's identity, and validated again on every use
    (cheap).  A cache that does not fit is ignored.  chrony.chronyc decides
    what runs, so it is never taken from the cache: a cached value other than
    the default makes the file be parsed again."""
    ident = identity(path)
    if ident is None:
        return resolve_status(defaults()), None
    key = (__version__, CACHE_FORMAT, ident)
    if cache.__class__ is tuple and len(cache) == 2 and cache[0] == key and cache[1].__class__ is dict:
        try:
            cfg = validate(cache[1])
        except Exception:  # noqa: BLE001 - a foreign cache can be wrong in any way
            cfg = None
        if cfg is not None and cfg["chrony"]["chronyc"] == SCHEMA["chrony"]["chronyc"][0]:
            return cfg, cache
    raw = _read_raw(ident[1] if ident[0] == "missing" else ident[0])
    return validate(raw), (key, raw)


def identity(path: str | None):
    import os

    if path is None:
        path = DEFAULT_PATH
        if not os.path.exists(path):
            return None
    try:
        st = os.stat(path)
    except OSError:
        return ("missing", path)
    return (path, st.st_ino, st.st_size, st.st_mtime_ns)
