"""p2pns-sim as a real process: the real kbr/ core on simulated overlays built through the
protocol (with signatures on) or from global knowledge, the S/Kademlia attacks, churn and
loss, determinism, the --table/--plot sweep and the command line. Each simulation runs
under a subprocess timeout; node counts are kept small because the join build with crypto
on costs about 100-160 us of CPU per datagram."""
import csv
import json
import re
import shutil
import subprocess

import pytest

from conftest import SANITIZER_RE

# Every field of the JSON line, in the order the program prints them.
FIELDS = ["nodes", "k", "s", "d", "alpha", "c1", "c2", "build", "crypto", "malicious",
          "attack", "want", "lookups", "churn", "seed", "latency_ms", "loss", "success_ratio",
          "successes", "lookups_counted", "mean_hops", "max_hops", "msgs_per_lookup",
          "mean_lookup_ms", "median_lookup_ms", "p99_lookup_ms", "max_lookup_ms", "datagrams", "lost", "joined", "left", "sim_seconds",
          "r", "maintain_ms", "liars", "puts", "puts_ok", "gets", "gets_ok", "gets_wrong",
          "gets_conflict", "gets_empty", "get_success_ratio", "mean_get_ms", "median_get_ms",
          "p99_get_ms", "msgs_per_get", "replicas_min", "replicas_mean", "wall_s", "peak_rss_kb", "bytes_per_node"]
# Measured on the host, not simulated: they differ between two runs of the same command.
MEASURED = {"wall_s", "peak_rss_kb", "bytes_per_node"}
CSV_HEADER = ["d", "malicious", "success_ratio", "mean_hops", "max_hops", "msgs_per_lookup",
              "lookups_counted", "wall_s"]
OPTIONS = ["--nodes", "--k", "--s", "--d", "--alpha", "--c1", "--c2", "--build", "--crypto",
           "--join-interval", "--settle", "--refresh", "--latency", "--loss", "--lookups",
           "--lookup-interval", "--malicious", "--attack", "--churn", "--seed", "--table",
           "--table-d", "--table-max", "--table-step", "--plot", "--r", "--maintain", "--puts",
           "--gets", "--liars", "--churn-span", "--settle-after-churn", "--want", "--help",
           "--version"]

# A small overlay built from global knowledge: what the attack tests start from.
GLOBAL = ["--build", "global", "--crypto", "on"]


def run(sim, *args, timeout=120, expect=0):
    """Runs p2pns-sim; checks the exit status and that no sanitizer spoke."""
    argv = [sim] + [str(a) for a in args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    m = SANITIZER_RE.search(proc.stderr)
    assert m is None, f"{argv}: sanitizer report:\n{proc.stderr[m.start():m.start() + 4000]}"
    assert proc.returncode == expect, \
        f"{argv}: exit status {proc.returncode}, expected {expect}:\n{proc.stderr}"
    return proc


def records(stdout: str) -> list:
    """The JSON lines of an output (and nothing else on stdout)."""
    lines = stdout.splitlines()
    assert lines, "no output"
    out = []
    for line in lines:
        r = json.loads(line)
        assert list(r) == FIELDS, f"fields differ: {list(r)}"
        out.append(r)
    return out


def simulate(sim, *args, timeout=120) -> dict:
    """One run: its single JSON line, checked for internal consistency."""
    rs = records(run(sim, *args, timeout=timeout).stdout)
    assert len(rs) == 1
    r = rs[0]
    assert 0 <= r["successes"] <= r["lookups_counted"] <= r["lookups"]
    if r["lookups_counted"]:
        assert r["success_ratio"] == pytest.approx(r["successes"] / r["lookups_counted"],
                                                   abs=6e-5)
        assert 0.0 <= r["success_ratio"] <= 1.0
    else:
        assert r["success_ratio"] is None
    assert 0 <= r["lost"] <= r["datagrams"]
    if r["successes"]:
        assert 1 <= r["mean_hops"] <= r["max_hops"]
    assert r["wall_s"] >= 0 and r["peak_rss_kb"] > 0
    return r


def simulated(r: dict) -> dict:
    return {k: v for k, v in r.items() if k not in MEASURED}


def show(label: str, r: dict):
    print(f"{label}: success {r['success_ratio']:.4f} ({r['successes']}/{r['lookups_counted']}), "
          f"hops mean {r['mean_hops']:.3f} max {r['max_hops']}, "
          f"{r['msgs_per_lookup']:.1f} msgs/lookup, {r['datagrams']} datagrams "
          f"({r['lost']} lost), {r['sim_seconds']:.1f} s simulated, {r['wall_s']:.2f} s wall")


# ---- the real protocol ---------------------------------------------------------------------

def test_join_build_with_crypto(sim):
    """Every node joins through the protocol with signed messages; all lookups find their
    target over a loss-free network."""
    nodes, lookups = 150, 150
    r = simulate(sim, "--nodes", nodes, "--lookups", lookups, "--seed", 3)
    show("join, 150 nodes", r)
    assert r["build"] == "join" and r["crypto"] == "on"
    assert (r["nodes"], r["lookups"], r["seed"]) == (nodes, lookups, 3)
    assert (r["k"], r["s"], r["d"], r["alpha"], r["c1"], r["c2"]) == (16, 16, 4, 3, 2, 2)
    assert r["malicious"] == 0 and r["churn"] == 0 and r["loss"] == 0
    assert r["success_ratio"] >= 0.99
    assert r["lookups_counted"] == lookups
    assert r["mean_hops"] > 0 and r["max_hops"] >= r["mean_hops"]
    assert r["msgs_per_lookup"] > 0
    assert r["datagrams"] > 0 and r["lost"] == 0
    assert r["joined"] == 0 and r["left"] == 0
    # joins every 100 ms, 120 s to settle, a lookup every 20 ms
    assert r["sim_seconds"] >= nodes * 0.1 + 120 + lookups * 0.02


@pytest.mark.parametrize("args", [
    # through the protocol, with everything that draws random numbers
    ["--nodes", 60, "--lookups", 40, "--churn", 0.1, "--loss", 0.02, "--malicious", 0.1],
    ["--nodes", 300, "--lookups", 100, "--build", "global", "--crypto", "off",
     "--attack", "garbage", "--malicious", 0.2, "--loss", 0.02, "--churn", 0.05],
], ids=["join", "global"])
def test_same_seed_same_result(sim, args):
    first = simulate(sim, *args, "--seed", 7)
    again = simulate(sim, *args, "--seed", 7)
    other = simulate(sim, *args, "--seed", 8)
    show("seed 7", first)
    show("seed 8", other)
    assert simulated(first) == simulated(again)
    assert other["seed"] == 8
    diff = {k for k in FIELDS if k not in MEASURED and first[k] != other[k]}
    assert diff - {"seed"}, "a different seed gave the same simulation"
    assert "datagrams" in diff


def test_crypto_changes_nothing_but_the_cost(sim):
    """Nobody forges a signature in the simulation, so checking them changes no outcome:
    --crypto off gives the same numbers (the reason it is fine for large sweeps)."""
    args = ["--nodes", 200, "--lookups", 100, "--build", "global", "--malicious", 0.2,
            "--attack", "closer", "--seed", 5]
    on = simulate(sim, *args, "--crypto", "on")
    off = simulate(sim, *args, "--crypto", "off")
    assert on["crypto"] == "on" and off["crypto"] == "off"
    assert {**simulated(on), "crypto": "off"} == simulated(off)


# ---- attacks -------------------------------------------------------------------------------

def test_disjoint_paths_resist_the_closer_attack(sim):
    """30% of the nodes answer every FIND_NODE with the malicious nodes closest to the
    target: one path often ends among them, eight disjoint paths do not."""
    args = ["--nodes", 1000, "--lookups", 400, *GLOBAL, "--k", 8, "--alpha", 1,
            "--malicious", 0.3, "--attack", "closer", "--seed", 1]
    d1 = simulate(sim, *args, "--d", 1)
    d8 = simulate(sim, *args, "--d", 8)
    show("closer 0.3, d = 1", d1)
    show("closer 0.3, d = 8", d8)
    print(f"success d = 1: {d1['success_ratio']:.4f}, d = 8: {d8['success_ratio']:.4f}")
    assert (d1["d"], d8["d"]) == (1, 8)
    assert d1["attack"] == "closer" and d1["malicious"] == pytest.approx(0.3)
    assert d8["success_ratio"] >= d1["success_ratio"]
    assert d1["success_ratio"] < 0.97, "the attack had no visible effect on one path"
    assert d8["success_ratio"] >= 0.97
    assert d8["msgs_per_lookup"] > d1["msgs_per_lookup"]
    assert d1["lost"] == 0 and d8["lost"] == 0


# garbage lookups wait for many timeouts (tens of simulated seconds, bucket refreshes
# included): fewer of them
@pytest.mark.parametrize("attack,nodes,lookups", [("drop", 300, 200), ("garbage", 150, 40)])
def test_drop_and_garbage(sim, attack, nodes, lookups):
    args = ["--nodes", nodes, "--lookups", lookups, *GLOBAL, "--d", 4, "--seed", 2]
    honest = simulate(sim, *args, "--malicious", 0, "--attack", attack)
    r = simulate(sim, *args, "--malicious", 0.2, "--attack", attack)
    show(f"{attack} 0.2, d = 4", r)
    assert r["attack"] == attack and r["malicious"] == pytest.approx(0.2)
    assert honest["success_ratio"] == 1.0
    assert 0.9 <= r["success_ratio"] <= 1.0
    assert r["lookups_counted"] >= 0.95 * lookups
    if attack == "drop":
        # lookups wait for the timeouts of nodes that swallow everything (the attacker
        # swallows them, not the network)
        assert r["mean_lookup_ms"] > honest["mean_lookup_ms"]
        assert r["lost"] == 0
    else:
        # the made-up contacts live at addresses where nobody listens; a lookup is asked
        # for one node and ends when that node answered, so the made-up ones still pending
        # do not hold it up
        assert r["lost"] > 0


def test_no_malicious_nodes(sim):
    r = simulate(sim, "--nodes", 300, "--lookups", 200, *GLOBAL, "--malicious", 0,
                 "--seed", 4)
    show("global, honest", r)
    assert r["success_ratio"] == 1.0 and r["successes"] == r["lookups_counted"] == 200
    assert r["build"] == "global" and r["lost"] == 0 and r["mean_hops"] > 0


# ---- churn and loss ------------------------------------------------------------------------

def test_churn(sim):
    nodes, churn, lookups = 120, 0.2, 150
    r = simulate(sim, "--nodes", nodes, "--churn", churn, "--lookups", lookups, "--seed", 1)
    show("churn 0.2", r)
    assert r["build"] == "join" and r["crypto"] == "on"
    for field in ("joined", "left"):
        assert abs(r[field] - churn * nodes) <= 0.1 * churn * nodes, (field, r[field])
    assert r["success_ratio"] >= 0.95
    assert r["lookups_counted"] <= lookups
    assert r["lookups_counted"] >= 0.8 * lookups
    assert r["lost"] > 0        # datagrams to nodes that left


def test_lookups_of_leaving_sources_do_not_stall_the_run(sim):
    # 60 nodes leave during the lookups, some in the middle of their own lookups: those
    # end uncounted, and the run ends when the rest are done (4 s of lookups plus their
    # timeouts), not after the two-minute grace period
    r = simulate(sim, *GLOBAL, "--nodes", 300, "--churn", 0.2, "--lookups", 200, "--seed", 2)
    show("global churn 0.2", r)
    assert r["left"] == 60 and r["joined"] == 60
    assert r["sim_seconds"] < 60
    assert r["success_ratio"] >= 0.95
    assert r["max_lookup_ms"] >= r["mean_lookup_ms"] > 0
    assert r["max_lookup_ms"] >= r["p99_lookup_ms"] >= r["median_lookup_ms"] > 0


def test_no_lookups_no_ratio(sim):
    r = simulate(sim, "--build", "global", "--crypto", "off", "--nodes", 50, "--lookups", 0)
    assert r["lookups_counted"] == 0 and r["success_ratio"] is None


def test_loss(sim):
    r = simulate(sim, "--nodes", 150, "--lookups", 150, "--loss", 0.05, "--seed", 1)
    show("loss 0.05", r)
    assert r["loss"] == pytest.approx(0.05)
    assert r["success_ratio"] >= 0.95
    assert r["lost"] > 0
    assert 0.03 <= r["lost"] / r["datagrams"] <= 0.08


# ---- --table and --plot --------------------------------------------------------------------

def test_table_and_plot(sim, tmp_path):
    assert shutil.which("gnuplot"), "gnuplot is missing: make test installs gnuplot-nox"
    table, png = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    base = ["--nodes", 200, "--build", "global", "--crypto", "off", "--lookups", 100,
            "--seed", 3]
    proc = run(sim, *base, "--table-d", "1,4", "--table-max", 0.2, "--table-step", 0.1,
               "--table", table, "--plot", png, timeout=120)
    lines = records(proc.stdout)
    with open(table, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == CSV_HEADER
    rows = rows[1:]
    expect = [(1, 0.0), (1, 0.1), (1, 0.2), (4, 0.0), (4, 0.1), (4, 0.2)]
    assert [(int(r[0]), float(r[1])) for r in rows] == expect
    assert [(r["d"], r["malicious"]) for r in lines] == expect
    for row, js in zip(rows, lines):
        assert float(row[2]) == pytest.approx(js["success_ratio"], abs=1e-4)
        assert float(row[3]) == pytest.approx(js["mean_hops"], abs=1e-3)
        assert int(row[4]) == js["max_hops"]
        assert float(row[5]) == pytest.approx(js["msgs_per_lookup"], abs=0.01)
        assert int(row[6]) == js["lookups_counted"]
        assert 0.0 <= float(row[2]) <= 1.0
        assert js["nodes"] == 200 and js["build"] == "global"
    assert lines[0]["success_ratio"] == 1.0 and lines[3]["success_ratio"] == 1.0
    # a point of the sweep is the single run with the same options
    single = simulate(sim, *base, "--d", 4, "--malicious", 0.1)
    assert simulated(single) == simulated(lines[4])
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5000


def test_table_unwritable(sim, tmp_path):
    proc = run(sim, "--nodes", 10, "--lookups", 1, "--build", "global", "--crypto", "off",
               "--table", tmp_path / "missing" / "x.csv", expect=1, timeout=30)
    assert proc.stderr.startswith("p2pns-sim: ")
    assert "missing/x.csv" in proc.stderr


def test_table_never_goes_past_its_maximum(sim, tmp_path):
    # 0.25 is not a multiple of 0.1: the sweep stops at 0.2
    proc = run(sim, "--nodes", 60, "--lookups", 10, "--build", "global", "--crypto", "off",
               "--table-d", "2", "--table-max", 0.25, "--table-step", 0.1,
               "--table", tmp_path / "t.csv", timeout=60)
    assert [r["malicious"] for r in records(proc.stdout)] == [0.0, 0.1, 0.2]


# ---- the command line ----------------------------------------------------------------------

def test_help(sim):
    proc = run(sim, "--help", timeout=30)
    assert proc.stdout.startswith("usage: p2pns-sim")
    for opt in OPTIONS:
        assert re.search(re.escape(opt) + r"\b", proc.stdout), f"{opt} not in --help"
    assert run(sim, "-h", timeout=30).stdout == proc.stdout


def test_version(sim):
    for flag in ("--version", "-V"):
        proc = run(sim, flag, timeout=30)
        assert re.fullmatch(r"p2pns-sim \d+\.\d+\.\d+\n", proc.stdout)


@pytest.mark.parametrize("args,message", [
    (["--bogus"], "unrecognized option"),
    (["--nodes"], "requires an argument"),
    (["--nodes", "1"], "--nodes"),
    (["--nodes", "ten"], "--nodes"),
    (["--malicious", "1.5"], "--malicious"),
    (["--malicious", "nan"], "--malicious"),
    (["--loss", "-0.1"], "--loss"),
    (["--attack", "nope"], "--attack"),
    (["--attack", "none"], "--attack"),
    (["--build", "nope"], "--build"),
    (["--crypto", "yes"], "--crypto"),
    (["--d", "0"], "--d"),
    (["--k", "0"], "--k"),
    (["--seed", "x"], "--seed"),
    (["--seed", "-1"], "--seed"),
    (["--table-d", "1,0"], "--table-d"),
    (["--table-step", "0"], "--table-step"),
    (["--plot", "x.png"], "--plot needs --table"),
    (["extra"], "unexpected argument 'extra'"),
    (["--nodes", "10", "extra"], "unexpected argument 'extra'"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_usage_errors(sim, tmp_path, args, message):
    proc = subprocess.run([sim] + args, capture_output=True, text=True, timeout=30,
                          cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == []       # nothing simulated, nothing written
