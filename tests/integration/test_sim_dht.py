"""p2pns-sim with the DHT on every simulated node: puts and gets over an overlay built
through the protocol, the stale, forge and withhold attacks of liars among a key's replicas
(a minority loses to the majority, a majority wins), churn followed by replica maintenance,
determinism, and the new options on the command line. Signatures are on everywhere and the
overlays small: with crypto on a datagram costs 100-170 us of CPU, and a put or a get
(a lookup, its admission PINGs, the STOREs or FIND_VALUEs) some 100-300 datagrams."""
import subprocess

import pytest

from test_sim import FIELDS, MEASURED, run, simulate, simulated

GLOBAL = ["--build", "global", "--crypto", "on"]
DHT_FIELDS = ["r", "maintain_ms", "liars", "puts", "puts_ok", "gets", "gets_ok", "gets_wrong",
              "gets_conflict", "gets_empty", "get_success_ratio", "mean_get_ms",
              "median_get_ms", "p99_get_ms", "msgs_per_get", "replicas_min", "replicas_mean"]


def dht(sim, *args, timeout=120) -> dict:
    """One run with a DHT workload: its JSON line, checked for internal consistency."""
    r = simulate(sim, *args, timeout=timeout)
    assert 0 <= r["puts_ok"] <= r["puts"]
    failed = r["gets_wrong"] + r["gets_conflict"] + r["gets_empty"]
    assert 0 <= r["gets_ok"] + failed <= r["gets"]
    if r["gets"]:
        assert r["get_success_ratio"] == pytest.approx(r["gets_ok"] / r["gets"], abs=6e-5)
        assert r["msgs_per_get"] > 0
    else:
        assert r["get_success_ratio"] is None and r["msgs_per_get"] is None
    if r["gets_ok"]:
        assert r["mean_get_ms"] > 0 and 0 < r["median_get_ms"] <= r["p99_get_ms"]
    else:
        assert r["mean_get_ms"] is None and r["median_get_ms"] is None
    if r["replicas_min"] is not None:
        assert 0 <= r["replicas_min"] <= r["replicas_mean"]
    return r


def show(label: str, r: dict):
    print(f"{label}: puts {r['puts_ok']}/{r['puts']}, gets {r['gets_ok']}/{r['gets']} "
          f"(wrong {r['gets_wrong']}, conflict {r['gets_conflict']}, empty {r['gets_empty']}), "
          f"{r['mean_get_ms']} ms/get, {r['msgs_per_get']} msgs/get, replicas min "
          f"{r['replicas_min']} mean {r['replicas_mean']}, {r['sim_seconds']:.0f} s simulated, "
          f"{r['wall_s']:.1f} s wall")


# ---- puts and gets -------------------------------------------------------------------------

def test_put_and_get_over_a_joined_overlay(sim):
    """(a) 300 nodes join through the protocol; 100 names put, 200 gets: every get finds the
    record put, and every record has its five replicas at the end."""
    r = dht(sim, "--nodes", 300, "--puts", 100, "--gets", 200, "--lookups", 0, "--seed", 1)
    show("join 300, 100 puts, 200 gets", r)
    assert r["build"] == "join" and r["crypto"] == "on"
    assert (r["r"], r["maintain_ms"], r["liars"]) == (5, 60000, 2)
    assert r["puts"] == r["puts_ok"] == 100
    assert r["gets"] == r["gets_ok"] == 200 and r["get_success_ratio"] == 1.0
    assert r["gets_wrong"] == r["gets_conflict"] == r["gets_empty"] == 0
    assert r["replicas_min"] >= 5
    assert r["lost"] == 0 and r["left"] == 0


def test_no_dht_workload(sim):
    r = dht(sim, "--nodes", 50, "--build", "global", "--crypto", "off", "--lookups", 10)
    assert [r[f] for f in DHT_FIELDS] == [5, 60000, 2, 0, 0, 0, 0, 0, 0, 0, None, None, None,
                                          None, None, None, None]
    assert r["success_ratio"] == 1.0


# ---- attacks by liars among a key's replicas ---------------------------------------------

ATTACK = ["--nodes", 400, *GLOBAL, "--puts", 60, "--gets", 120, "--lookups", 0, "--r", 5,
          "--seed", 3]


@pytest.mark.parametrize("attack", ["stale", "forge", "withhold"])
def test_two_liars_of_five_lose(sim, attack):
    """(b) Two of the five closest nodes of every key lie about it: the three honest
    replicas are a majority, so every get returns the owner's latest record."""
    r = dht(sim, *ATTACK, "--attack", attack, "--liars", 2)
    show(f"{attack}, 2 liars of 5", r)
    assert r["attack"] == attack and r["liars"] == 2 and r["malicious"] == 0
    # stale: every name is put twice, seq 1 then seq 2, and the liars answer with seq 1
    assert r["puts"] == r["puts_ok"] == (120 if attack == "stale" else 60)
    assert r["gets"] == r["gets_ok"] == 120
    # the liars still hold the record (they only lie about it); they are not counted
    assert r["replicas_min"] >= 3


@pytest.mark.parametrize("attack,outcome", [("forge", "gets_conflict"),
                                            ("withhold", "gets_empty"), ("stale", None)])
def test_three_liars_of_five(sim, attack, outcome):
    """A majority of liars: forgers (each with its own key) leave no owner with a majority,
    withholders make the name look empty; only the stale answer still loses, to any honest
    replica with the newer seq. The gets that fail show that the attack runs."""
    r = dht(sim, *ATTACK, "--attack", attack, "--liars", 3)
    show(f"{attack}, 3 liars of 5", r)
    if outcome is None:
        assert r["gets_ok"] == r["gets"] == 120
    else:
        assert r["gets_ok"] < r["gets"]
        assert r[outcome] + r["gets_wrong"] >= 0.9 * r["gets"]


def test_kbr_attack_during_the_dht_workload(sim):
    """10% of the nodes drop everything from the first put on (STOREs and FIND_VALUEs too):
    a record needs three of its five replicas, so puts and gets still succeed."""
    r = dht(sim, "--nodes", 300, *GLOBAL, "--puts", 40, "--gets", 80, "--lookups", 40,
            "--malicious", 0.1, "--attack", "drop", "--seed", 4)
    show("drop 0.1", r)
    assert r["puts_ok"] >= 0.95 * r["puts"]
    assert r["gets_ok"] >= 0.95 * r["gets"]
    assert r["success_ratio"] >= 0.95


# ---- churn and maintenance -----------------------------------------------------------------

# (c) 300 nodes joined through the protocol; 100 names put; 90 nodes replaced over 50 s
# (five maintenance periods of 10 s: shorter than the default only to keep the test cheap),
# 30 s for maintenance; then the gets.
CHURN = ["--nodes", 300, "--churn", 0.3, "--puts", 100, "--gets", 100, "--lookups", 0,
         "--maintain", 10000, "--seed", 1]


@pytest.fixture(scope="module")
def churned(sim):
    r = dht(sim, *CHURN, timeout=300)
    show("churn 0.3, then gets", r)
    return r


def test_churn_then_gets(churned):
    r = churned
    assert r["left"] == r["joined"] == 90
    assert r["puts"] == r["puts_ok"] == 100
    assert r["lost"] > 0                # datagrams to the nodes that left
    # the churn happened before the gets: whatever a get returns is the owner's record
    assert r["gets_wrong"] == r["gets_conflict"] == 0
    assert r["gets_ok"] >= 0.9 * r["gets"]
    assert r["replicas_mean"] >= 4.5


def test_churn_every_get_after_maintenance(churned):
    assert churned["gets_ok"] == churned["gets"]
    assert churned["replicas_min"] >= 5


# ---- determinism ---------------------------------------------------------------------------

# every random draw of the DHT workload: owners, names to get, churn, liars, loss
DETERMINISM = ["--nodes", 200, "--build", "global", "--puts", 40, "--gets", 60,
               "--attack", "withhold", "--liars", 2, "--churn", 0.1, "--maintain", 5000,
               "--loss", 0.01, "--lookups", 20]


def test_same_seed_same_dht_result(sim):
    """(d) The same seed gives the same JSON (the fields measured on the host aside), with
    crypto on or off; another seed gives another."""
    first = dht(sim, *DETERMINISM, "--crypto", "on", "--seed", 7)
    again = dht(sim, *DETERMINISM, "--crypto", "on", "--seed", 7)
    off = dht(sim, *DETERMINISM, "--crypto", "off", "--seed", 7)
    other = dht(sim, *DETERMINISM, "--crypto", "off", "--seed", 8)
    show("seed 7", first)
    show("seed 8", other)
    assert first["puts"] == 40 and first["gets"] == 60 and first["left"] == 20
    assert simulated(first) == simulated(again)
    assert {**simulated(first), "crypto": "off"} == simulated(off)
    diff = {k for k in FIELDS if k not in MEASURED and first[k] != other[k]}
    assert diff - {"seed", "crypto"}, "a different seed gave the same simulation"
    assert "datagrams" in diff


# ---- the command line ----------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (["--r", "4"], "--r must be odd"),
    (["--r", "0"], "--r"),
    (["--r", "17"], "--r"),
    (["--maintain", "999"], "--maintain"),
    (["--puts", "100001"], "--puts"),
    (["--puts", "x"], "--puts"),
    (["--gets", "5"], "--gets needs --puts"),
    (["--liars", "17"], "--liars"),
    (["--puts", "5", "--attack", "forge", "--liars", "6"], "--liars must not exceed --r"),
    (["--attack", "stale"], "--attack stale needs --puts"),
    (["--puts", "5", "--attack", "withhold", "--malicious", "0.1"], "--malicious"),
    (["--churn-span", "-1"], "--churn-span"),
    (["--settle-after-churn", "x"], "--settle-after-churn"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_usage_errors(sim, tmp_path, args, message):
    proc = subprocess.run([sim] + args, capture_output=True, text=True, timeout=30,
                          cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert message in proc.stderr


def test_liars_may_exceed_r_without_a_dht_attack(sim):
    # --liars only matters under a DHT attack: --r 1 with the default 2 is fine
    r = dht(sim, "--nodes", 30, "--build", "global", "--crypto", "off", "--r", 1,
            "--puts", 5, "--gets", 5, "--lookups", 0)
    assert r["r"] == 1 and r["gets_ok"] == 5 and r["replicas_min"] >= 1


def test_help_mentions_the_dht(sim):
    out = run(sim, "--help", timeout=30).stdout
    for word in ("stale", "forge", "withhold", "--puts", "--gets", "--liars", "--r N",
                 "--maintain", "--churn-span", "--settle-after-churn"):
        assert word in out
