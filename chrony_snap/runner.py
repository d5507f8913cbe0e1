"""Run several commands at once, each with its own deadline (I/O edge).

Uses posix_spawn and poll directly: ``subprocess`` costs more to import than
the whole per-second tick may spend on it.  A command still running at its
deadline, or printing more than its output cap, is killed (SIGKILL) and
reported (timed_out / overflow); its partial output is discarded by the
caller.  The deadline bounds the whole command, not only its output: one that
closes its pipes and keeps running is killed too (a pidfd tells when it exits).
"""

import os
import select
import time

SIGKILL = 9  # the signal module would import enum


class Result:
    __slots__ = ("name", "rc", "out", "err", "timed_out", "overflow", "spawn_error", "cpu_s")

    def __init__(self, name):
        self.name = name
        self.rc = None
        self.out = b""
        self.err = b""
        self.timed_out = False
        self.overflow = False
        self.spawn_error = None
        self.cpu_s = 0.0  # the child's user+system CPU, once reaped

    def __repr__(self):
        return (
            f"Result({self.name!r}, rc={self.rc}, timed_out={self.timed_out}, overflow={self.overflow}, "
            f"spawn_error={self.spawn_error!r}, out={self.out[:60]!r}, err={self.err[:60]!r})"
        )


_WHICH = {}


def which(name: str) -> str | None:
    """PATH lookup like shutil.which, without importing shutil.  Only a hit is
    remembered: a chronyc installed after a long-running `watch` started is
    found on the next tick."""
    found = _WHICH.get(name)
    if found is not None and os.access(found, os.X_OK):
        return found
    found = None
    if "/" in name:
        found = name if os.access(name, os.X_OK) and not os.path.isdir(name) else None
    else:
        for d in os.get_exec_path():
            p = os.path.join(d, name)
            if os.access(p, os.X_OK) and not os.path.isdir(p):
                found = p
                break
    if found is None:
        _WHICH.pop(name, None)
    else:
        _WHICH[name] = found
    return found


def _env():
    env = dict(os.environ)  # as it is now: a long-running caller may have changed it
    env["LC_ALL"] = "C"
    return env


def run_all(jobs, sinks=None):
    """jobs: iterable of (name, argv, timeout_s, output cap). Returns {name: Result}."""
    with start(jobs) as running:
        return running.wait(sinks)


class _Child:
    __slots__ = ("res", "pid", "deadline", "cap", "out_fd", "err_fd", "fds", "pidfd", "size", "chunks", "err_chunks")

    def __init__(self, res, pid, deadline, cap, ro, re_):
        self.res, self.pid, self.deadline, self.cap = res, pid, deadline, cap
        self.out_fd, self.err_fd = ro, re_
        self.fds = {ro, re_}
        try:
            self.pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = None  # old kernel: poll waitpid(WNOHANG) instead
        self.size = 0
        self.chunks, self.err_chunks = [], []


class Running:
    """Commands started by start(); wait() collects them.  As a context
    manager, whatever is still running on exit is killed and reaped."""

    def __init__(self):
        self.results = {}
        self.children = []
        self.t0 = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for ch in self.children:
            if ch.res.rc is None:
                _kill(ch.pid)
                _reap(ch, block=True)
            _close_all(ch)
        self.children = []

    def wait(self, sinks=None):
        """Read every command's output until it exits or passes its deadline
        (then it is killed and marked timed out) or prints more than its cap
        (killed, marked overflow).

        sinks: {name: callable(bytes)} receives that command's stdout as it
        arrives (so its consumer works while the command still runs) instead
        of collecting it in Result.out.  A sink must not raise."""
        sinks = sinks or {}
        poller = select.poll()
        owner = {}  # fd -> (child, is stdout, sink)
        for ch in self.children:
            owner[ch.out_fd] = (ch, True, sinks.get(ch.res.name))
            owner[ch.err_fd] = (ch, False, None)
            for fd in ch.fds:
                poller.register(fd, select.POLLIN)
            if ch.pidfd is not None:
                owner[ch.pidfd] = (ch, None, None)
                poller.register(ch.pidfd, select.POLLIN)
        live = [ch for ch in self.children if ch.res.rc is None]
        changed, next_deadline = True, 0.0
        while live:
            now = time.monotonic()
            if changed or now >= next_deadline:
                for ch in live:
                    if ch.res.rc is not None:
                        continue
                    if now >= ch.deadline:
                        ch.res.timed_out = True
                        _stop(ch, poller, owner)
                    elif not ch.fds and ch.pidfd is None:
                        _reap(ch, block=False)  # no pidfd (old kernel): look again soon
                live = [ch for ch in live if ch.res.rc is None]
                if not live:
                    break
                next_deadline = min(ch.deadline for ch in live)
                if any(not ch.fds and ch.pidfd is None for ch in live):
                    next_deadline = min(next_deadline, now + 0.01)
                changed = False
            for fd, _ev in poller.poll(max(0, int((next_deadline - now) * 1000) + 1)):
                if fd not in owner:
                    continue
                ch, is_out, sink = owner[fd]
                if is_out is not None:
                    data = os.read(fd, 262144)
                    if data:
                        ch.size += len(data)
                        if ch.size > ch.cap:
                            ch.res.overflow = True
                            _stop(ch, poller, owner)
                            changed = True
                        elif not is_out:
                            ch.err_chunks.append(data)
                        elif sink is None:
                            ch.chunks.append(data)
                        else:
                            sink(data)
                        continue
                    ch.fds.discard(fd)
                    os.close(fd)
                # end of output, or the pidfd saying the process exited
                poller.unregister(fd)
                del owner[fd]
                if not ch.fds:
                    _reap(ch, block=False)
                    changed = True
        for ch in self.children:
            _close_all(ch)
            ch.res.out = b"".join(ch.chunks)
            ch.res.err = b"".join(ch.err_chunks)
        self.children = []
        return self.results


def _stop(ch, poller, owner):
    """Kill a child that ran out of time or room, and reap it."""
    _kill(ch.pid)
    for fd in [k for k, v in owner.items() if v[0] is ch]:
        poller.unregister(fd)
        del owner[fd]
    _close_all(ch)
    _reap(ch, block=True)


def _kill(pid):
    try:
        os.kill(pid, SIGKILL)
    except ProcessLookupError:
        pass


def _reap(ch, block):
    if ch.res.rc is not None:
        return
    pid, status, usage = os.wait4(ch.pid, 0 if block else os.WNOHANG)
    if pid:
        ch.res.rc = os.waitstatus_to_exitcode(status)
        ch.res.cpu_s = usage.ru_utime + usage.ru_stime


def _close_all(ch):
    for fd in ch.fds:
        os.close(fd)
    ch.fds = set()
    if ch.pidfd is not None:
        os.close(ch.pidfd)
        ch.pidfd = None


def start(jobs) -> Running:
    """Start every job at once: (name, argv, timeout_s, output cap in bytes);
    output waits in pipes."""
    run = Running()
    env = _env()
    for name, argv, timeout, cap in jobs:
        res = Result(name)
        run.results[name] = res
        exe = which(argv[0])
        if exe is None:
            res.spawn_error = f"{argv[0]}: command not found"
            continue
        ro, wo = os.pipe()
        re_, we = os.pipe()
        try:
            pid = os.posix_spawn(
                exe,
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, wo, 1),
                    (os.POSIX_SPAWN_DUP2, we, 2),
                ],
            )
        except OSError as e:
            res.spawn_error = f"{argv[0]}: {e.strerror or e}"
            for fd in (ro, wo, re_, we):
                os.close(fd)
            continue
        os.close(wo)
        os.close(we)
        run.children.append(_Child(res, pid, run.t0 + timeout, cap, ro, re_))
    return run
