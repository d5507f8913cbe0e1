"""A private nginx on 127.0.0.1 serving a web root with the production site
block (chrony_snap.nginx.site_config), for `chrony-snap demo`, the tests and
the benchmarks.

`NginxProcess` writes the block inside a small wrapper nginx.conf
(`wrapper_conf`) whose pid file, logs and temp paths live in one private
directory.  nginx runs in the foreground (``daemon off``) as a child of the
caller, is checked with ``nginx -t`` first, counts as ready once it answers
with the block's headers, and is stopped by its PID.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from chrony_snap.nginx import CSP, check_value, site_config

MIME_TYPES = "/etc/nginx/mime.types"
_FALLBACK_TYPES = """types {
        text/html html; text/css css; application/javascript js mjs;
        application/json json; image/svg+xml svg; image/png png; image/x-icon ico;
        text/plain txt; font/woff2 woff2;
    }"""


def find_nginx() -> str:
    for p in (shutil.which("nginx"), "/usr/sbin/nginx", "/usr/local/sbin/nginx"):
        if p and os.access(p, os.X_OK):
            return p
    raise FileNotFoundError("nginx not found (Debian/Ubuntu: apt-get install nginx)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_user() -> str:
    """As root, nginx's workers run as the distribution's web user, as in
    production: they only read the web root, so the files chrony-snap writes
    must be readable by another user.  Otherwise there is no user to switch to."""
    if os.geteuid() != 0:
        return ""
    import grp
    import pwd

    for name in ("www-data", "nginx", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return f"user {name} {grp.getgrgid(pw.pw_gid).gr_name};"
    return ""


def wrapper_conf(
    d: str,
    site_file: str,
    *,
    workers: int = 1,
    user: str | None = None,
    http_extra: str = "",
    worker_connections: int = 1024,
) -> str:
    """A complete nginx.conf, like a distribution's, that includes ``site_file``
    (a `site_config` block) in its http block.  pid file, error log and temp
    paths go to directory ``d``.  ``user``: the ``user`` directive (None: the
    web user when running as root).  ``http_extra``: more http-level directives
    (what an operator's http block may carry)."""
    d = check_value("nginx directory", d, allow_space=True)
    site_file = check_value("site file", site_file, allow_space=True)
    types = f"include {MIME_TYPES};" if os.path.exists(MIME_TYPES) else _FALLBACK_TYPES
    user_line = _worker_user() if user is None else user
    return f"""# private nginx around the generated chrony-snap site (chrony_snap/harness/nginx.py)
{user_line}
daemon off;
master_process on;
worker_processes {int(workers)};
pid "{d}/nginx.pid";
error_log "{d}/error.log" warn;
events {{ worker_connections {int(worker_connections)}; }}
http {{
    {types}
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path "{d}/body";
    proxy_temp_path "{d}/proxy";
    fastcgi_temp_path "{d}/fastcgi";
    uwsgi_temp_path "{d}/uwsgi";
    scgi_temp_path "{d}/scgi";
{http_extra}
    include "{site_file}";
}}
"""


def check_config(conf: str, prefix: str, nginx: str | None = None) -> subprocess.CompletedProcess:
    """``nginx -t`` of a config file (the CompletedProcess; nginx reports on stderr)."""
    return subprocess.run(
        [nginx or find_nginx(), "-t", "-p", prefix, "-e", os.path.join(prefix, "error.log"), "-c", conf],
        capture_output=True,
        text=True,
        timeout=30,
    )


class PortInUse(RuntimeError):
    """The port asked for is taken by another listener."""

    def __init__(self, port: int, detail: str = ""):
        super().__init__(f"port {port} on 127.0.0.1 is busy" + (f": {detail}" if detail else ""))
        self.port = port


def _die_with_parent():
    """In the child: SIGTERM when the thread that started it dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:  # noqa: BLE001 - best effort
        pass


class NginxProcess:
    """nginx serving ``root`` with `site_config` on http://127.0.0.1:PORT/.

        with NginxProcess("/srv/www") as web:
            status, headers, body = web.get("/data.json")

    ``port``: None picks a free one (and picks again if it was taken in the
    meantime); a given port that is taken raises `PortInUse`.  ``workdir``:
    where the config, pid file, logs and temp paths go (kept); None: a new
    temporary directory, removed by `stop`.  ``workers``, ``user``,
    ``http_extra``: see `wrapper_conf`.  ``die_with_parent``: nginx gets
    SIGTERM if the thread that started it dies without calling `stop`.

    Loopback only: the server block listens on 127.0.0.1 and nowhere else.
    """

    PROBE = "/.chrony-snap-probe"  # a dot file: the site block answers 404

    def __init__(
        self,
        root,
        port: int | None = None,
        *,
        workdir: str | None = None,
        workers: int = 1,
        user: str | None = None,
        http_extra: str = "",
        die_with_parent: bool = False,
        nginx: str | None = None,
    ):
        self.root = os.path.abspath(str(root))
        self.want_port = port
        self.workdir = workdir
        self.workers = workers
        self.user = user
        self.http_extra = http_extra
        self.die_with_parent = die_with_parent
        self.nginx = nginx
        self.port: int | None = None
        self.dir: str | None = None
        self.proc: subprocess.Popen | None = None
        self._own_dir = False

    # ------------------------------------------------------------ state
    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("nginx is not running")
        return f"http://127.0.0.1:{self.port}/"

    @property
    def error_log(self) -> str:
        return os.path.join(self.dir, "error.log")

    @property
    def poll_log(self) -> str:
        """The page's poll log (the production site block's, in the workdir):
        what `[clients] poll_log` names for a build served by this nginx."""
        return os.path.join(self.dir, "poll.log")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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

    def get(self, path: str, headers: dict | None = None, timeout: float = 10.0):
        """(status, {lower-case header: value}, body) of one GET on a new connection."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            body = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, body
        finally:
            c.close()

    # ------------------------------------------------------------ life cycle
    def write_config(self, port: int) -> str:
        """Write the site block and the wrapper for ``port``; the wrapper's path."""
        site = os.path.join(self.dir, "chrony-snap-site.conf")
        with open(site, "w") as f:
            f.write(site_config(self.root, f"127.0.0.1:{port}", "_", self.poll_log))
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(wrapper_conf(self.dir, site, workers=self.workers, user=self.user, http_extra=self.http_extra))
        return conf

    def start(self, timeout: float = 10.0) -> NginxProcess:
        if self.proc is not None:
            return self
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"web root {self.root} does not exist")
        nginx = self.nginx or find_nginx()
        if self.workdir is None:
            self.dir = tempfile.mkdtemp(prefix="cs-ngx-", dir="/tmp")
            os.chmod(self.dir, 0o755)  # the workers (another user) use the temp paths
            self._own_dir = True
        else:
            self.dir = os.path.abspath(self.workdir)
            os.makedirs(self.dir, exist_ok=True)
        try:
            for _ in range(5):
                port = self.want_port or free_port()
                conf = self.write_config(port)
                t = check_config(conf, self.dir + "/", nginx)
                if t.returncode != 0:
                    raise RuntimeError(f"nginx -t failed:\n{t.stderr.strip()}")
                with open(self.error_log, "w"):
                    pass  # only this run's messages
                with open(os.path.join(self.dir, "stderr.log"), "wb") as err:
                    self.proc = subprocess.Popen(
                        [nginx, "-p", self.dir + "/", "-e", self.error_log, "-c", conf],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                        start_new_session=True,  # its own process group: Ctrl-C reaches us, not it
                        preexec_fn=_die_with_parent if self.die_with_parent else None,
                    )
                self.port = port
                if self._wait_ready(timeout):
                    return self
                log = self.log_text()
                self._kill()
                self.port = None
                if "Address already in use" in log:
                    if self.want_port:
                        raise PortInUse(port)
                    continue  # someone took the free port: another one
                raise RuntimeError(
                    f"nginx did not start on 127.0.0.1:{port} within {timeout:g} s"
                    + (f":\n{log.strip()[-2000:]}" if log.strip() else "")
                )
            raise RuntimeError("nginx did not start: no free port after 5 tries")
        except BaseException:
            self.stop()
            raise

    def log_text(self) -> str:
        """nginx's error log and stderr of this run."""
        text = ""
        for name in ("error.log", "stderr.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return text

    def _wait_ready(self, timeout: float) -> bool:
        """True once OUR nginx answers: the site block's 404 and headers (not some
        other listener on the port), with our process still alive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                status, headers, _ = self.get(self.PROBE, timeout=2)
                if status == 404 and headers.get("content-security-policy") == CSP and self.proc.poll() is None:
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.02)
        return False

    def _kill(self):
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGQUIT)  # graceful: master and workers
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGTERM)  # fast shutdown
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    # still alive, so its process group (started with
                    # start_new_session: master + workers only) is ours
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        self.proc = None

    def stop(self):
        """Stop our nginx (by its PID) and remove the temporary directory; idempotent."""
        self._kill()
        self.port = None
        if self._own_dir and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self._own_dir = False
        self.dir = None

    def __enter__(self) -> NginxProcess:
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return f"NginxProcess(root={self.root!r}, port={self.port}, pid={self.pid})"
