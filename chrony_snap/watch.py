"""`chrony-snap watch`: the snapshot loop for hosts without systemd (containers).

Every ``interval`` seconds (monotonic schedule; a late tick is not caught up
with a burst) it runs one ``build.build(..., render_page=False)``: data.json
only.  The page (index.html + assets/) is re-rendered when watchdog reports a
change to the templates, the assets or the config file -- debounced, like
MkDocs' ``serve``: wait until the files have been quiet for a moment, then
rebuild once.  A rebuild that fails (a broken template) is logged and the
last good page stays in place; the loop keeps going, and the next edit that
fixes the template brings the page back.

SIGTERM and SIGINT stop the loop (exit status 0); a tick they interrupt
publishes nothing (its chronyc children got the signal too: systemd's
KillMode and Ctrl-C signal the whole group).
Only this command imports watchdog; the per-second `build` path never does.
"""

from __future__ import annotations

import math
import os
import select
import signal
import threading
import time

from chrony_snap import build as B, config as C, site

DEBOUNCE_S = 0.3  # quiet time after the last file event before re-rendering
MAX_DELAY_S = 1.5  # ... but never wait longer than this after the first one
MAX_INTERVAL_S = 86400.0


def _log(msg):
    B.log(msg)


class _Handler:
    """watchdog event handler: note that something we care about changed."""

    def __init__(self, watcher, only: str | None = None):
        self.watcher = watcher
        self.only = only  # a single file to react to (the config), else everything

    # "opened" / "closed_no_write" come from reading the files (our own
    # renders read every template): reacting to them would loop.
    KINDS = frozenset({"created", "deleted", "modified", "moved", "closed"})

    def dispatch(self, event):
        if event.event_type not in self.KINDS:
            return
        if event.is_directory and event.event_type == "modified":
            return  # a directory's mtime: the file events inside tell us more
        paths = [getattr(event, "src_path", ""), getattr(event, "dest_path", "")]
        paths = [os.fsdecode(p) for p in paths if p]
        if self.only is not None and not any(os.path.abspath(p) == self.only for p in paths):
            return
        self.watcher.changed(paths)


class Waker:
    """Wakes the loop: a byte in a pipe.  Safe from a signal handler, which
    must take no lock (Event.set there deadlocks when the signal lands while
    the interrupted code holds the Event's lock), and from other threads."""

    def __init__(self):
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def wake(self):
        try:
            os.write(self._w, b"\0")
        except OSError:
            pass  # the pipe is full: a wake-up is pending anyway

    def wait(self, timeout):
        """Until woken or ``timeout`` seconds passed; pending wake-ups are consumed."""
        p = select.poll()
        p.register(self._r, select.POLLIN)
        p.poll(math.ceil(max(timeout, 0.0) * 1000))
        try:
            while os.read(self._r, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self):
        os.close(self._r)
        os.close(self._w)


class Shutdown:
    """SIGTERM/SIGINT, while in its ``with`` block: the handler sets a flag
    and wakes the loop (``self.waker``), nothing else.  Calling it says
    whether shutdown was requested (the loop's stop test and build's
    ``cancelled``).  Once requested, later signals are ignored: a second
    Ctrl-C must not turn a clean stop into a traceback."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.requested = False
        self.waker = Waker()
        self._old = {}

    def __call__(self) -> bool:
        return self.requested

    def request(self, signum=None, frame=None):
        self.requested = True
        self.waker.wake()

    def __enter__(self):
        self._old = {s: signal.signal(s, self.request) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, signal.SIG_IGN if self.requested else h)
        self.waker.close()  # no handler of ours can run any more


def check_interval(interval) -> float:
    interval = float(interval)
    if not (math.isfinite(interval) and 0 < interval <= MAX_INTERVAL_S):
        raise ValueError(
            f"--interval must be a number of seconds above 0 and at most {MAX_INTERVAL_S:g}, got {interval!r}"
        )
    return interval


class Watcher:
    """The loop, usable in-process (the demo runs it with its own Shutdown)."""

    def __init__(
        self, out, config_path=None, chronyc=None, socket=None, state_dir=None, interval=1.0, log=_log, *, waker: Waker
    ):
        self.interval = check_interval(interval)
        self.out = out
        self.config_path = config_path
        self.chronyc = chronyc
        self.socket = socket
        self.state_dir = state_dir
        self.log = log
        self.waker = waker
        self._lock = threading.Lock()
        self._first_event = None
        self._last_event = None
        self._observer = None
        self._watched = ()
        self._cfg = None
        self._cfg_ident = None
        self.ticks = 0
        self.renders = 0

    # ------------------------------------------------------------- config
    def _config_file(self):
        if self.config_path:
            return os.path.abspath(self.config_path)
        return C.DEFAULT_PATH if os.path.exists(C.DEFAULT_PATH) else None

    def _load_config(self) -> bool:
        """(Re)load the config when its file changed; False if it is broken
        (the previous config stays in use for the page)."""
        ident = C.identity(self.config_path)
        if self._cfg is not None and ident == self._cfg_ident:
            return True
        try:
            cfg, _ = C.load(self.config_path)
        except C.ConfigError as e:
            self._cfg_ident = ident  # report once per change, not every tick
            if self._cfg is None:
                raise
            self.log(f"{e}; the page keeps its previous settings")
            return False
        self._cfg, self._cfg_ident = cfg, ident
        return True

    def _dirs(self):
        from chrony_snap import site

        page = self._cfg["page"]
        t = page["templates_dir"] or site.resource_dir("templates")
        a = page["assets_dir"] or site.resource_dir("assets")
        return os.path.abspath(t), os.path.abspath(a)

    # ------------------------------------------------------------- watchdog
    def _schedule(self):
        """Watch the templates, the assets and the config file."""
        cfile = self._config_file()
        wanted = tuple(self._dirs()) + ((cfile,) if cfile else ())
        if wanted == self._watched and self._observer is not None:
            return
        self._stop_observer()
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        observer = Observer()
        try:
            self._add_watches(observer, wanted)
        except OSError as e:  # e.g. inotify watch limit reached
            self.log(f"watch: inotify unavailable ({e}); polling for changes instead")
            observer = PollingObserver(timeout=0.5)
            self._add_watches(observer, wanted)
        observer.daemon = True
        observer.start()
        self._observer = observer
        self._watched = wanted

    def _add_watches(self, observer, wanted):
        templates, assets, *cfg = wanted
        for d in dict.fromkeys((templates, assets)):
            if os.path.isdir(d):
                observer.schedule(_Handler(self), d, recursive=True)
            else:
                self.log(f"watch: {d} does not exist; not watching it")
        if cfg:
            d = os.path.dirname(cfg[0])
            if os.path.isdir(d):
                observer.schedule(_Handler(self, only=cfg[0]), d, recursive=False)

    def _stop_observer(self):
        if self._observer is not None:
            try:
                self._observer.stop()
                self._observer.join(timeout=5)
            except Exception:
                pass
            self._observer = None
            self._watched = ()

    def changed(self, paths=()):
        """Called from watchdog's thread: schedule a (debounced) re-render."""
        now = time.monotonic()
        with self._lock:
            if self._first_event is None:
                self._first_event = now
            self._last_event = now
        self.waker.wake()

    def _render_due(self, now):
        with self._lock:
            if self._last_event is None:
                return None
            due = min(self._last_event + DEBOUNCE_S, self._first_event + MAX_DELAY_S)
            if now < due:
                return due
            self._first_event = self._last_event = None
        return 0.0

    # ------------------------------------------------------------- the page
    def _stamp(self):
        try:
            st = os.stat(os.path.join(self.out, ".chrony-snap-site"))
            return st.st_mtime_ns, st.st_ino
        except OSError:
            return None

    def render_page(self, reason="start") -> int:
        ok = self._load_config()
        try:
            self._schedule()
        except Exception as e:  # watching is best effort; the snapshot goes on
            self.log(f"watch: cannot watch for changes: {type(e).__name__}: {e}")
        if not ok and reason != "start":
            return 1
        host = self._cfg["output"]["host"] or os.uname().nodename
        before = self._stamp()
        try:
            os.makedirs(self.out, exist_ok=True)
        except OSError:
            pass  # build() reports an unusable output directory
        rc = site.ensure_page(self.out, self._cfg, host)
        if rc == 0 and self._stamp() != before:
            self.renders += 1
            if reason != "start":
                self.log(f"watch: page re-rendered ({reason})")
        return rc

    # ------------------------------------------------------------- the loop
    def tick(self, stopping, render_page=False) -> int:
        """One snapshot (data.json only, unless ``render_page``); an interrupted one publishes nothing."""
        self.ticks += 1
        return B.build(
            self.out,
            self.config_path,
            self.chronyc,
            self.socket,
            self.state_dir,
            render_page=render_page,
            cancelled=stopping,
        )

    def run(self, stopping, on_tick=None) -> int:
        """Until ``stopping()`` is true (checked before each step; wake the
        loop with ``self.waker`` after it changes)."""
        try:
            self._load_config()
        except C.ConfigError as e:
            self.log(str(e))
            return 2
        self.tick(stopping)
        if stopping():
            return 0
        self.render_page("start")
        if on_tick:
            on_tick(self)
        next_tick = time.monotonic() + self.interval
        try:
            while not stopping():
                now = time.monotonic()
                if now >= next_tick:
                    self.tick(stopping)
                    if on_tick:
                        on_tick(self)
                    next_tick += self.interval
                    now = time.monotonic()
                    if next_tick <= now:  # fell behind (a slow tick): no burst of catch-up runs
                        next_tick = now + self.interval
                due = self._render_due(now)
                if due == 0.0:
                    self.render_page("templates, assets or config changed")
                    continue
                wait = next_tick - now if due is None else min(next_tick, due) - now
                if wait > 0 and not stopping():
                    self.waker.wait(wait)
        finally:
            self._stop_observer()
        return 0


def watch(out, config_path=None, chronyc=None, socket=None, state_dir=None, interval=1.0) -> int:
    """`chrony-snap watch`: run until SIGTERM/SIGINT."""
    try:
        interval = check_interval(interval)
    except ValueError as e:
        _log(f"watch: {e}")
        return 2
    with Shutdown() as shutdown:
        w = Watcher(out, config_path, chronyc, socket, state_dir, interval, waker=shutdown.waker)
        _log(
            f"watch: a snapshot into {out} every {interval:g} s; re-rendering the page when "
            "templates, assets or the config change (Ctrl-C to stop)"
        )
        rc = w.run(shutdown)
    if rc == 0:
        _log(f"watch: stopped after {w.ticks} snapshots")
    return rc
