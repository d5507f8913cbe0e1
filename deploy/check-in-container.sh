#!/bin/bash
# Developer check, not needed for an install: boot THIS machine's OS in a
# throw-away systemd-nspawn container and install chrony-snap there exactly as
# docs/production.md says (sysusers, tmpfiles, config, chrony drop-in, units,
# timer), then measure it under a real systemd:
#   * the timer's cadence, the unit's result and the snapshot's content,
#   * `systemd-analyze security chrony-snap.service` (online),
#   * journal lines per minute with the unit's LogLevelMax=,
#   * systemd's own CPU (PID 1 + journald) per activation of the timer's run,
#   * then the long-running watch drop-in instead of the timer: its cadence
#     and systemd's CPU per second.
#
#   deploy/check-in-container.sh [PYTHON]     (root; Debian/Ubuntu host)
#
# PYTHON: an interpreter that can import jinja2 and watchdog (default: .venv/bin/python).
# Safety: the host's root is mounted read-only under a tmpfs overlay (nothing
# written to the host), the container has a private network with only a
# loopback interface (nothing leaves it), its chronyd runs with -x (never
# touches the clock) and serves only its local clock, every service enabled on
# the host except chrony is left out, and everything is removed at the end.
# Needs: systemd-nspawn (apt-get install systemd-container), overlayfs.
set -euo pipefail

here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
py=${1:-"$here/.venv/bin/python"}
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "systemd-nspawn missing: apt-get install systemd-container" >&2; exit 1; }
sp=$("$py" -c 'import jinja2, markupsafe, watchdog, os; print(os.path.dirname(os.path.dirname(jinja2.__file__)))')

work=$(mktemp -d /tmp/cs-nspawn-XXXXXX)
machine="cs-check-$$"
nspawn_pid=""
cleanup() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid" 2>/dev/null || true   # nspawn halts the container
        for _ in $(seq 300); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$nspawn_pid" 2>/dev/null && kill -TERM "$nspawn_pid"  # second TERM: immediate
        wait "$nspawn_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/boot.sh" <<'BOOT'
#!/bin/bash
# runs in a private mount namespace: overlay root, prepare, boot
set -euo pipefail
work=$1 here=$2 sp=$3 machine=$4
mkdir -p "$work/t" "$work/root"
mount -t tmpfs -o size=1g tmpfs "$work/t"
mkdir -p "$work/t/upper" "$work/t/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/t/upper,workdir=$work/t/work" "$work/root"
M=$work/root
systemd-id128 new > "$M/etc/machine-id"
# only what we need runs in the container
find "$M/etc/systemd/system" -path '*.wants/*' -delete
ln -s /lib/systemd/system/chrony.service "$M/etc/systemd/system/multi-user.target.wants/chrony.service"
# chrony-snap "installed" from this checkout (the container has no network for pip)
lib=$M/usr/local/lib/chrony-snap
mkdir -p "$lib"
cp -r "$here/chrony_snap" "$here/templates" "$here/assets" "$sp/jinja2" "$sp/markupsafe" "$sp/watchdog" "$lib/"
# byte-compiled anew, as pip leaves an install (docs/production.md): the unit cannot write __pycache__
find "$lib" -name __pycache__ -prune -exec rm -rf {} +
python3 -m compileall -q "$lib" >/dev/null
chmod -R a+rX "$lib"
# the shipped launcher (scripts/chrony-snap), with the copy's path
printf '#!/usr/bin/python3\nimport sys\nsys.path.insert(0, "/usr/local/lib/chrony-snap")\nfrom chrony_snap.cli import run\nrun()\n' > "$M/usr/local/bin/chrony-snap"
chmod 755 "$M/usr/local/bin/chrony-snap"
mkdir -p "$M/root/cs"
cp -r "$here/chrony-snap.service" "$here/chrony-snap.timer" "$here/deploy" "$M/root/cs/"
# chronyd: local clock only, never touches the system clock
printf 'local stratum 10\nallow 127.0.0.0/8\nallow ::1\ndriftfile /var/lib/chrony/chrony.drift\nratelimit interval 1 burst 4\nclientloglimit 16777216\n' > "$M/etc/chrony/chrony.conf"
echo 'DAEMON_OPTS="-F 1 -x"' > "$M/etc/default/chrony"
mkdir -p "$M/etc/systemd/system/chrony.service.d"
printf '[Unit]\nConditionCapability=\n' > "$M/etc/systemd/system/chrony.service.d/zz-container.conf"
exec systemd-nspawn -D "$M" --private-network --register=no --keep-unit --console=pipe -M "$machine" -b
BOOT
chmod +x "$work/boot.sh"

unshare -m --propagation private "$work/boot.sh" "$work" "$here" "$sp" "$machine" > "$work/boot.log" 2>&1 &
# unshare execs boot.sh, which execs systemd-nspawn: same pid
nspawn_pid=$!
for _ in $(seq 300); do
    [ "$(cat /proc/$nspawn_pid/comm 2>/dev/null)" = systemd-nspawn ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || { cat "$work/boot.log"; echo "boot failed" >&2; exit 1; }
    sleep 0.1
done
init=""
for _ in $(seq 150); do
    init=$(cat "/proc/$nspawn_pid/task/$nspawn_pid/children" 2>/dev/null | awk '{print $1}')
    if [ -n "$init" ] && nsenter -t "$init" -a systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded'; then break; fi
    sleep 0.2
done
cin() { nsenter -t "$init" -a "$@"; }
echo "== container up (init pid $init): $(cin systemctl is-system-running)"

echo "== install, as docs/production.md"
cin bash -euxc '
cd /root/cs
install -D -m 0644 deploy/sysusers.d/chrony-snap.conf /etc/sysusers.d/chrony-snap.conf
systemd-sysusers chrony-snap.conf
install -D -m 0644 deploy/tmpfiles.d/chrony-snap.conf /etc/tmpfiles.d/chrony-snap.conf
systemd-tmpfiles --create chrony-snap.conf
install -D -m 0644 deploy/config.toml /etc/chrony-snap/config.toml
install -D -m 0644 deploy/chrony.service.d/chrony-snap.conf /etc/systemd/system/chrony.service.d/chrony-snap.conf
systemctl daemon-reload
systemctl restart chrony
stat -c "%A %U:%G %n" /run/chrony /run/chrony/chronyd.sock /run/chrony-snap /run/chrony-snap/chronyd.sock
# the service user and group may use the socket, not replace it or chronyd.pid
as_snap() { setpriv --reuid=chrony-snap --regid=chrony-snap --groups=_chrony "$@"; }
for f in /run/chrony/chronyd.sock /run/chrony/chronyd.pid; do
    if as_snap rm -f "$f"; then echo "chrony-snap could remove $f" >&2; exit 1; fi
done
if as_snap touch /run/chrony/planted; then echo "chrony-snap could write /run/chrony" >&2; exit 1; fi
install -m 0644 chrony-snap.service chrony-snap.timer /etc/systemd/system/
systemctl daemon-reload
systemctl start chrony-snap.service
systemctl enable --now chrony-snap.timer
'
echo "== traffic: 500 clients"
cin env PYTHONPATH=/usr/local/lib/chrony-snap python3 -c '
from chrony_snap.harness.sandbox import populate
class S: ntp_port, cmd_port = 123, 323
print(len(populate(S, clients=500, limited=5, cmd=0)), "clients sent")'

seq_now() { cin python3 -c 'import json; print(json.load(open("/var/www/chrony-snap/data.json"))["seq"])'; }
# systemd's own CPU (PID 1 + journald, utime+stime in clock ticks) inside the container
sysd_ticks() {
    cin bash -c 'j=$(systemctl show -p MainPID --value systemd-journald); for p in 1 $j; do cut -d" " -f14,15 /proc/$p/stat; done' |
        awk '{ s += $1 + $2 } END { print s }'
}
# over $1 seconds: "SNAPSHOTS SECONDS MS_OF_SYSTEMD_CPU"
window() {
    local s1 t1 c1 s2 t2 c2
    s1=$(seq_now); t1=$(date +%s.%N); c1=$(sysd_ticks)
    sleep "$1"
    s2=$(seq_now); t2=$(date +%s.%N); c2=$(sysd_ticks)
    echo "$((s2 - s1)) $(python3 -c "print(round($t2 - $t1, 2))") $((1000 * (c2 - c1) / $(getconf CLK_TCK)))"
}
sleep 2
read -r runs secs cpu_ms < <(window 30)
echo "== cadence: $runs snapshots in $secs s"
echo "== systemd (PID 1 + journald) with the timer: $(python3 -c "print(round($cpu_ms / max($runs, 1), 1))") ms of CPU per activation"
cin python3 -c '
import json; d = json.load(open("/var/www/chrony-snap/data.json"))
print("== data.json: seq", d["seq"], "clients", len(d["clients"]), "errors", d["errors"], "chrony", d["chrony"])
assert d["errors"] == [] and len(d["clients"]) >= 500, "snapshot is wrong"'
echo "== unit: $(cin systemctl show chrony-snap.service -p Result -p NRestarts --value | tr '\n' ' ')"
echo "== failed units: $(cin systemctl --failed --no-legend | wc -l)"
echo "== journal lines from chrony-snap.{service,timer} in the last 30 s: $(cin journalctl --since=-30s -q -o cat -u chrony-snap.service -u chrony-snap.timer | wc -l)"
cin systemd-analyze security chrony-snap.service | tail -1
exposure=$(cin systemd-analyze security chrony-snap.service | sed -n 's/.*Overall exposure level for chrony-snap.service: \([0-9.]*\).*/\1/p')

echo "== the long-running watch instead of the timer (deploy/chrony-snap.service.d/watch.conf)"
cin bash -euxc '
cd /root/cs
systemctl disable --now chrony-snap.timer
systemctl stop chrony-snap.service
install -D -m 0644 deploy/chrony-snap.service.d/watch.conf /etc/systemd/system/chrony-snap.service.d/watch.conf
systemctl daemon-reload
systemctl add-wants multi-user.target chrony-snap.service
systemctl start chrony-snap.service
'
sleep 3
read -r wruns wsecs wcpu_ms < <(window 20)
echo "== watch: $wruns snapshots in $wsecs s; unit $(cin systemctl show chrony-snap.service -p Type -p ActiveState -p NRestarts | tr '\n' ' ')"
cin journalctl -q -o short-monotonic -u chrony-snap.service --since=-40s | tail -n 15
echo "== systemd (PID 1 + journald) with the watch: $(python3 -c "print(round($wcpu_ms / $wsecs, 1))") ms of CPU per second"
cin python3 -c '
import json; d = json.load(open("/var/www/chrony-snap/data.json"))
print("== data.json (watch): seq", d["seq"], "clients", len(d["clients"]), "errors", d["errors"])
assert d["errors"] == [] and len(d["clients"]) >= 500, "snapshot is wrong"'
python3 - "$runs" "$secs" "$exposure" "$wruns" "$wsecs" <<'PY'
import sys
runs, secs, exposure, wruns, wsecs = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
ok = runs >= 0.8 * secs and exposure < 2.0 and wruns >= 0.8 * wsecs
print("== RESULT:", "OK" if ok else "FAILED", f"({runs / secs:.2f} runs/s, exposure {exposure}, watch {wruns / wsecs:.2f} runs/s)")
sys.exit(0 if ok else 1)
PY
