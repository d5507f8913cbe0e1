"""Command line: a thin layer that parses options and dispatches to plain
command functions (build.build, watch.watch, ...).

A small hand-written option parser instead of argparse: `build` runs every
second and argparse alone costs about as much CPU as the rest of start-up.
"""

import sys

USAGE = """usage: chrony-snap COMMAND [OPTIONS]

commands:
  build         take one snapshot: write OUT/data.json (and the page when needed), exit
  watch         take a snapshot every --interval seconds; re-render the page when
                templates, assets or the config change (for hosts without systemd)
  nginx-config  print an nginx server block for the web root
  demo          run a private chronyd with synthetic clients, the snapshot loop and
                nginx on 127.0.0.1, until Ctrl-C
  schema        print the path of the data.json JSON Schema
  history export  print the history (trends) kept by build, as CSV or JSON

run 'chrony-snap COMMAND --help' for the options of a command.
"""

COMMON = {
    "--config": (
        "config_path",
        str,
        "FILE",
        "TOML configuration file (default /etc/chrony-snap/config.toml if it exists)",
    ),
    "--chronyc": ("chronyc", str, "PATH", "chronyc binary (config chrony.chronyc; default chronyc on PATH)"),
    "--socket": (
        "socket",
        str,
        "PATH",
        "chronyd's Unix command socket, chronyc -h (config chrony.socket; default /run/chrony/chronyd.sock)",
    ),
    "--state": ("state_dir", str, "DIR", "state between runs: seq, counters, DNS cache (default /var/lib/chrony-snap)"),
}

COMMANDS = {
    "build": (
        {"--out": ("out", str, "DIR", "web root to write data.json, index.html and assets/ into (required)"), **COMMON},
        ["out"],
    ),
    "watch": (
        {
            "--out": ("out", str, "DIR", "web root (required)"),
            **COMMON,
            "--interval": ("interval", float, "SECONDS", "seconds between snapshots (default 1)"),
        },
        ["out"],
    ),
    "nginx-config": (
        {
            "--root": ("root", str, "DIR", "the web root chrony-snap writes (required)"),
            "--listen": ("listen", str, "ADDR", "nginx listen directive (default 80)"),
            "--server-name": ("server_name", str, "NAME", "server_name (default _)"),
            "--poll-log": ("poll_log", str, "FILE", "the page polls' access log (clients.poll_log; default in README)"),
        },
        ["root"],
    ),
    "demo": (
        {
            "--port": ("port", int, "PORT", "HTTP port on 127.0.0.1 (default 8080)"),
            "--clients": ("clients", int, "N", "synthetic NTP clients (default 300)"),
            "--flap-s": ("flap_s", int, "S", "one upstream is stopped, then started, every S seconds (default 60)"),
            "--dir": (
                "dir",
                str,
                "DIR",
                "working directory, kept afterwards (default: a new one under /tmp, removed on exit)",
            ),
        },
        [],
    ),
    "schema": ({}, []),
    "history export": (
        {
            "--since": ("since", str, "TIME", "from (epoch s, RFC 3339 UTC, now, -N[smhd]; default -1h)"),
            "--until": ("until", str, "TIME", "to (same forms; default now)"),
            "--tier": ("tier", str, "TIER", "1s, 1m, 1h or auto: the finest that holds --since (default)"),
            "--format": ("format", str, "FMT", "csv (default) or json"),
            "--config": COMMON["--config"],
            "--state": COMMON["--state"],
        },
        [],
    ),
}


class UsageError(Exception):
    pass


def parse_args(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        raise UsageError(USAGE)
    if argv[0] in ("-V", "--version"):
        from chrony_snap import __version__

        print(f"chrony-snap {__version__}")
        raise SystemExit(0)
    cmd = argv[0]
    if cmd == "history" and argv[1:2] == ["export"]:  # the one command with a sub-command
        cmd, argv = "history export", [None] + argv[2:]
    if cmd not in COMMANDS:
        raise UsageError(f"chrony-snap: unknown command {cmd!r}\n\n{USAGE}")
    spec, required = COMMANDS[cmd]
    opts = {dest: None for dest, *_ in spec.values()}
    args = argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            raise UsageError(command_help(cmd))
        name, eq, value = a.partition("=")
        if name not in spec:
            raise UsageError(f"chrony-snap {cmd}: unknown option {a!r}\n\n{command_help(cmd)}")
        dest, conv, metavar, _ = spec[name]
        if not eq:
            i += 1
            if i >= len(args):
                raise UsageError(f"chrony-snap {cmd}: {name} needs a value ({metavar})")
            value = args[i]
        try:
            opts[dest] = conv(value)
        except ValueError:
            raise UsageError(f"chrony-snap {cmd}: {name}: invalid value {value!r}") from None
        i += 1
    for dest in required:
        if opts[dest] is None:
            flag = next(k for k, v in spec.items() if v[0] == dest)
            raise UsageError(f"chrony-snap {cmd}: {flag} is required\n\n{command_help(cmd)}")
    return cmd, opts


def command_help(cmd):
    spec, required = COMMANDS[cmd]
    lines = [
        f"usage: chrony-snap {cmd} "
        + " ".join((f"{k} {v[2]}" if v[0] in required else f"[{k} {v[2]}]") for k, v in spec.items())
    ]
    for k, v in spec.items():
        lines.append(f"  {k} {v[2]}\n      {v[3]}")
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        cmd, o = parse_args(argv)
    except UsageError as e:
        text = str(e)
        helpful = text.startswith("usage:")
        (sys.stdout if helpful else sys.stderr).write(text + "\n")
        return 0 if helpful else 2
    if cmd == "build":
        from chrony_snap.build import build

        return build(o["out"], o["config_path"], o["chronyc"], o["socket"], o["state_dir"])
    if cmd == "watch":
        from chrony_snap.watch import watch

        return watch(
            o["out"],
            o["config_path"],
            o["chronyc"],
            o["socket"],
            o["state_dir"],
            1.0 if o["interval"] is None else o["interval"],
        )
    if cmd == "nginx-config":
        from chrony_snap.nginx import DEFAULT_POLL_LOG, site_config

        try:
            poll_log = o["poll_log"] or DEFAULT_POLL_LOG
            text = site_config(o["root"], o["listen"] or "80", o["server_name"] or "_", poll_log)
        except ValueError as e:
            sys.stderr.write(f"chrony-snap nginx-config: {e}\n")
            return 2
        sys.stdout.write(text)
        return 0
    if cmd == "demo":
        from chrony_snap.demo import demo

        return demo(port=o["port"] or 8080, clients=o["clients"] or 300, workdir=o["dir"], flap_s=o["flap_s"] or 60)
    if cmd == "history export":
        from chrony_snap.history_export import main as export

        return export(o["config_path"], o["state_dir"], o["since"], o["until"], o["tier"], o["format"])
    if cmd == "schema":
        from chrony_snap.schema import SCHEMA_PATH

        print(SCHEMA_PATH)
        return 0
    return 2


def run():
    """The process's entry (scripts/chrony-snap, python -m chrony_snap)."""
    rc = main()
    if sys.argv[1:2] == ["build"]:
        # Run every second: skip the interpreter's teardown (~2 ms a tick, far
        # more after a large client list).  build() has closed its files and
        # reaped its children by now; its only threads are reverse-DNS
        # lookups, daemon threads whose answers it no longer waits for.
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    raise SystemExit(rc)
