"""The page: index.html rendered from templates/ with Jinja2, assets copied
under fingerprinted names.  Rendered only when its inputs change.

``is_current()`` is the cheap per-tick check (stat of a dozen files, no
Jinja2 import); ``render()`` does the work.
"""

import os

from chrony_snap import __version__
from chrony_snap.writer import atomic_write

STAMP = ".chrony-snap-site"


def resource_dir(name: str) -> str:
    """templates/ or assets/: inside the installed package (wheel), else at the
    top of a source checkout / editable install."""
    here = os.path.dirname(os.path.abspath(__file__))
    for p in (os.path.join(here, name), os.path.join(os.path.dirname(here), name)):
        if os.path.isdir(p):
            return p
    raise FileNotFoundError(f"chrony-snap's {name}/ directory is missing (looked in {here} and its parent)")


def _files(d: str):
    out = []
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for f in sorted(files):
            if not f.startswith("."):
                out.append(os.path.join(root, f))
    return out


def inputs_key(page_cfg: dict, templates: str | None = None, assets: str | None = None) -> str:
    """A short text naming everything the page depends on (stat-based)."""
    templates = templates or resource_dir("templates")
    assets = assets or resource_dir("assets")
    parts = [__version__, repr(sorted(page_cfg.items()))]
    for p in _files(templates) + _files(assets):
        st = os.stat(p)
        parts.append(f"{p}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)


def _read_stamp(out: str):
    try:
        with open(os.path.join(out, STAMP), encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None, []
    key, _, manifest = text.partition("\n--\n")
    return key, [m for m in manifest.splitlines() if m]


def is_current(out: str, key: str) -> bool:
    if not os.path.exists(os.path.join(out, "index.html")):
        return False
    return _read_stamp(out)[0] == key


def _fingerprint(name: str, data: bytes) -> str:
    import hashlib
    h = hashlib.sha256(data).hexdigest()[:12]
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{h}.{ext}" if dot else f"{name}.{h}"


def render(out: str, page_cfg: dict, key: str, host: str,
           templates: str | None = None, assets: str | None = None) -> list:
    """Render index.html and copy assets. Raises on a broken template; the
    old page stays in place in that case. Returns the asset files written."""
    import jinja2

    templates = templates or resource_dir("templates")
    assets = assets or resource_dir("assets")
    asset_dir = os.path.join(out, "assets")
    os.makedirs(asset_dir, exist_ok=True)
    urls = {}
    written = []
    staged = []
    for path in _files(assets):
        rel = os.path.relpath(path, assets).replace(os.sep, "/")
        with open(path, "rb") as f:
            data = f.read()
        fp = _fingerprint(rel.replace("/", "-"), data)
        urls[rel] = f"assets/{fp}"
        staged.append((os.path.join(asset_dir, fp), data))

    def asset(name: str) -> str:
        try:
            return urls[name]
        except KeyError:
            raise jinja2.TemplateError(f"asset({name!r}): no such file in {assets}") from None

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    html = env.get_template("index.html").render(
        asset=asset, page=page_cfg, title=page_cfg["title"], host=host, version=__version__,
        refresh_ms=int(page_cfg["refresh_s"] * 1000),
    )
    # The template rendered: now publish assets first, then the page.
    for dest, data in staged:
        if not os.path.exists(dest):
            atomic_write(dest, data)
        written.append(os.path.basename(dest))
    atomic_write(os.path.join(out, "index.html"), html.encode("utf-8"))
    _, previous = _read_stamp(out)
    keep = set(written) | set(previous)
    for f in os.listdir(asset_dir):
        if f not in keep and not f.startswith("."):
            try:
                os.unlink(os.path.join(asset_dir, f))
            except OSError:
                pass
    atomic_write(os.path.join(out, STAMP), (key + "\n--\n" + "\n".join(written) + "\n").encode("utf-8"))
    return written


def ensure_page(out, cfg, host, st=None) -> int:
    """Render the page when its inputs changed. A broken template is reported
    once (st remembers the failed inputs) and the previous page stays."""
    from chrony_snap import site
    from chrony_snap.build import log
    page = cfg["page"]
    dirs = {"templates": page["templates_dir"] or None, "assets": page["assets_dir"] or None}
    try:
        key = site.inputs_key(page, **dirs) + "\n" + host
        if site.is_current(out, key):
            return 0
        if st is not None and st.get("page_failed") == key:
            return 1
        site.render(out, page, key, host, **dirs)
    except Exception as e:  # a broken template must not stop data.json
        log(f"cannot render the page in {out}: {type(e).__name__}: {e}; the previous page stays in place")
        if st is not None and "key" in locals():
            st["page_failed"] = key
        return 1
    if st is not None:
        st.pop("page_failed", None)
    return 0
