"""firstseen.bin version 2: the listed addresses as one text in chronyd's
order plus one member per address, so that a tick whose listing matches the
previous one builds the map on prev.bin's strings and writes nothing.

Guards the tick-CPU work of issue 10 (bench/firstseen_bench.py measures it):
on main the file was a {address: member} map loaded and fully checked every
tick, with no version 2 and no `listed` argument, so these tests fail there.
Behaviour kept: version 1 files are read (and rewritten as version 2), a bad
file is set aside, forgotten clients are pruned."""

import marshal

import pytest

from chrony_snap import firstseen
from helpers import read_snapshot, write_config

OLD = "2020-01-02T03:04:05Z"
LATER = "2021-01-02T03:04:05Z"


def member(t):
    return firstseen.member(t)


def write(d, *fields):
    d.mkdir(mode=0o700, exist_ok=True)
    (d / firstseen.NAME).write_bytes(marshal.dumps((firstseen.TAG, *fields)))


def stored(d):
    return marshal.loads((d / firstseen.NAME).read_bytes())


def test_a_matching_listing_reuses_its_strings(tmp_path):
    d = tmp_path / "st"
    addrs = ["127.1.0.1", "127.1.0.2", "::1"]
    write(d, 2, "\n".join(addrs), (member(OLD), member(OLD), member(LATER)))
    listed = {"".join(["127.1.0.", str(k)]): 0 for k in (1, 2)} | {":".join(["", ":1"]): 0}  # other objects
    seen, stored = firstseen.load(str(d), pytest.fail, listed)
    assert stored == ("\n".join(addrs), True) and [firstseen.time_of(m) for m in seen.values()] == [OLD, OLD, LATER]
    assert all(k is k2 for k, k2 in zip(seen, listed, strict=True))  # the previous tick's objects, not new ones
    # another order: the file's own addresses, same map
    seen2, stored2 = firstseen.load(str(d), pytest.fail, dict(reversed(listed.items())))
    assert seen2 == seen and stored2 == (stored[0], False)
    assert not any(k is k2 for k, k2 in zip(seen2, listed, strict=True))


def test_written_only_when_the_listing_changed(tmp_path):
    d = tmp_path / "st"
    d.mkdir()
    path = d / firstseen.NAME
    seen = {"a": member(OLD), "b": member(LATER), "gone": member(OLD)}
    firstseen.save_if_changed(str(d), firstseen.NOTHING, {}, {"a": 0, "b": 0}, [], seen)
    assert stored(d) == (firstseen.TAG, 2, "a\nb", (member(OLD), member(LATER)))  # "gone" pruned
    ino = path.stat().st_ino
    prev = {"a": 0, "b": 0}
    seen, on_disk = firstseen.load(str(d), pytest.fail, prev)
    firstseen.save_if_changed(str(d), on_disk, prev, {"a": 1, "b": 1}, [], seen)  # the same two: not written
    assert path.stat().st_ino == ino
    firstseen.save_if_changed(str(d), on_disk, prev, {"b": 1}, [], seen)  # "a" forgotten
    assert stored(d)[2:] == ("b", (member(LATER),))
    seen, on_disk = firstseen.load(str(d), pytest.fail, {"b": 0})
    seen["c"] = member(LATER)  # a newcomer (the encoder adds it) while "b" goes: as many listed as before
    firstseen.save_if_changed(str(d), on_disk, {"b": 0}, {"c": 1}, [], seen)
    assert stored(d)[2:] == ("c", (member(LATER),))
    # the file in another order than the previous listing (not aligned): written in the listing's
    write(d, 2, "a\nb", (member(OLD), member(LATER)))
    seen, on_disk = firstseen.load(str(d), pytest.fail, {"b": 0, "a": 0})
    assert on_disk == ("a\nb", False)
    firstseen.save_if_changed(str(d), on_disk, {"b": 0, "a": 0}, {"b": 1}, ["a"], seen)  # "a": unkeyed, last
    assert stored(d)[2:] == ("b\na", (member(LATER), member(OLD)))


@pytest.mark.parametrize(
    "fields",
    [
        (2, "a\nb", (member(OLD),)),
        (2, "a", (member(OLD), member(OLD))),
        (2, "a", ()),
        (2, "a", [member(OLD)]),
        (2, b"a", (member(OLD),)),
        (2, "a", (OLD,)),
        (2, "a", (',"first_seen":"x","hostname":"<b>"',)),
        (1, "a", (member(OLD),)),
        (3, "a", (member(OLD),)),
    ],
    ids=[
        "more-addresses",
        "fewer-addresses",
        "no-times",
        "list",
        "bytes",
        "bare-time",
        "bad-value",
        "v1-shape",
        "newer",
    ],
)
def test_bad_version_2_set_aside(tmp_path, fields):
    d = tmp_path / "st"
    write(d, *fields)
    warnings = []
    assert firstseen.load(str(d), warnings.append, {}) == ({}, firstseen.NOTHING)
    assert "set aside" in warnings[0] and (d / (firstseen.NAME + ".corrupt")).exists()


def test_version_1_is_read_then_rewritten_as_version_2(tmp_path, fake):
    st = tmp_path / "st"
    write(st, 1, {"127.1.0.1": member(OLD), "192.0.2.99": member(OLD)})  # the second one chronyd forgot
    cfg = write_config(tmp_path / "c.toml", '[chrony]\nconf = ""\n')
    fake.build(tmp_path, cfg)
    doc = read_snapshot(tmp_path / "www")
    got = {c["address"]: c["first_seen"] for c in doc["clients"]}
    assert got["127.1.0.1"] == OLD
    tag, version, text, members = stored(st)
    assert (tag, version) == (firstseen.TAG, 2)
    assert text.split("\n") == [c["address"] for c in doc["clients"]]  # listing order, 192.0.2.99 pruned
    assert [firstseen.time_of(m) for m in members] == [got[a] for a in text.split("\n")]
    ino = (st / firstseen.NAME).stat().st_ino
    fake.build(tmp_path, cfg)  # the same listing: the fast path, nothing written
    assert (st / firstseen.NAME).stat().st_ino == ino
    assert {c["address"]: c["first_seen"] for c in read_snapshot(tmp_path / "www")["clients"]} == got
