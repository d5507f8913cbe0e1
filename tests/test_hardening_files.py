"""What a user who can write the web root (or the state directory) can do to
the files chrony-snap writes -- issue 12 items 2 and 17.

* Temp files are new files under unpredictable names (O_CREAT|O_EXCL|
  O_NOFOLLOW, .NAME.tmp-PID-RANDOM): symlinks planted under every name a run
  could have used before (.NAME.tmp-PID for the next PIDs) redirect nothing.
  On the old writer the planted link's target was overwritten.
* data.json.gz (or data.json) being a directory: both targets are checked
  before either is replaced, so data.json and its .gz never disagree, and the
  log's "the previous snapshot stays" is true.  On the old writer data.json
  was replaced and the .gz kept the old snapshot.
"""

import gzip
import json
import os
import stat

import pytest

from chrony_snap import writer
from chrony_snap.harness.sandbox import populate
from helpers import read_snapshot, run_build, write_config

PLANTED = 400  # PIDs ahead of the last one the kernel handed out


def next_pids(n):
    with open("/proc/sys/kernel/ns_last_pid") as f:
        last = int(f.read())
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    return [(last + i) % pid_max for i in range(1, n + 1)]


def test_planted_temp_symlinks_redirect_nothing(sandbox, short_tmp):
    populate(sandbox, clients=10, limited=0, cmd=0)
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml")
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    # something the attacker may not write: a root-owned 0600 file, and a
    # path that must not come into being
    victim = short_tmp / "victim"
    victim.write_bytes(b"secret\n")
    os.chmod(victim, 0o600)
    created = short_tmp / "created-by-chrony-snap"
    names = {
        out: ["data.json", "data.json.gz", "index.html", ".chrony-snap-site"],
        state: ["state.bin", "prev.bin", "dns.bin"],
    }
    planted = []
    for pid in next_pids(PLANTED):
        for d, files in names.items():
            for i, name in enumerate(files):
                link = d / f".{name}.tmp-{pid}"
                os.symlink(victim if i % 2 == 0 else created, link)
                planted.append(link)
    (out / "index.html").unlink()  # the page is written again too
    r = run_build(out, socket=sandbox.socket, state=state, config=cfg)
    assert victim.read_bytes() == b"secret\n"
    st = os.stat(victim)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    assert not os.path.lexists(created)
    assert "Traceback" not in r.stderr
    doc = read_snapshot(out)
    assert doc["errors"] == [] and len(doc["clients"]) >= 10
    assert (out / "index.html").is_file()
    # every link that is left is still a link to where it pointed
    for link in planted:
        if os.path.lexists(link):
            assert os.path.islink(link)


def test_writer_never_opens_an_existing_name(tmp_path, monkeypatch):
    """Even a correctly guessed temp name (old or new style) fails the open
    instead of writing through the link."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    os.chmod(victim, 0o600)
    monkeypatch.setattr(writer.os, "urandom", lambda n: b"\x00" * n)
    guessed = [
        f".{n}.tmp-{os.getpid()}{suffix}" for n in ("a.json", "b.json", "b.json.gz") for suffix in ("", "-" + "00" * 8)
    ]
    for g in guessed:
        os.symlink(victim, tmp_path / g)
    with pytest.raises(FileExistsError):
        writer.atomic_write(str(tmp_path / "a.json"), b"{}")
    with pytest.raises(FileExistsError), writer.StreamingFile(str(tmp_path / "b.json"), gzip_level=1) as f:
        f.write(b"{}")
        f.commit()
    assert victim.read_bytes() == b"keep" and stat.S_IMODE(os.stat(victim).st_mode) == 0o600
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(guessed + ["victim"])


def test_temp_names_are_unpredictable_and_cleaned_by_pid(tmp_path):
    seen = set()
    for _ in range(3):
        f = writer.StreamingFile(str(tmp_path / "d.json"), gzip_level=1)
        seen |= {os.path.basename(f.tmp), os.path.basename(f.gz_tmp)}
        f.abort()
    assert len(seen) == 6
    assert all(n.startswith((f".d.json.tmp-{os.getpid()}-", f".d.json.gz.tmp-{os.getpid()}-")) for n in seen)
    assert list(tmp_path.iterdir()) == []
    # leftovers of a dead run (new and old names) go, a live one's stay
    dead = 2**22 + 1  # above pid_max's usual ceiling: never a live process
    leftovers = [
        f".d.json.tmp-{dead}-0123456789abcdef",
        f".d.json.gz.tmp-{dead}-fedcba9876543210",
        f".d.json.tmp-{dead}",
    ]
    live = [".d.json.tmp-1-0123456789abcdef", f".d.json.tmp-{os.getpid()}-00"]
    for n in leftovers + live:
        (tmp_path / n).write_bytes(b"x")
    writer.remove_stale_temps(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(live)


def test_context_manager_and_abort_after_commit(tmp_path):
    p = tmp_path / "d.json"
    with writer.StreamingFile(str(p), gzip_level=1) as f:
        f.write(b'{"a": 1}')
        f.commit()
    f.abort()  # harmless after a commit
    assert p.read_bytes() == b'{"a": 1}' and (tmp_path / "d.json.gz").exists()
    with pytest.raises(RuntimeError), writer.StreamingFile(str(p), gzip_level=1) as f:
        f.write(b'{"a": 2}')
        raise RuntimeError("an early way out")
    assert p.read_bytes() == b'{"a": 1}'
    assert sorted(x.name for x in tmp_path.iterdir()) == ["d.json", "d.json.gz"]


@pytest.mark.parametrize("which", ["data.json.gz", "data.json"])
def test_a_directory_in_place_of_either_target_replaces_neither(sandbox, short_tmp, which):
    populate(sandbox, clients=5, limited=0, cmd=0)
    out, state = short_tmp / "www", short_tmp / "st"
    cfg = write_config(short_tmp / "c.toml")
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    other = "data.json" if which == "data.json.gz" else "data.json.gz"
    (out / which).unlink()
    (out / which).mkdir()
    (out / which / "keep").write_text("x")
    before = (out / other).read_bytes()
    r = run_build(out, socket=sandbox.socket, state=state, config=cfg, check=False)
    assert r.returncode == 1, r.stderr
    assert f"{out / which} is a directory" in r.stderr, r.stderr
    assert "the previous snapshot stays in place" in r.stderr
    assert "Traceback" not in r.stderr
    assert (out / other).read_bytes() == before  # the message is true
    assert (out / which / "keep").read_text() == "x"
    assert not [p for p in os.listdir(out) if ".tmp-" in p]
    # mended: the next run publishes both again, in agreement
    (out / which / "keep").unlink()
    (out / which).rmdir()
    run_build(out, socket=sandbox.socket, state=state, config=cfg)
    assert json.loads(gzip.decompress((out / "data.json.gz").read_bytes())) == read_snapshot(out)
