"""Property-style fuzz of every chronyc parser and of whole ticks (issue 12,
"Done when"): random and mutated rows built from the captured fixtures, with
Unicode digits, signs, huge numbers, odd whitespace, extra or missing commas,
NUL, very long lines, empty output and status lines.

Properties: no parser raises, and whatever it returns lands in data.json as
the shipped JSON Schema describes it; no tick raises, and every tick
publishes a schema-valid data.json.

Deterministic: stdlib `random` with fixed seeds.  A failure names the seed;
`python tests/test_fuzz.py REPORT SEED` prints that case's input.
"""

import json
import random
import sys

import jsonschema
import pytest

from chrony_snap import clients, config, parse, snapshot
from chrony_snap.jsonenc import dumps
from chrony_snap.schema import load as load_schema
from helpers import FIX, read_snapshot, write_config

SCHEMA = load_schema()
VALIDATORS = {k: jsonschema.Draft202012Validator(v) for k, v in SCHEMA["properties"].items()}
RULE = config.validate({"status": {"preset": "default"}})["status"]
CASES = 2000  # per report


def _lines(name):
    return [line for line in (FIX / name).read_text().splitlines() if line]


# Valid rows per report: captured ones, and what other chrony versions and setups print
SEEDS = {
    "tracking": _lines("tracking_c.csv")
    + _lines("tracking_server_c.csv")
    + [
        "50505300,PPS,1,1795687805.123456789,0.000000012,-0.000000034,0.000000100,-12.345,0.001,0.002,"
        "0.000000000,0.000010000,16.0,Insert second",
        "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,"
        "1.000000000,0.0,Not synchronised",
    ],
    "sources": _lines("sources_c.csv")
    + [
        "#,*,PPS,0,4,377,12,-0.000000120,-0.000000130,0.000000200",
        "^,?,2001:db8::1,0,-6,0,4294967295,0.000000000,0.000000000,0.000000000",
        "=,x,192.0.2.7,16,24,1,3,-1.500000000,-1.500000001,2.000000000",
    ],
    "sourcestats": _lines("sourcestats_c.csv")
    + [
        "PPS,64,33,63,-0.000,0.001,-0.000000001,0.000000030",
        "2001:db8::1,0,0,0,0.000,0.000,0.000000000,4000.000000000",
    ],
    "serverstats": _lines("serverstats_c.csv")
    + [
        "42,10,69,31,0",
        "42,10,69,31,0,3,1,189",
        "18446744073709551615,10,69,31,0,3,0,189,43,44,120,0,330,330,0,7,8",
    ],
    "activity": _lines("activity_c.csv") + _lines("activity_server_c.csv") + ["4294967295,1,2,3,4"],
    "clients": _lines("clients_c_n.csv") + _lines("clients_1000_c_n.csv")[:40],
    "clients_-k": _lines("clients_c_n_k.csv"),
}
STATUS_LINES = [
    "200 OK",
    "501 Not authorised",
    "506 Cannot talk to daemon",
    "519 Client logging is not active in the daemon",
    "5\u0663\u0663 Odd",
    "999 Nine",
]
TOKENS = [
    "",
    " ",
    "0",
    "-0",
    "+0",
    "-1",
    "+1",
    "--1",
    "1-",
    "00",
    "007",
    "-",
    ".",
    "-.5",
    ".5",
    "5.",
    "1.2.3",
    "\u0663",
    "\u00b2",
    "\u0661\u0661",
    "\u07c0",
    "\U0001d7d7",
    "\u0663.\u0663",
    "0.\u0663",
    "\uff11",
    "9" * 19,
    "9" * 20,
    "9" * 21,
    str(2**32 - 1),
    str(2**32),
    str(2**63),
    str(2**64 - 1),
    str(2**64),
    "9" * 400,
    "9" * 5000,
    "0." + "1" * 10,
    "1" * 20 + ".5",
    "1" * 21 + ".5",
    "1e5",
    "1E5",
    "1e999",
    "-1e999",
    "1e-999",
    "inf",
    "-inf",
    "nan",
    "NaN",
    "Infinity",
    "0x10",
    "1_000",
    "0o17",
    "0b1",
    " 1",
    "1 ",
    "\t1",
    "1\x00",
    "\x00",
    "\x0b",
    "\u00a0",
    "1\u2028",
    "\r",
    "127.0.0.1",
    "::1",
    "::ffff:192.0.2.1",
    "a" * 45,
    "a" * 46,
    "evil.example.com",
    "<script>",
    "\"'\\",
    "Normal",
    "Not synchronised",
    "Invalid",
    "PPS",
    "GPS,",
    "#",
    "*",
    "^",
    "?",
    "x",
    "~",
    "=",
    "+",
    "127",
    "126",
    "-32",
    "-33",
    "32",
    "4294967295",
    "-5",
    "-6",
    "-7",
    "-8",
    "24",
    "25",
    "20000",
    "377",
    "400",
    "777",
    "7F000001",
    "7f000001",
    "7F00000",
    "GGGGGGGG",
    "x" * 20000,
]
ALPHABET = "0123456789-+.eE_x ,\t\x00\u0663\u00b2\u00a0\u2028\u3000\uff10"


def rand_token(rng):
    if rng.random() < 0.7:
        return rng.choice(TOKENS)
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))


def mutate_line(rng, line):
    """One mutation of one row -> (new line, description)."""
    cols = line.split(",")
    i = rng.randrange(len(cols))
    kind = rng.randrange(12)
    if kind <= 4:
        tok = rand_token(rng)
        cols[i] = tok
        return ",".join(cols), f"field {i} = {tok[:20]!r}{'...' if len(tok) > 20 else ''}"
    if kind == 5:
        cols.insert(i, rand_token(rng))
        return ",".join(cols), f"extra field at {i}"
    if kind == 6 and len(cols) > 1:
        del cols[i]
        return ",".join(cols), f"field {i} removed"
    if kind == 7:
        cut = rng.randrange(len(line) + 1)
        return line[:cut], f"cut at {cut}"
    if kind == 8:
        ws = rng.choice([" ", "\t", "\x00", "\u00a0", "\r", "\x0b", "\x1c", "\u2028"])
        pos = rng.randrange(len(line) + 1)
        return line[:pos] + ws + line[pos:], f"{ws!r} at {pos}"
    if kind == 9:
        return rng.choice(STATUS_LINES), "status line"
    if kind == 10:
        return line + "," * rng.randint(1, 3) + "9" * rng.choice([1, 400, 100000]), "long tail"
    j = rng.randrange(len(cols))
    cols[i], cols[j] = cols[j], cols[i]
    return ",".join(cols), f"fields {i}<->{j} swapped"


def mutated_output(report, seed):
    """chronyc's stdout for `report`, mutated -> (text, what was done)."""
    rng = random.Random(f"{report}:{seed}")
    shape = rng.random()
    if shape < 0.03:
        return "", ["empty output"]
    if shape < 0.06:
        return rng.choice(["\n", " \n", "\x00", "\n\n\n"]), ["blank output"]
    lines = [rng.choice(SEEDS[report]) for _ in range(rng.randint(1, 4))]
    done = []
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(lines))
        lines[k], what = mutate_line(rng, lines[k])
        done.append(f"line {k}: {what}")
    if rng.random() < 0.1:
        lines.insert(0, rng.choice(STATUS_LINES))
        done.append("status line first")
    end = rng.choice(["\n", "\n", "\r\n", ""])
    return end.join(lines) + end, done


def check_published(report, value):
    """`value` as jsonenc writes it into data.json, against the schema's part for `report`."""
    VALIDATORS[report].validate(json.loads(dumps(value)))


def check_problems(problems):
    assert isinstance(problems, list) and all(isinstance(p, str) and len(p) < 1000 for p in problems)


REPORTS = ("tracking", "sources", "sourcestats", "serverstats", "activity")
PARSERS = {name: getattr(parse, f"parse_{name}") for name in REPORTS}


def run_cases(report, check):
    failures = []
    for seed in range(CASES):
        text, done = mutated_output(report, seed)
        try:
            check(text, seed)
        except Exception as e:  # noqa: BLE001 - every failure is reported with its seed
            failures.append(f"seed {seed} ({'; '.join(done)}): {type(e).__name__}: {str(e)[:200]}")
    assert not failures, (
        f"{len(failures)} of {CASES} {report} cases failed "
        f"(python tests/test_fuzz.py {report} SEED):\n" + "\n".join(failures[:20])
    )


@pytest.mark.parametrize("report", list(PARSERS))
def test_fuzz_report_parsers(report):
    def check(text, seed):
        value, problems = PARSERS[report](text)
        check_problems(problems)
        check_published(report, value)
        if report == "serverstats":
            # the next tick's rate math must cope with any two parsed snapshots
            for prev in (value, PARSERS[report](SEEDS[report][-1])[0]):
                check_published("serverstats_rate", snapshot.serverstats_rate(value, prev, 1.0))
                check_published("serverstats_rate", snapshot.serverstats_rate(prev, value, 0.001))

    run_cases(report, check)


def test_fuzz_clients_parsers():
    """The clients report as build() parses it: `clients -k` rows merged into
    the encoder's `clients` rows, over two ticks so the rate math runs."""

    def check(text, seed):
        nts_text, _ = mutated_output("clients_-k", seed)
        nts, problems = clients.parse_nts(nts_text)
        check_problems(problems)
        prev = {}
        for dt in (None, 1.0):
            chunks = []
            enc = clients.ClientEncoder(nts, prev, dt, RULE, {}, None, chunks.append)
            enc.feed_bytes(text.encode())
            summary, prev, problems = enc.finish()
            check_problems(problems)
            VALIDATORS["clients"].validate(json.loads(b"[" + b"".join(chunks) + b"]"))
            check_published("summary", summary)

    run_cases("clients", check)


# Whole ticks: the real CLI, the fake chronyc replaying mutated output of
# every report, the same state directory from tick to tick (rates, caches).
TICKS = 15
CLIENT_PARTS = 8  # mutated outputs joined into one clients reply, so each tick tries many rows


@pytest.mark.parametrize("nts_ke", [False, True], ids=["plain", "nts_ke"])
def test_fuzz_ticks(tmp_path, fake, nts_ke):
    cfg = write_config(
        tmp_path / "c.toml",
        f"[chrony]\nreports_deadline_s = 10\nclients_deadline_s = 10\nnts_ke = {'true' if nts_ke else 'false'}\n",
    )
    failures = []
    seq = 0
    for tick in range(TICKS):
        seed = tick + 1000 * nts_ke
        done = {}
        for report in fake.COMMANDS:
            parts = CLIENT_PARTS if report.startswith("clients") else 1
            outs = [mutated_output(report, seed * parts + j) for j in range(parts)]
            fake.set(report, stdout="\n".join(text for text, _ in outs))
            done[report] = [f"seed {seed * parts + j}: {'; '.join(what)}" for j, (_, what) in enumerate(outs)]
        r = fake.build(tmp_path, cfg, check=False)
        try:
            assert r.returncode == 0, f"exit {r.returncode}: {r.stderr.strip().splitlines()[-1:]}"
            doc = read_snapshot(tmp_path / "www")
            assert doc["seq"] > seq, "data.json not published"
            seq = doc["seq"]
        except Exception as e:  # noqa: BLE001 - every failing tick is reported with its seed
            failures.append(
                f"tick seed {seed}: {type(e).__name__}: {str(e)[:300]}\n    "
                + "\n    ".join(f"{k} {w}" for k, v in done.items() for w in v)
            )
    assert not failures, f"{len(failures)} of {TICKS} ticks failed:\n" + "\n".join(failures)


if __name__ == "__main__":
    # python tests/test_fuzz.py REPORT SEED: show one case's input
    name, n = sys.argv[1], int(sys.argv[2])
    out, steps = mutated_output(name, n)
    print("\n".join(steps))
    print(repr(out[:2000]))
