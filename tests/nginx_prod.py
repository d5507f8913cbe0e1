"""A real nginx running the PRODUCTION site config (`chrony-snap nginx-config`)
on 127.0.0.1, for the race test, the viewer benchmark and the demo test.

    with ProdNginx("/path/to/webroot") as web:
        web.get("/data.json")

The generated ``server { }`` block is included, unchanged, in a small wrapper
nginx.conf whose http block looks like an operator's (Debian's mime.types,
sendfile) -- and, by default, is deliberately unfriendly: a global
``open_file_cache`` and dynamic ``gzip`` for JSON, so the tests prove the
site block overrides them where it matters.  pid file, error log and temp
paths live in a private temporary directory; nginx runs in the foreground as
our child and is stopped by its PID.  Loopback only.
"""

from __future__ import annotations

import http.client
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from chrony_snap.nginx import site_config

__all__ = ["ProdNginx", "find_nginx", "free_port", "nginx_test", "wrapper_conf", "proc_cpu_ns"]

MIME_TYPES = "/etc/nginx/mime.types"
_FALLBACK_TYPES = """types {
        text/html html; text/css css; application/javascript js;
        application/json json; image/svg+xml svg; text/plain txt;
    }"""

# What a typical, tuned operator http block may carry.  The site block must
# still serve a fresh data.json (open_file_cache off) and the static .gz.
HOSTILE_HTTP = """
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_min_uses 1;
    gzip on;
    gzip_types application/json text/css application/javascript;
"""


def find_nginx() -> str:
    for p in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if p and os.access(p, os.X_OK):
            return p
    raise FileNotFoundError("nginx not found (apt-get install nginx)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_user() -> str:
    """Workers run as the distribution's web user when we are root (as in
    production: it proves the snapshot's files are readable by another user)."""
    if os.geteuid() != 0:
        return ""
    for name in ("www-data", "nginx", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        import grp
        return f"user {name} {grp.getgrgid(pw.pw_gid).gr_name};"
    return ""


def wrapper_conf(d: str, site_file: str, *, hostile: bool = True, workers: int = 1,
                 user: str | None = None) -> str:
    types = f"include {MIME_TYPES};" if os.path.exists(MIME_TYPES) else _FALLBACK_TYPES
    user_line = _worker_user() if user is None else user
    return f"""# test wrapper around the generated chrony-snap site (tests/nginx_prod.py)
{user_line}
daemon off;
master_process on;
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    {types}
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{HOSTILE_HTTP if hostile else ""}
    include {site_file};
}}
"""


def nginx_test(conf: str, prefix: str) -> subprocess.CompletedProcess:
    """``nginx -t`` of a config file (returns the CompletedProcess; output in stderr)."""
    return subprocess.run([find_nginx(), "-t", "-p", prefix, "-e", os.path.join(prefix, "error.log"),
                           "-c", conf], capture_output=True, text=True, timeout=30)


def proc_cpu_ns(pid: int) -> int:
    """CPU time (user + system) of one process in ns, from /proc/PID/schedstat."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


class ProdNginx:
    """nginx on http://127.0.0.1:PORT/ serving ``root`` with the shipped site config."""

    def __init__(self, root, port: int | None = None, *, hostile: bool = True, workers: int = 1,
                 user: str | None = None):
        self.root = os.path.abspath(str(root))
        self.want_port = port
        self.hostile = hostile
        self.workers = workers
        self.user = user
        self.port: int | None = None
        self.dir: str | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def error_log(self) -> str:
        return os.path.join(self.dir, "error.log")

    def write(self, port: int) -> str:
        site = os.path.join(self.dir, "chrony-snap-site.conf")
        with open(site, "w") as f:
            f.write(site_config(self.root, f"127.0.0.1:{port}", "_"))
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(wrapper_conf(self.dir, site, hostile=self.hostile, workers=self.workers,
                                 user=self.user))
        return conf

    def start(self, timeout: float = 10.0) -> "ProdNginx":
        self.dir = tempfile.mkdtemp(prefix="cs-ngx-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        last = ""
        for _ in range(5):
            port = self.want_port or free_port()
            conf = self.write(port)
            t = nginx_test(conf, self.dir + "/")
            if t.returncode != 0:
                raise RuntimeError(f"nginx -t failed:\n{t.stderr}")
            self.proc = subprocess.Popen([find_nginx(), "-p", self.dir + "/", "-e", self.error_log,
                                          "-c", conf], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         start_new_session=True)
            self.port = port
            if self._ready(timeout):
                return self
            last = self._log()
            self._kill()
            if "Address already in use" not in last or self.want_port:
                break
        raise RuntimeError(f"nginx did not start: {last[-2000:]}")

    def _log(self) -> str:
        try:
            with open(self.error_log, errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        if self.proc and self.proc.poll() is not None and self.proc.stderr:
            text += self.proc.stderr.read().decode(errors="replace")
        return text

    def _ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                status, headers, _ = self.get("/__chrony_snap_probe__")
                # our server block (not a foreign listener on a reused port)
                return status == 404 and "frame-ancestors 'none'" in headers.get("content-security-policy", "")
            except OSError:
                time.sleep(0.02)
        return False

    def get(self, path: str, headers: dict | None = None, timeout: float = 10.0):
        """(status, {lower-case header: value}, body) of one request on a new connection."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            body = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, body
        finally:
            c.close()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def pids(self) -> list[int]:
        """The master and its workers."""
        if not self.proc:
            return []
        out = [self.proc.pid]
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return out

    def cpu_ns(self) -> int:
        total = 0
        for p in self.pids():
            try:
                total += proc_cpu_ns(p)
            except (OSError, ValueError):
                pass
        return total

    def _kill(self):
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGQUIT)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p.stderr:
            p.stderr.close()
        self.proc = None

    def stop(self):
        self._kill()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
