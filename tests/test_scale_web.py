"""The page's parts through a real nginx and Chromium (issue 11).

* race: `chrony-snap build` back to back over a small budget while readers
  fetch data.json.d/live.json and the clients-SEQ.json(.gz) it names:
  every response whole and valid, live.json's seq never backwards, a list is
  always the one its name says (its length is the summary's of the live.json
  that named it), or 404 once it aged out -- never another list;
* nginx: live.json is logged to the poll log (the idle marker) and never 304,
  a client list is served gzip with an ETag;
* Chromium: the page polls live.json every refresh, downloads a client list
  only when clients_seq changed, and shows its age and cadence.
On `main` there is no data.json.d/: every test fails there.
"""

import gzip
import http.client
import json
import os
import shutil
import threading
import time

from chrony_snap.harness.nginx import NginxProcess
from helpers import Site, run_build, short_dir, write_config


def scale_config(path, sb, poll_log, refresh_s=0.5):
    return write_config(
        path,
        f"[dns]\nenabled = false\n[page]\nrefresh_s = {refresh_s}\n"
        f'[clients]\ncpu_budget = 0.001\nmax_interval_s = 3\npid_file = "{sb.pid_path}"\npoll_log = "{poll_log}"\n',
        minisite=False,
    )


def get(conn, path, enc="identity"):
    conn.request("GET", path, headers={"Accept-Encoding": enc})
    r = conn.getresponse()
    body = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def body_of(status, headers, body):
    assert status == 200, status
    if "content-length" in headers:
        assert int(headers["content-length"]) == len(body)
    else:  # gunzip for a reader without gzip: chunked, http.client checks the chunks
        assert headers.get("transfer-encoding") == "chunked"
    return gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body


def test_race_live_and_client_lists_never_torn_never_backwards(crowd):
    base = short_dir()
    out = base / "www"
    web = None
    try:
        os.makedirs(out)
        web = NginxProcess(str(out)).start()
        cfg = scale_config(base / "c.toml", crowd, web.poll_log)
        for _ in range(2):
            run_build(out, socket=crowd.socket, state=base / "st", config=cfg)
        stop = threading.Event()
        problems, counts = [], {"live": 0, "list": 0, "gone": 0}

        def writer():
            while not stop.is_set():
                run_build(out, socket=crowd.socket, state=base / "st", config=cfg, check=False)

        def reader(enc):
            conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
            last = -1
            try:
                while not stop.is_set():
                    live = json.loads(body_of(*get(conn, "/data.json.d/live.json", enc)))
                    if live["seq"] < last:
                        problems.append(f"live.json seq back {last} -> {live['seq']}")
                    last = live["seq"]
                    counts["live"] += 1
                    st, h, b = get(conn, f"/data.json.d/clients-{live['clients_seq']}.json", enc)
                    if st == 404:
                        counts["gone"] += 1
                        continue
                    clients = json.loads(body_of(st, h, b))
                    if len(clients) != live["summary"]["clients"]:
                        problems.append(
                            f"clients-{live['clients_seq']}: {len(clients)} != {live['summary']['clients']}"
                        )
                    counts["list"] += 1
            except Exception as e:  # noqa: BLE001 - a torn body fails here
                problems.append(f"{type(e).__name__}: {e}")
            finally:
                conn.close()

        threads = [threading.Thread(target=writer)] + [
            threading.Thread(target=reader, args=(e,)) for e in ("identity", "gzip")
        ]
        for th in threads:
            th.start()
        time.sleep(12)
        stop.set()
        for th in threads:
            th.join(30)
        assert problems == []
        assert counts["live"] > 50 and counts["list"] > 50, counts
        # nginx: the poll log is the idle marker; live.json never 304; a list has an ETag and its .gz
        with open(web.poll_log) as f:
            assert "live.json" in f.read()
        conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
        st, h, b = get(conn, "/data.json.d/live.json")
        assert st == 200 and "etag" not in h and h["cache-control"] == "no-cache"
        seq = json.loads(b)["clients_seq"]
        st, h, b = get(conn, f"/data.json.d/clients-{seq}.json", "gzip")
        assert st == 200 and h.get("content-encoding") == "gzip" and h.get("etag")
        for path in ("/data.json.d/", "/data.json.d/other.json", f"/data.json.d/.clients-{seq}.json.tmp-1-2"):
            assert get(conn, path)[0] == 404
        conn.close()
    finally:
        if web is not None:
            web.stop()
        shutil.rmtree(base, ignore_errors=True)


class ScaleSite(Site):
    def __init__(self, base, sb, web_poll_log):
        super().__init__(base, sb.socket)
        self.config = str(scale_config(os.path.join(base, "scale.toml"), sb, web_poll_log))


def test_page_downloads_the_list_only_when_it_changed(crowd, new_page):
    base = short_dir()
    web = None
    site = None
    try:
        os.makedirs(base / "www")
        web = NginxProcess(str(base / "www")).start()
        site = ScaleSite(str(base), crowd, web.poll_log)
        site.build()
        site.build()
        site.start_ticker()
        probe = new_page(web.url)
        probe.page.wait_for_timeout(7000)
        site.stop_ticker()
        lives = [u for u in probe.requests if u.endswith("/data.json.d/live.json")]
        lists = [u for u in probe.requests if "/data.json.d/clients-" in u]
        assert not [u for u in probe.requests if u.endswith("/data.json")]
        assert len(lives) >= 8
        # one download per collection seen (cadence 3 s over ~7 s), never per poll
        assert 1 <= len(lists) <= 4 and len(lists) == len(set(lists)), lists
        age = probe.page.locator("#clients-age")
        assert age.is_visible()
        text = age.text_content()
        assert text.startswith("client list: ") and "refreshed every 3 s (CPU budget 0.1 %)" in text, text
        assert probe.page.locator("#grid .card").count() > 0
        assert probe.unexpected_errors() == [] and probe.page_errors == []
    finally:
        if site is not None:
            site.stop_ticker()
        if web is not None:
            web.stop()
        shutil.rmtree(base, ignore_errors=True)
