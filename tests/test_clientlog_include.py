"""chrony.conf's clientloglimit where chronyd reads it: the main file, then
`include GLOB` and `confdir DIR...` where they stand (confdir: *.conf by file
name, a name in several directories read from the first), the last
clientloglimit winning; unreadable files, loops and nesting past chronyd's 10
levels skipped with a note in data.json's client_log.  A real chronyd started
with such a tree holds exactly as many client records as chrony-snap says.

On main only the main file was read: the include/confdir tests here fail
there (the capacity stays the main file's), and clientlog has no
directives/confdir_files/read_tree."""

from __future__ import annotations

import os

import pytest

from chrony_snap import clientlog
from chrony_snap.harness.sandbox import ipv4_range, ntp_clients
from helpers import read_snapshot, run_build, write_config

# --- pure parsing


def test_directives_in_order():
    text = (
        "server a iburst\n"
        "clientloglimit 1024\n"
        "  include /etc/chrony/conf.d/*.conf\n"
        "# include /nope\n"
        "confdir /a /b\n"
        "ClientLogLimit 2048 extra\n"  # chronyd refuses a second argument: not counted here
        "include\n"
        "noclientlog\n"
    )
    assert clientlog.directives(text) == [
        ("clientloglimit", 1024),
        ("include", "/etc/chrony/conf.d/*.conf"),
        ("confdir", ["/a", "/b"]),
        ("noclientlog", None),
    ]
    many = "confdir " + " ".join(f"/d{i}" for i in range(12))
    assert clientlog.directives(many) == [("confdir", [f"/d{i}" for i in range(clientlog.MAX_DIRS)])]


def test_confdir_order_first_directory_wins_a_name():
    listings = [
        ("/etc/chrony/conf.d", ["50-limit.conf", "notes.txt", ".hidden.conf", "20-a.conf"]),
        ("/usr/lib/chrony/conf.d/", ["50-limit.conf", "10-first.conf", "99-last.conf"]),
    ]
    assert clientlog.confdir_files(listings) == [
        "/usr/lib/chrony/conf.d/10-first.conf",
        "/etc/chrony/conf.d/20-a.conf",
        "/etc/chrony/conf.d/50-limit.conf",
        "/usr/lib/chrony/conf.d/99-last.conf",
    ]


def test_last_limit_wins_noclientlog_ends():
    assert clientlog.limit_of([]) == clientlog.DEFAULT_LIMIT
    assert clientlog.limit_of([("clientloglimit", 1), ("clientloglimit", 4096)]) == 4096
    assert clientlog.limit_of([("noclientlog", None), ("clientloglimit", 4096)]) is None


# --- real files


def tree(tmp_path, files: dict):
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text.format(d=tmp_path))
    return str(tmp_path / "chrony.conf")


def cap(path, cache=None):
    return clientlog.capacity({"conf": path, "client_log_capacity": 0}, cache)


def test_include_glob_and_confdir_in_reading_order(tmp_path):
    conf = tree(
        tmp_path,
        {
            "chrony.conf": "clientloglimit 1048576\ninclude {d}/inc/*.conf\nconfdir {d}/first {d}/second {d}/missing\n",
            "inc/a.conf": "clientloglimit 2048\n",
            "inc/b.conf": "clientloglimit 4096\n",  # glob order: b after a
            "first/50-limit.conf": "include {d}/nested.conf\n",
            "nested.conf": "clientloglimit 8192\n",
            "second/50-limit.conf": "clientloglimit 999999999\n",  # same name: the first directory's is read
            "second/10-early.conf": "clientloglimit 16384\n",  # read first, then overridden
            "second/limit.sources": "clientloglimit 1\n",  # not *.conf
        },
    )
    m, source, notes, cache = cap(conf)
    assert (m, source, notes) == (clientlog.records(8192), "chrony.conf", [])
    # unchanged: the cache answers (a re-read would not give 77)
    cache["capacity"] = 77
    assert cap(conf, cache)[0] == 77
    # a new file in a confdir directory is seen
    (tmp_path / "second" / "90-late.conf").write_text("clientloglimit 65536\n")
    m, _, _, cache = cap(conf, cache)
    assert m == clientlog.records(65536)
    # and a new file matching the include's glob: read again (not 77), the confdir's still last
    cache["capacity"] = 77
    (tmp_path / "inc" / "c.conf").write_text("clientloglimit 1024\n")
    assert cap(conf, cache)[0] == clientlog.records(65536)


def test_unreadable_loops_and_depth_are_skipped_with_a_note(tmp_path):
    os.mkfifo(tmp_path / "fifo.conf")  # never read (it would block): not a regular file
    conf = tree(
        tmp_path,
        {
            "chrony.conf": "clientloglimit 4096\ninclude {d}/absent.conf\ninclude {d}/fifo.conf\n"
            "include {d}/loop.conf\ninclude {d}/deep1.conf\n",
            "loop.conf": "clientloglimit 2048\ninclude {d}/chrony.conf\n",
            **{f"deep{i}.conf": f"include {{d}}/deep{i + 1}.conf\n" for i in range(1, 12)},
            "deep12.conf": "clientloglimit 1\n",
        },
    )
    m, source, notes, _ = cap(conf)
    assert (m, source) == (clientlog.records(2048), "chrony.conf")
    assert notes == [
        f"{tmp_path}/absent.conf: not readable (No such file or directory): skipped",
        f"{tmp_path}/fifo.conf: not readable (not a regular file): skipped",
        f"{tmp_path}/chrony.conf: includes itself: skipped",
        f"{tmp_path}/deep10.conf: included more than 10 levels deep: skipped",
    ]


def test_notes_reach_data_json(tmp_path, fake):
    conf = tree(tmp_path, {"chrony.conf": "clientloglimit 1024\ninclude {d}/absent.conf\n"})
    cfg = write_config(tmp_path / "c.toml", f'[chrony]\nconf = "{conf}"\n')
    fake.build(tmp_path, cfg)
    log = read_snapshot(tmp_path / "www")["client_log"]
    assert log["capacity"] == 8 and log["notes"] == [
        f"{tmp_path}/absent.conf: not readable (No such file or directory): skipped"
    ]


# --- a real chronyd


def test_live_chronyd_holds_the_capacity_read_from_included_files(short_tmp):
    """The sandbox's own conf says clientloglimit 16777216 (131072 records);
    a confdir, then an include inside it, bring it down to 4096 bytes, which
    chronyd 4.3 turns into 32 records: flooded with 200 clients it lists 32,
    and data.json says "32 of 32", full."""
    from chrony_snap.harness.sandbox import Sandbox

    d = short_tmp
    tree(
        d,
        {
            "first/50-limit.conf": "include {d}/inc/*.conf\n",
            "inc/limit.conf": "clientloglimit 4096\n",
            "second/50-limit.conf": "clientloglimit 1048576\n",
            "second/10-early.conf": "clientloglimit 8192\n",
        },
    )
    extra = f"confdir {d}/first {d}/second\n"
    with Sandbox(d / "chrony", ratelimit=False, cmdratelimit=False, extra_conf=extra) as sb:
        assert "clientloglimit 16777216" in sb.conf_path.read_text()
        want = clientlog.records(4096)
        assert cap(str(sb.conf_path))[:3] == (want, "chrony.conf", [])
        ntp_clients(sb.ntp_port, ipv4_range("127.21.0.1", 200), wait=0.2, retries=1)
        rows = [line for line in sb.chronyc("clients").stdout.splitlines() if line.strip()]
        assert len(rows) == want  # chronyd forgot the rest: its log holds exactly that many
        out = d / "www"
        cfg = write_config(d / "c.toml", f'[chrony]\nconf = "{sb.conf_path}"\n')
        run_build(out, socket=sb.socket, state=d / "st", config=cfg)
        log = read_snapshot(out)["client_log"]
        assert log == {"records": want, "capacity": want, "source": "chrony.conf", "full": True}


@pytest.mark.parametrize("bad", ["include", "confdir"])
def test_a_directive_without_arguments_is_ignored(tmp_path, bad):
    conf = tree(tmp_path, {"chrony.conf": f"clientloglimit 2048\n{bad}\n"})
    assert cap(conf)[:3] == (clientlog.records(2048), "chrony.conf", [])


def test_page_says_which_files_were_not_read(synth_site, new_page):
    pytest.importorskip("playwright")
    from playwright.sync_api import expect

    import synth
    from helpers import wait_seq

    doc = synth.make(20, refresh_s=0.5)
    note = "/etc/chrony/conf.d/<b>x</b>.conf: not readable (Permission denied): skipped"
    doc["client_log"] = {"records": 20, "capacity": 4096, "source": "chrony.conf", "full": False, "notes": [note]}
    synth_site.write(doc)
    page = new_page(synth_site.url).page
    wait_seq(page, synth_site.seq)
    page.click("#pop-details > summary")
    expect(page.locator("#log-capacity")).to_have_text(
        "chronyd's client log: 20 of 4,096 records (capacity from clientloglimit in chrony.conf). Not read: " + note
    )
    assert page.locator("#population b").count() == 0
