"""Run several commands at once, each with its own deadline (I/O edge).

Uses posix_spawn and poll directly: ``subprocess`` costs more to import than
the whole per-second tick may spend on it.  A command still running at its
deadline is killed (SIGKILL) and reported as timed out; its partial output is
discarded by the caller.
"""

import os
import select
import time

_ENV = None


class Result:
    __slots__ = ("name", "argv", "rc", "out", "err", "timed_out", "spawn_error", "elapsed",
                 "out_chunks", "err_chunks")

    def __init__(self, name, argv):
        self.name = name
        self.argv = argv
        self.rc = None
        self.out = b""
        self.err = b""
        self.timed_out = False
        self.spawn_error = None
        self.elapsed = 0.0

    def __repr__(self):
        return (f"Result({self.name!r}, rc={self.rc}, timed_out={self.timed_out}, "
                f"spawn_error={self.spawn_error!r}, out={self.out[:60]!r}, err={self.err[:60]!r})")


_WHICH = {}


def which(name: str) -> str | None:
    """PATH lookup like shutil.which, without importing shutil (once per name)."""
    if name in _WHICH:
        return _WHICH[name]
    found = None
    if "/" in name:
        found = name if os.access(name, os.X_OK) else None
    else:
        for d in os.get_exec_path():
            p = os.path.join(d, name)
            if os.access(p, os.X_OK) and not os.path.isdir(p):
                found = p
                break
    _WHICH[name] = found
    return found


def _env():
    global _ENV
    if _ENV is None:
        env = dict(os.environ)
        env["LC_ALL"] = "C"
        _ENV = env
    return _ENV


def run_all(jobs, sinks=None):
    """jobs: iterable of (name, argv, timeout_s). Returns {name: Result}."""
    return start(jobs).wait(sinks)


class Running:
    """Commands started by start(); wait() collects them."""

    def __init__(self):
        self.results = {}
        self.live = {}      # pid -> (result, deadline, stdout fd, stderr fd)
        self.t0 = time.monotonic()

    def wait(self, sinks=None):
        """Read every command's output until it exits or passes its deadline
        (then it is killed with SIGKILL and marked timed out).

        sinks: {name: callable(bytes)} receives that command's stdout as it
        arrives (so its consumer works while the command still runs) instead
        of collecting it in Result.out.  A sink must not raise."""
        sinks = sinks or {}
        poller = select.poll()
        fdmap = {}      # fd -> (chunks, sink or None)
        deadline_of = {}
        for pid, (res, deadline, ro, re_) in self.live.items():
            res.out_chunks, res.err_chunks = [], []
            fdmap[ro] = (res.out_chunks, sinks.get(res.name))
            fdmap[re_] = (res.err_chunks, None)
            deadline_of[pid] = deadline
            poller.register(ro, select.POLLIN)
            poller.register(re_, select.POLLIN)
        open_fds = set(fdmap)
        while open_fds:
            now = time.monotonic()
            for pid, (res, deadline, ro, re_) in self.live.items():
                if not res.timed_out and now >= deadline and (ro in open_fds or re_ in open_fds):
                    res.timed_out = True
                    try:
                        os.kill(pid, 9)  # SIGKILL (the signal module would import enum)
                    except ProcessLookupError:
                        pass
                    for fd in (ro, re_):
                        if fd in open_fds:
                            poller.unregister(fd)
                            os.close(fd)
                            open_fds.discard(fd)
            if not open_fds:
                break
            next_deadline = min(d for (r, d, ro, re_) in self.live.values() if ro in open_fds or re_ in open_fds)
            wait_ms = max(0, int((next_deadline - now) * 1000) + 1)
            for fd, _ev in poller.poll(wait_ms):
                if fd not in open_fds:
                    continue
                data = os.read(fd, 262144)
                if data:
                    chunks, sink = fdmap[fd]
                    if sink is None:
                        chunks.append(data)
                    else:
                        sink(data)
                else:
                    poller.unregister(fd)
                    os.close(fd)
                    open_fds.discard(fd)
        for pid, (res, deadline, ro, re_) in self.live.items():
            _, status = os.waitpid(pid, 0)
            res.rc = os.waitstatus_to_exitcode(status)
            res.out = b"".join(res.out_chunks)
            res.err = b"".join(res.err_chunks)
            res.elapsed = time.monotonic() - self.t0
        self.live = {}
        return self.results


def start(jobs) -> Running:
    """Start every job at once: (name, argv, timeout_s); output waits in pipes."""
    run = Running()
    for name, argv, timeout in jobs:
        res = Result(name, argv)
        run.results[name] = res
        exe = which(argv[0])
        if exe is None:
            res.spawn_error = f"{argv[0]}: command not found"
            continue
        ro, wo = os.pipe()
        re_, we = os.pipe()
        try:
            pid = os.posix_spawn(exe, argv, _env(), file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, wo, 1),
                (os.POSIX_SPAWN_DUP2, we, 2),
            ])
        except OSError as e:
            res.spawn_error = f"{argv[0]}: {e.strerror or e}"
            for fd in (ro, wo, re_, we):
                os.close(fd)
            continue
        os.close(wo)
        os.close(we)
        run.live[pid] = (res, run.t0 + timeout, ro, re_)
    return run
