"""The built wheel carries templates/, assets/ and the schema, and a site
built from the installed wheel is the same tree as one built from the source
checkout (Pelican-style whole-tree comparison)."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from helpers import FAKE_CHRONYC, FakeChrony

ROOT = Path(__file__).parent.parent


def tree(d: Path):
    out = {}
    for p in sorted(d.rglob("*")):
        per_tick = p.name in ("data.json", "data.json.gz", "metrics") or p.parent.name in ("data.json.d", "history")
        if p.is_file() and not per_tick:  # per-tick files: times (generated_at, first_seen) differ
            out[str(p.relative_to(d))] = p.read_bytes()
    return out


def test_wheel_contents_and_identical_site(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("chrony_snap-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        f"chrony_snap/templates/{p.relative_to(ROOT / 'templates')}"
        for p in (ROOT / "templates").rglob("*")
        if p.is_file()
    }
    shipped |= {
        f"chrony_snap/assets/{p.relative_to(ROOT / 'assets')}" for p in (ROOT / "assets").rglob("*") if p.is_file()
    }
    assert "chrony_snap/templates/index.html" in shipped
    assert shipped <= names, shipped - names
    assert "chrony_snap/schema/data-v1.schema.json" in names
    assert "chrony_snap/cli.py" in names and "chrony_snap/build.py" in names
    assert not any("/tests/" in n or n.startswith("tests/") for n in names)
    script = next(n for n in names if n.endswith(".data/scripts/chrony-snap"))
    assert "from chrony_snap.cli import run" in zipfile.ZipFile(wheel).read(script).decode()

    unpacked = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(unpacked)
    fake = FakeChrony(tmp_path / "fake")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[dns]\nenabled = false\n[output]\nhost = "wheel-test"\n')
    sites = {}
    for label, path in (("wheel", unpacked), ("checkout", ROOT)):
        out = tmp_path / label
        env = dict(os.environ, PYTHONPATH=str(path), **fake.env)
        code = (
            "import sys; from chrony_snap import site; print(site.resource_dir('templates')); "
            "from chrony_snap.cli import main; sys.exit(main(sys.argv[1:]))"
        )
        r = subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                "build",
                "--out",
                str(out),
                "--chronyc",
                str(FAKE_CHRONYC),
                "--state",
                str(tmp_path / f"st-{label}"),
                "--config",
                str(cfg),
            ],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().startswith(str(path))  # resources found where that install keeps them
        sites[label] = tree(out)
    assert sites["wheel"].keys() == sites["checkout"].keys()
    for name in sites["wheel"]:
        if name != ".chrony-snap-site":  # the stamp names the source paths
            assert sites["wheel"][name] == sites["checkout"][name], name
    assert "index.html" in sites["wheel"]
