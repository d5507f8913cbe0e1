"""The page: index.html rendered from templates/ with Jinja2, the assets
copied into a directory named by a hash over all of them
(``assets/<hash>/app.js``), so that a new page never loads old modules and
the modules' relative imports still resolve.  Rendered only when its inputs
change.

``is_current()`` is the cheap per-tick check (a stamp and a stat of each
published file, no Jinja2 import); ``render()`` does the work;
``ensure_page()`` is what a tick calls.

The web root may be writable by others (see docs/production.md), so
publishing trusts nothing it finds there: it refuses a symlinked ``assets/``
and deletes only files that its own previous render listed in the stamp.
"""

import errno
import os
import sys

from chrony_snap import __version__
from chrony_snap.writer import atomic_write, remove_stale_temps

STAMP = ".chrony-snap-site"
STAMP_FORMAT = "chrony-snap-site 2"  # first line; main's stamps had none
HASH_LEN = 12


class PageError(Exception):
    """The page cannot be published now (the old one stays); may pass."""


class TemplateFailed(PageError):
    """The templates themselves fail for these inputs: retrying is useless
    until they change."""


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


# ---------------------------------------------------------------- the stamp
# Line 1: STAMP_FORMAT; line 2: repr() of the inputs key (one line whatever
# the key holds: a host name may contain the separators); then the files
# written, relative to OUT/assets, one per line.


def _read_stamp(out: str):
    """(encoded key or None, files the previous render wrote)."""
    try:
        with open(os.path.join(out, STAMP), encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None, []
    lines = text.split("\n")
    if lines[0] == STAMP_FORMAT and len(lines) > 1:
        return lines[1], [m for m in lines[2:] if _safe_relpath(m)]
    # an older release's stamp: KEY \n--\n NAME.HASH.EXT lines
    return None, [m for m in text.partition("\n--\n")[2].split("\n") if _legacy_asset_name(m)]


def _safe_relpath(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and all(p not in ("", ".", "..") and "\0" not in p for p in parts)


def _legacy_asset_name(name: str) -> bool:
    """NAME.HASH.EXT or NAME.HASH, as older releases named their assets."""
    if "/" in name or name.startswith("."):
        return False
    bits = name.split(".")
    return any(len(b) == HASH_LEN and all(c in "0123456789abcdef" for c in b) for b in bits[1:])


def is_current(out: str, key: str) -> bool:
    """The page in `out` was rendered from `key` and every file it needs is
    still there."""
    if not os.path.exists(os.path.join(out, "index.html")):
        return False
    stamped, files = _read_stamp(out)
    if stamped != repr(key):
        return False
    assets = os.path.join(out, "assets")
    return all(os.path.isfile(os.path.join(assets, f)) for f in files)


# ---------------------------------------------------------------- publishing
def _asset_files(assets: str):
    """[(relative path, bytes)] and the directory hash over all of them."""
    import hashlib

    h = hashlib.sha256()
    files = []
    for path in _files(assets):
        rel = os.path.relpath(path, assets).replace(os.sep, "/")
        if "\n" in rel:
            raise TemplateFailed(f"asset file name {rel!r}: line breaks are not supported")
        with open(path, "rb") as f:
            data = f.read()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
        files.append((rel, data))
    return files, h.hexdigest()[:HASH_LEN]


def _real_dir(path: str):
    """Make `path` a directory of ours, refusing a symlink or another file
    (whoever can write the web root could point it anywhere)."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        pass
    if os.path.islink(path):
        raise PageError(f"{path} is a symbolic link; refusing to publish the page through it")
    if not os.path.isdir(path):
        raise PageError(f"{path} exists and is not a directory")


def _open_beneath(base_fd: int, parts):
    """Descend into parts from base_fd without following a symlink."""
    fd = base_fd
    try:
        for p in parts:
            nfd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            if fd != base_fd:
                os.close(fd)
            fd = nfd
    except OSError:
        if fd != base_fd:
            os.close(fd)
        raise
    return fd


def _remove_listed(asset_dir: str, stale):
    """Delete the files an earlier render wrote (and nothing else), then
    their directories if that left them empty. Never follows a symlink."""
    base = os.open(asset_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        dirs = set()
        for rel in stale:
            *parents, name = rel.split("/")
            try:
                fd = _open_beneath(base, parents)
            except OSError:
                continue
            try:
                os.unlink(name, dir_fd=fd)
            except OSError:
                pass
            finally:
                if fd != base:
                    os.close(fd)
            for i in range(len(parents), 0, -1):
                dirs.add("/".join(parents[:i]))
        for d in sorted(dirs, key=lambda d: -d.count("/")):
            try:
                os.rmdir(d, dir_fd=base)
            except OSError:
                pass  # not empty: what is left there is not ours
    finally:
        os.close(base)


def _remove_stale_temps_below(asset_dir: str):
    """Temp files of a render that was killed, whatever its hash directory
    (only real directories: a symlink is not followed)."""
    remove_stale_temps(asset_dir)
    with os.scandir(asset_dir) as entries:
        subdirs = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    for d in subdirs:
        remove_stale_temps(d)


def _meta_csp() -> str:
    """The page's policy is the server's, less what only works as a header
    (Chromium reports frame-ancestors in a <meta> as an error)."""
    from chrony_snap.nginx import CSP

    return "; ".join(d.strip() for d in CSP.split(";") if d.strip() and not d.strip().startswith("frame-ancestors"))


def render(
    out: str, page_cfg: dict, key: str, host: str, templates: str | None = None, assets: str | None = None
) -> list:
    """Render index.html and publish the assets. Raises TemplateFailed when
    the templates fail, PageError or OSError when the page cannot be
    published now; the old page stays in place either way. Returns the
    asset files written, relative to OUT/assets."""
    templates = templates or resource_dir("templates")
    assets = assets or resource_dir("assets")
    files, digest = _asset_files(assets)
    urls = {rel: f"assets/{digest}/{rel}" for rel, _ in files}
    html = _render_template(templates, assets, urls, page_cfg, host)

    asset_dir = os.path.join(out, "assets")
    os.makedirs(out, exist_ok=True)
    _real_dir(asset_dir)
    _, previous = _read_stamp(out)
    planned = [f"{digest}/{rel}" for rel, _ in files]
    # write-ahead: a render killed from here on leaves only files that the
    # next one finds listed, and removes (no key: the page is not current)
    _write_stamp(out, None, previous + [f for f in planned if f not in set(previous)])
    written, made = [], set()
    for rel, data in files:
        parts = [digest] + rel.split("/")
        for i in range(1, len(parts)):
            d = os.path.join(asset_dir, *parts[:i])
            if d not in made:
                _real_dir(d)
                made.add(d)
        atomic_write(os.path.join(asset_dir, *parts), data)
        written.append("/".join(parts))
    atomic_write(os.path.join(out, "index.html"), html.encode("utf-8"))
    new = set(written)
    _remove_stale_temps_below(asset_dir)  # first: they would keep a directory from being removed
    _remove_listed(asset_dir, [f for f in previous if f not in new])
    _write_stamp(out, key, written)
    return written


def _write_stamp(out: str, key, files):
    stamp = "\n".join([STAMP_FORMAT, repr(key)] + files) + "\n"
    atomic_write(os.path.join(out, STAMP), stamp.encode("utf-8"))


def _render_template(templates, assets, urls, page_cfg, host) -> str:
    import jinja2

    from chrony_snap import metrics

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
    try:
        return env.get_template("index.html").render(
            asset=asset,
            page=page_cfg,
            title=page_cfg["title"],
            host=host,
            version=__version__,
            refresh_ms=int(page_cfg["refresh_s"] * 1000),
            csp=_meta_csp(),
            # the page's histograms use /metrics' buckets, so the numbers match
            time_buckets=",".join(map(str, metrics.TIME_BUCKETS)),
            drop_buckets=",".join(map(str, metrics.DROP_BUCKETS)),
        )
    except OSError:
        raise  # a template file unreadable now: may pass
    except Exception as e:  # whatever the template raises, it raises again for the same inputs
        raise TemplateFailed(f"{type(e).__name__}: {e}") from e


def _describe(e: Exception) -> str:
    if isinstance(e, OSError) and e.errno is not None:
        where = f" ({e.filename})" if e.filename else ""
        return f"{type(e).__name__}: {e.strerror or errno.errorcode.get(e.errno, e.errno)}{where}"
    if isinstance(e, TemplateFailed) and e.__cause__ is not None:
        return str(e)
    return f"{type(e).__name__}: {e}"


def _log(msg: str):
    sys.stderr.write(f"chrony-snap: {msg}\n")
    sys.stderr.flush()


def ensure_page(out, cfg, host, st=None) -> int:
    """Render the page when its inputs changed; 1 if it could not be.

    A template that fails is reported once and not retried until the inputs
    change (st remembers them). Anything else (a full disk, an ``assets``
    that is briefly a file, a symlink planted there) is retried every tick
    and logged when it starts or changes."""
    page = cfg["page"]
    dirs = {"templates": page["templates_dir"] or None, "assets": page["assets_dir"] or None}
    st = {} if st is None else st
    key = None
    try:
        key = inputs_key(page, **dirs) + "\n" + host
        if is_current(out, key):
            st.pop("page_failed", None)
            st.pop("page_error", None)
            return 0
        if st.get("page_failed") == key:
            return 1
        render(out, page, key, host, **dirs)
    except Exception as e:  # a page problem must not stop data.json
        msg = f"cannot render the page in {out}: {_describe(e)}; the previous page stays in place"
        if isinstance(e, TemplateFailed) and key is not None:
            st["page_failed"] = key
        if st.get("page_error") != msg:
            _log(msg)
        st["page_error"] = msg
        return 1
    st.pop("page_failed", None)
    st.pop("page_error", None)
    return 0
