"""The nginx site block against hostile use -- issue 12 items 4 and 19.

* `nginx-config` refuses a web root nginx must never serve: /, system and
  private directories (and their ancestors), chrony-snap's state directory,
  relative paths, symlinks to any of those.  With --root / the old block had
  nginx serve /etc/passwd.
* No byte ranges: a Range request for data.json (plain or gzip), data.json.gz
  or the page gets 200 with the whole file.  The old block answered 206, and
  a client stitching ranges across a rename mixes two snapshots.
"""

import os
import subprocess
import sys

import pytest

from chrony_snap import nginx as N
from chrony_snap.harness.nginx import NginxProcess
from chrony_snap.harness.sandbox import populate
from helpers import run_build, write_config

REFUSED = [
    "/",
    "//",
    "/etc",
    "/etc/nginx",
    "/root",
    "/home",
    "/home/alice",
    "/proc",
    "/proc/self",
    "/sys",
    "/dev",
    "/boot",
    "/run",
    "/usr",
    "/var",
    "/var/lib",
    "/var/lib/chrony-snap",
    "/var/lib/chrony-snap/www",
    "/var/log",
    "/var/www",
    "/tmp",
    "/var/www/../../etc",
    "/var/www/x/../..",
    "www",
    "./www",
    "var/www/chrony-snap",
]
ALLOWED = ["/var/www/chrony-snap", "/srv/chrony-snap", "/var/www/html/ntp", "/opt/chrony-snap/www"]


@pytest.mark.parametrize("root", REFUSED)
def test_nginx_config_refuses_roots_it_must_not_serve(root):
    r = subprocess.run(
        [sys.executable, "-m", "chrony_snap", "nginx-config", "--root", root],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2, r.stdout
    assert r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.startswith("chrony-snap nginx-config: --root: ")
    assert ("refusing" in r.stderr) or ("absolute" in r.stderr), r.stderr


@pytest.mark.parametrize("root", ALLOWED)
def test_nginx_config_accepts_a_directory_of_its_own(root):
    assert f'root "{root}";' in N.site_config(root)


def test_a_symlink_to_a_system_directory_is_refused(short_tmp):
    link = short_tmp / "www"
    os.symlink("/etc", link)
    with pytest.raises(ValueError, match=r"refusing .*\(= /etc\)"):
        N.site_config(str(link))


def test_nginx_never_serves_etc_passwd_because_the_root_is_refused():
    """A real nginx is given the block for root /: the block is refused
    before nginx starts, so nothing serves /etc/passwd."""
    web = NginxProcess("/")
    try:
        try:
            web.start()
        except ValueError as e:
            assert "--root: refusing /" in str(e)
            assert not web.running and web.port is None
        else:
            status, _, body = web.get("/etc/passwd")
            pytest.fail(f"nginx started with root /: GET /etc/passwd -> {status}, {body[:40]!r}")
    finally:
        web.stop()


@pytest.fixture
def served(sandbox, short_tmp):
    populate(sandbox, clients=40, limited=0, cmd=0)
    out = short_tmp / "www"
    run_build(out, socket=sandbox.socket, state=short_tmp / "st", config=write_config(short_tmp / "c.toml"))
    with NginxProcess(out) as web:
        yield out, web


@pytest.mark.parametrize("rng", ["bytes=0-9", "bytes=10-", "bytes=-5", "bytes=0-1,5-6"])
def test_range_requests_get_the_whole_file(served, rng):
    out, web = served
    cases = [
        ("/data.json", "identity", "data.json"),
        ("/data.json", "gzip", "data.json.gz"),
        ("/data.json.gz", "identity", "data.json.gz"),
        ("/index.html", "identity", "index.html"),
    ]
    for path, enc, fname in cases:
        status, h, body = web.get(path, {"Range": rng, "Accept-Encoding": enc})
        assert status == 200, (path, enc, rng, status)
        assert "content-range" not in h and h.get("accept-ranges") != "bytes", (path, h)
        assert body == (out / fname).read_bytes(), (path, enc)
    # with a validator (If-Range) too
    status, _, body = web.get("/data.json", {"Range": rng, "If-Range": "Thu, 01 Jan 2099 00:00:00 GMT"})
    assert status == 200 and body == (out / "data.json").read_bytes()
