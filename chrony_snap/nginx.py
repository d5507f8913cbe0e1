"""`chrony-snap nginx-config`: the nginx server block for the web root.

The output is one ``server { }`` block, meant for the ``http { }`` context
(Debian: /etc/nginx/sites-available/chrony-snap, RHEL: /etc/nginx/conf.d/
chrony-snap.conf).  What it guarantees and why:

* data.json is always served whole: chrony-snap replaces it with rename(2),
  nginx opens the file per request (``open_file_cache off`` here, whatever the
  http block says: a cached descriptor would keep serving an old inode) and
  sends what it opened.
* data.json is never cached by a browser or proxy without asking
  (``Cache-Control: no-cache``) and is never answered with 304 Not Modified:
  nginx's ETag/Last-Modified have one-second resolution and data.json changes
  every second, often keeping its size, so a 304 could hand out a stale
  snapshot.  ``etag off`` + ``if_modified_since off`` make every poll a 200.
* the page polls ``data.json.d/live.json`` (data.json without the client
  list, replaced every second, served like data.json) and fetches
  ``data.json.d/clients-SEQ.json`` (stored as .gz only: ``gzip_static
  always`` + ``gunzip``) only when live.json names another SEQ:
  each list is written once under a new name (rename-safe by construction),
  kept for a few collections, revalidated with nginx's strong ETag.  live.json
  has its own access log (``--poll-log``): its mtime tells `chrony-snap build`
  whether anyone watches (clients.poll_log, clients.idle_after_s).
* ``/metrics`` (Prometheus text, written like data.json every tick) is served
  the same way, as ``text/plain; version=0.0.4; charset=utf-8``.
* ``gzip_static on``: data.json.gz (written next to data.json by every
  snapshot) is sent to clients that accept gzip, with ``Vary: Accept-Encoding``;
  history/'s files are gzipped on the fly (level 1; chunks are then cached).
* the hashed asset directory (assets/HASH/NAME) and the history's chunks
  (history/TIER/START.bin) are cached for a year, ``immutable``; index.html
  and the rest of history/ (index.json, tails, events) are revalidated
  (``no-cache``) and never answered 304.
* dot files -- the snapshot's temp files (.data.json.tmp-PID-RANDOM and its
  .gz twin), the page stamp (.chrony-snap-site) -- are 404.
* no byte ranges (``max_ranges 0``): data.json is replaced every second, and a
  client stitching two ranges across a rename would get one snapshot's head
  on another's body.  Every response is the whole file (200).
* security headers on every response: a Content-Security-Policy matching the
  page (``default-src 'self'``, no inline code, no framing), nosniff,
  no-referrer, X-Frame-Options DENY.
* the web root is checked: ``/``, system directories (/etc, /proc, /root,
  /home, /var/lib/chrony-snap, ...), their ancestors and relative paths are
  refused -- nginx would serve whatever lies below the root.

The harness (chrony_snap/harness/nginx.py) runs this block in a private nginx
for the demo, the tests and the benchmarks.
"""

from __future__ import annotations

import os

from chrony_snap.config import SCHEMA

# Same policy as the page's <meta http-equiv="Content-Security-Policy">, plus
# frame-ancestors (only effective as a header).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)

_BAD = set("\"'\\;{}$#") | {"\n", "\r", "\t", "\0"}


def check_value(what: str, value: str, allow_space: bool = False) -> str:
    value = str(value)
    bad = sorted(c for c in set(value) if c in _BAD or (c == " " and not allow_space))
    if not value.strip() or bad:
        shown = ", ".join(repr(c) for c in bad) or "empty"
        raise ValueError(f"{what}: unsupported value {value!r} ({shown})")
    return value


def _headers(indent: str, cache_control: str | None = None) -> str:
    # add_header in a location replaces every add_header inherited from the
    # server block, so each location repeats the full set.
    lines = []
    if cache_control:
        lines.append(f'add_header Cache-Control "{cache_control}" always;')
    lines += [f'add_header {k} "{v}" always;' for k, v in SECURITY_HEADERS]
    return "\n".join(indent + line for line in lines)


# Never a web root: nginx would serve what lies below.  A root equal to one of
# these, or above one (such as / or /var), is refused ...
SYSTEM_DIRS = (
    "/etc",
    "/bin",
    "/boot",
    "/dev",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
    "/var/lib",
    "/var/log",
    "/var/cache",
    "/var/backups",
    "/var/mail",
    "/var/spool",
    "/var/tmp",
    "/var/www",
)
# ... and so is anything inside these (configuration, kernel and process
# views, homes, chrony-snap's own state directory).
PRIVATE_TREES = ("/boot", "/dev", "/etc", "/home", "/proc", "/root", "/run", "/sys", "/var/lib/chrony-snap", "/var/log")


def _within(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def check_root(root: str) -> str:
    """The web root, normalized; ValueError for a relative path, a system
    directory, an ancestor of one, or a path inside a private tree (checked
    as written and with symlinks resolved)."""
    root = check_value("--root", root, allow_space=True)
    if not os.path.isabs(root):
        raise ValueError(f"--root: must be an absolute path, got {root!r}")
    root = os.path.normpath(root)
    for path in dict.fromkeys((root, os.path.realpath(root))):
        bad = next((d for d in SYSTEM_DIRS if _within(d, path)), None) or next(
            (d for d in PRIVATE_TREES if _within(path, d)), None
        )
        if bad:
            shown = root if path == root else f"{root} (= {path})"
            raise ValueError(
                f"--root: refusing {shown}: nginx would serve {bad} (a system or private "
                "directory); give the web root a directory of its own, such as "
                "/var/www/chrony-snap"
            )
    return root


DEFAULT_POLL_LOG = SCHEMA["clients"]["poll_log"][0]


def site_config(root: str, listen: str = "80", server_name: str = "_", poll_log: str = DEFAULT_POLL_LOG) -> str:
    """The nginx ``server { }`` block serving ``root`` (chrony-snap's --out).

    ``listen``: one nginx listen value, or several separated by commas
    (``"80,[::]:80"``, ``"127.0.0.1:8080"``).  ``server_name``: one or more
    names separated by spaces.  ``poll_log``: the access log of the page's
    per-second file (an absolute path).  Raises ValueError for values that would break
    out of the directive, and for a root it must not serve (`check_root`).
    """
    root = check_root(root)
    listens = [check_value("--listen", x.strip(), allow_space=True) for x in str(listen).split(",")]
    server_name = check_value("--server-name", server_name, allow_space=True)
    poll_log = check_value("--poll-log", poll_log, allow_space=True)
    if not os.path.isabs(poll_log):
        raise ValueError(f"--poll-log: must be an absolute path, got {poll_log!r}")
    listen_lines = "\n".join(f"    listen {x};" for x in listens)
    h8 = "        "
    return f"""# chrony-snap site (generated by `chrony-snap nginx-config`).
# Put inside http {{ }}: Debian /etc/nginx/sites-available/chrony-snap (+ symlink
# in sites-enabled/), RHEL /etc/nginx/conf.d/chrony-snap.conf.  Then: nginx -t
# && systemctl reload nginx.  Needs the MIME types of the http block
# (Debian/RHEL nginx.conf include mime.types: data.json -> application/json).
server {{
{listen_lines}
    server_name {server_name};
    root "{root}";
    index index.html;
    autoindex off;
    server_tokens off;
    charset utf-8;
    charset_types application/json text/css application/javascript image/svg+xml;
    # Whole files only: data.json(.gz) is replaced every second, and ranges
    # stitched across a rename would mix two snapshots.
    max_ranges 0;

{_headers("    ")}

    # Temp files (.data.json.tmp-PID-RANDOM, .data.json.gz.tmp-PID-RANDOM), the
    # page stamp (.chrony-snap-site) and any other dot file: never served.
    location ~ /\\. {{
        return 404;
    }}

    # Replaced every second by rename(2): always read the current file, never
    # answer 304 (one-second ETag/Last-Modified resolution could mark a new
    # snapshot of the same size "not modified"), prefer data.json.gz.
    location = /data.json {{
        open_file_cache off;
        etag off;
        if_modified_since off;
        gzip_static on;
        gzip_vary on;
{_headers(h8, "no-cache")}
    }}

    # The page's per-second file (data.json without the client list), replaced
    # every second like data.json.  Its own access log is chrony-snap's sign
    # that someone watches: `chrony-snap build` stats it (clients.poll_log).
    location = /data.json.d/live.json {{
        access_log "{poll_log}";
        open_file_cache off;
        etag off;
        if_modified_since off;
{_headers(h8, "no-cache")}
    }}

    # One client list, named by the seq of the snapshot that collected it:
    # written once under a new name, so the ETag (mtime + size) is a strong
    # validator and a cached copy is never another list.  Only its .gz
    # exists (the segment data.json.gz holds); gunzip serves the rare client
    # without gzip.
    location ~ ^/data\\.json\\.d/clients-[0-9]+\\.json$ {{
        open_file_cache off;
        gzip_static always;
        gunzip on;
        gzip_vary on;
{_headers(h8, "no-cache")}
    }}

    location /data.json.d/ {{
        return 404;
    }}

    # Prometheus text exposition, replaced every second like data.json.
    location = /metrics {{
        open_file_cache off;
        etag off;
        if_modified_since off;
        default_type "text/plain; version=0.0.4; charset=utf-8";
        types {{ }}
        charset off;
{_headers(h8, "no-cache")}
    }}

    # history/: index.json, the tails (tail-1s.bin every second) and the
    # events log, replaced by rename(2): read whole and fresh, like data.json.
    location /history/ {{
        open_file_cache off;
        etag off;
        if_modified_since off;
        # the series compress to about a quarter (constant and unused series):
        # a 24 h window is ~220 KB instead of ~850 KB
        gzip on;
        gzip_types application/octet-stream application/json;
        gzip_min_length 512;
        gzip_vary on;
{_headers(h8, "no-cache")}

        # history/TIER/START.bin: a completed range, written once and never
        # changed (a history started again gets a new ?g= generation).
        location ~ "^/history/[0-9a-z]+/[0-9]+\\.bin$" {{
            open_file_cache off;
{_headers(h8 + "    ", "public, max-age=31536000, immutable")}
        }}
    }}

    # assets/HASH/NAME: a changed asset gets a new directory (HASH is over all of them).
    location /assets/ {{
        open_file_cache off;
{_headers(h8, "public, max-age=31536000, immutable")}
    }}

    location = / {{
        open_file_cache off;
{_headers(h8, "no-cache")}
    }}

    location = /index.html {{
        open_file_cache off;
{_headers(h8, "no-cache")}
    }}

    # Everything else (favicon, robots.txt if you add one): plain static
    # files with the server-level headers above; nginx answers 405 to
    # anything but GET/HEAD.
    location / {{
        try_files $uri =404;
    }}
}}
"""
