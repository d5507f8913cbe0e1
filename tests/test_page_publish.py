"""Publishing the page into a web root that others may write (issue 12,
items 3, 13, 14, 15, 16): site.ensure_page, as a tick calls it.

Each test names the promise it guards; each failed on the code before
site.ensure_page (build.ensure_page + the old site.render)."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys

import pytest

from chrony_snap import config, site

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def page_cfg(tmp_path, **page):
    """A config whose page uses a private copy of the shipped templates and
    assets (tests edit them)."""
    cfg = config.defaults()
    t, a = tmp_path / "templates", tmp_path / "assets-src"
    if not t.exists():
        shutil.copytree(os.path.join(REPO, "templates"), t)
        shutil.copytree(os.path.join(REPO, "assets"), a)
    cfg["page"].update(templates_dir=str(t), assets_dir=str(a), **page)
    return cfg


def ensure(out, cfg, st, host="ntp1"):
    return site.ensure_page(str(out), cfg, host, st)


def published(out):
    """Relative paths of every file under out/assets."""
    base = out / "assets"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


@pytest.fixture
def web(tmp_path):
    out = tmp_path / "www"
    out.mkdir()
    (out / "data.json").write_text('{"seq": 7}')
    return out


# ---------------------------------------------------------------- item 3: delete only our own files


def test_symlinked_assets_is_refused(tmp_path, web, capsys):
    """OUT/assets pointing elsewhere: nothing is written or deleted there, the
    page is not rendered, data.json is untouched, and the log says why."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("mine")
    (victim / "app.0123456789ab.js").write_text("also mine")
    (web / "assets").symlink_to(victim)
    st = {}
    assert ensure(web, page_cfg(tmp_path), st) == 1
    assert sorted(os.listdir(victim)) == ["app.0123456789ab.js", "notes.txt"]
    assert not (web / "index.html").exists()
    assert (web / "data.json").read_text() == '{"seq": 7}'
    assert "symbolic link" in capsys.readouterr().err
    assert "page_failed" not in st  # not the template's fault: tried again next tick


def test_files_chrony_snap_did_not_write_survive(tmp_path, web):
    """A re-render removes the previous render's assets, and only those."""
    cfg = page_cfg(tmp_path)
    st = {}
    assert ensure(web, cfg, st) == 0
    first = published(web)
    (web / "assets" / "operator.txt").write_text("keep me")
    (web / "assets" / "app.0123456789ab.js").write_text("not listed: keep me")
    (tmp_path / "assets-src" / "style.css").write_text("body { margin: 0 }\n")
    assert ensure(web, cfg, st) == 0
    now = published(web)
    assert "operator.txt" in now and "app.0123456789ab.js" in now
    assert not set(first) & set(now)  # the old hashed directory is gone ...
    assert len(os.listdir(web / "assets")) == 3  # ... emptied and removed


def test_stamp_cannot_steer_deletion(tmp_path, web):
    """The stamp is in the web root too: its file list is never followed out
    of OUT/assets, nor through a symlinked directory inside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "app.js").write_text("x")
    (web / "assets").mkdir()
    (web / "assets" / "abcdef012345").symlink_to(outside)
    (web / site.STAMP).write_text(
        f"{site.STAMP_FORMAT}\n'old'\n../../outside/app.js\n/etc/hostname\nabcdef012345/app.js\n"
    )
    assert ensure(web, page_cfg(tmp_path), {}) == 0
    assert (outside / "app.js").exists()
    assert (web / "index.html").exists()


# ---------------------------------------------------------------- item 13: only template failures are sticky


def test_assets_briefly_a_file_is_retried(tmp_path, web):
    cfg, st = page_cfg(tmp_path), {}
    (web / "assets").write_text("in the way")
    assert ensure(web, cfg, st) == 1
    (web / "assets").unlink()
    assert ensure(web, cfg, st) == 0
    assert (web / "index.html").exists() and published(web)


def test_full_disk_is_retried_and_logged_once(tmp_path, web, monkeypatch, capsys):
    cfg, st = page_cfg(tmp_path), {}
    real = site.atomic_write
    full = [True]

    def write(path, data, *a, **kw):
        if full[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(path, data, *a, **kw)

    monkeypatch.setattr(site, "atomic_write", write)
    assert ensure(web, cfg, st) == 1
    assert ensure(web, cfg, st) == 1
    err = capsys.readouterr().err
    assert err.count("No space left on device") == 1, err  # once while it lasts
    full[0] = False
    assert ensure(web, cfg, st) == 0
    assert (web / "index.html").exists()
    assert not st.get("page_failed") and not st.get("page_error")


def test_broken_template_is_not_retried_until_it_changes(tmp_path, web, monkeypatch, capsys):
    cfg, st = page_cfg(tmp_path), {}
    tpl = tmp_path / "templates" / "index.html"
    good = tpl.read_text()
    tpl.write_text("{% if %}broken")
    assert ensure(web, cfg, st) == 1
    assert "TemplateSyntaxError" in capsys.readouterr().err
    calls = []
    monkeypatch.setattr(site, "render", lambda *a, **kw: calls.append(a))
    assert ensure(web, cfg, st) == 1 and not calls  # same inputs: not rendered again
    assert capsys.readouterr().err == ""
    monkeypatch.undo()
    tpl.write_text(good)
    assert ensure(web, cfg, st) == 0 and (web / "index.html").exists()


# ---------------------------------------------------------------- item 14: is_current checks the files


@pytest.mark.parametrize("damage", ["assets", "one file"])
def test_deleted_assets_are_repaired(tmp_path, web, damage):
    cfg, st = page_cfg(tmp_path), {}
    assert ensure(web, cfg, st) == 0
    before = published(web)
    if damage == "assets":
        shutil.rmtree(web / "assets")
    else:
        os.unlink(web / "assets" / before[0])
    assert ensure(web, cfg, st) == 0
    assert published(web) == before


# ---------------------------------------------------------------- item 15: a killed render's temp files

KILL_MID_RENDER = """
import os, signal, sys
from chrony_snap import config, site, writer
real_replace = os.replace
def replace(src, dst):
    if os.sep + "assets" + os.sep in dst and os.path.basename(dst).split(".")[0] == "app":
        os.kill(os.getpid(), signal.SIGKILL)  # as systemd's stop timeout would
    return real_replace(src, dst)
os.replace = replace
cfg = config.defaults()
cfg["page"].update(templates_dir=sys.argv[2], assets_dir=sys.argv[3])
site.ensure_page(sys.argv[1], cfg, "ntp1", {})
"""


def test_temp_files_of_a_killed_render_are_removed(tmp_path, web):
    cfg = page_cfg(tmp_path)
    r = subprocess.run(
        [sys.executable, "-c", KILL_MID_RENDER, str(web), cfg["page"]["templates_dir"], cfg["page"]["assets_dir"]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == -signal.SIGKILL, r.stderr
    leftovers = [p for p in (web / "assets").rglob(".*") if ".tmp-" in p.name]
    assert leftovers  # the kill landed mid-publish
    (tmp_path / "assets-src" / "style.css").write_text("body { margin: 0 }\n")  # other inputs: another hash
    assert ensure(web, cfg, {}) == 0
    assert not [p for p in (web / "assets").rglob(".*") if ".tmp-" in p.name]
    assert (web / "index.html").exists()
    # what the killed render had published already is gone too: one hash directory
    assert len(os.listdir(web / "assets")) == 1


# ---------------------------------------------------------------- item 16: the key is encoded


@pytest.mark.parametrize("host", ["two\nlines", "evil\n--\nhost", "a\r\nb\u2028c"])
def test_host_with_separators_renders_once(tmp_path, web, host, monkeypatch):
    cfg, st = page_cfg(tmp_path), {}
    assert ensure(web, cfg, st, host=host) == 0
    calls = []
    monkeypatch.setattr(site, "render", lambda *a, **kw: calls.append(a))
    assert ensure(web, cfg, st, host=host) == 0
    assert not calls  # current: not rendered again on the next tick
    monkeypatch.undo()
    assert ensure(web, cfg, st, host=host + "!") == 0  # a real change still renders
    assert "!" in (web / "index.html").read_text()
