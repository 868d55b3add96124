"""The DHT in p2pnsd as real processes on loopback: a 20-node overlay (127.0.0.10 to .29,
an address each, as on 20 hosts) in which a put through one node is read through every
other, replicas that survive kill -9 and a restart on their data directory, gets with two
of the five replicas gone, names owned by the key that first stored them, removal
(tombstones), bad control input and clients that leave before their answer, and a lone
node with its store and start-up errors. Everything is bounded in time."""
import hashlib
import os
import re
import socket
import stat
import subprocess
import time

import pytest

from conftest import NodeSet, parallel, start_overlay, wait_settled

N_NODES = 20
R = 5                       # replicas: p2pnsd's default
C1 = C2 = 4
GET_WORKERS = 6             # gets in flight at once (all nodes share one source IP)
TOMBSTONE = "tombstone"     # what a get shows after remove: the tombstone record itself


@pytest.fixture(scope="module")
def overlay(p2pnsd, tmp_path_factory):
    """N_NODES nodes, each bootstrapping from one or two earlier ones, settled."""
    ns = NodeSet(p2pnsd, tmp_path_factory.mktemp("dht"))
    try:
        start_overlay(ns, N_NODES, seed=20240611, hosts=10, c1=C1, c2=C2)
        wait_settled(ns.nodes, min_contacts=5, timeout=30)
        yield ns
    finally:
        ns.close()


def key_of(name: str) -> int:
    return int.from_bytes(hashlib.sha1(name.encode()).digest(), "big")


def closest(nodes, name, n=R):
    """The n nodes whose IDs are closest to the name's key (XOR distance)."""
    return sorted(nodes, key=lambda x: int(x.node_id, 16) ^ key_of(name))[:n]


def holders(nodes, name):
    """The running nodes that hold a record for name in their own store."""
    return [n for n in nodes if n.running() and n.control(f"holds {name}")["holds"]]


def found_error(answer, value, owner=None, ttl=3600):
    """None if a get answer is "found" with one live record of value (and owner) that
    expires within ttl seconds."""
    if not isinstance(answer, dict):
        return f"{type(answer).__name__}: {answer}"
    if answer.get("status") != "found":
        return f"status {answer.get('status')!r}: {answer}"
    if owner is not None and answer.get("owner") != owner:
        return f"owner {answer.get('owner', '')[:16]}, not {owner[:16]}"
    recs = answer.get("records") or []
    if len(recs) != 1:
        return f"{len(recs)} records: {recs}"
    rec = recs[0]
    if rec["kind"] != 33 or rec["id"] != 0 or rec["tombstone"] or rec["value"] != value:
        return f"record {rec}, not value {value!r}"
    if not 0 < rec["expires_in_ms"] <= ttl * 1000:
        return f"expires_in_ms {rec['expires_in_ms']}"
    return None


def get_everywhere(nodes, name, value, owner=None, timeout=20.0):
    """Gets name through every node in nodes at once; returns (answers, failures)."""
    answers = parallel(lambda n: n.control(f"get {name}", timeout), nodes, GET_WORKERS)
    failures = []
    for node, ans in answers:
        err = found_error(ans, value, owner)
        if err is not None:
            failures.append(f"{node.name}: {err}")
    return [a for _, a in answers], failures


def put(node, name, value, ttl=None, timeout=20.0):
    cmd = f"put {name} {value}" + (f" {ttl}" if ttl is not None else "")
    return node.control(cmd, timeout)


def revive(node, helpers):
    """Starts a killed node again on its data directory and port, through a running node."""
    node.start(port=node.port, bootstrap=[h for h in helpers if h.running()][:2])


def test_put_is_read_through_every_node(overlay):
    nodes = overlay.nodes
    writer, name = nodes[0], "alpha.p2p"
    start = time.monotonic()
    ans = put(writer, name, "v1")
    assert ans == {"ok": True, "stored": R, "asked": R}, ans
    held = holders(nodes, name)
    want = closest(nodes, name)
    assert {n.name for n in held} == {n.name for n in want}, \
        (sorted(n.name for n in held), sorted(n.name for n in want))

    t0 = time.monotonic()
    answers, failures = get_everywhere(nodes[1:], name, "v1")
    elapsed = time.monotonic() - t0
    assert not failures, "\n".join(failures)
    owners = {a["owner"] for a in answers}
    assert len(owners) == 1 and re.fullmatch(r"[0-9a-f]{64}", owners.pop())
    assert all(a["votes"] >= 3 for a in answers), answers
    stats = writer.control("stats")
    assert stats["puts"] >= 1 and stats["puts_ok"] >= 1
    total = {k: sum(n.control("stats")[k] for n in nodes)
             for k in ("gets", "gets_found", "stores_served", "finds_served")}
    print(f"put + {N_NODES - 1} gets in {time.monotonic() - start:.2f} s "
          f"(gets {elapsed:.2f} s), {total}")
    assert total["gets_found"] >= N_NODES - 1 and total["stores_served"] >= R - 1
    assert elapsed < 20


def test_replica_survives_kill_and_restart(overlay):
    nodes = overlay.nodes
    writer, name = nodes[1], "bravo.p2p"
    assert put(writer, name, "b1")["ok"] is True
    held = [n for n in holders(nodes, name) if n is not writer]
    assert len(held) >= R - 1
    victim = held[0]
    before = victim.control(f"holds {name}")
    assert before["holds"] and not before["tombstone"]
    mark = len(victim.log())
    victim.kill()
    revive(victim, [n for n in nodes if n is not victim])
    # at once after the 'listening on' line: nothing could have repaired it yet
    after = victim.control(f"holds {name}")
    assert after == before, (before, after)
    m = re.search(r"store \S+ \(at most 256 MB\) holds (\d+) records", victim.log()[mark:])
    assert m and int(m.group(1)) >= 1, victim.log()[mark:]

    wait_settled([victim], min_contacts=3, timeout=15)
    ans = victim.control(f"get {name}", 20)
    assert found_error(ans, "b1") is None, ans
    other = next(n for n in nodes if n not in held and n is not writer)
    ans = other.control(f"get {name}", 20)
    assert found_error(ans, "b1") is None, ans


def test_get_survives_two_dead_replicas(overlay):
    nodes = overlay.nodes
    writer, name = nodes[2], "charlie.p2p"
    assert put(writer, name, "c1")["ok"] is True
    held = holders(nodes, name)
    assert len(held) == R, [n.name for n in held]
    dead = [n for n in held if n is not writer][:2]
    askers = [n for n in nodes if n not in held][:4]
    start = time.monotonic()
    try:
        for n in dead:
            n.kill()
        answers, failures = get_everywhere(askers, name, "c1", timeout=30)
        elapsed = time.monotonic() - start
        assert not failures, "\n".join(failures)
        # the three live replicas outvote the two nodes that took the dead ones' place
        assert all(a["votes"] >= 3 for a in answers), answers
        print(f"{len(askers)} gets with 2 of {R} replicas dead in {elapsed:.2f} s")
        assert elapsed < 30
    finally:
        for n in dead:
            if not n.running():
                revive(n, [x for x in nodes if x not in dead])
    # read repair pushed the record to the replicas that stood in for the dead ones
    now_held = holders(nodes, name)
    assert len(now_held) >= R, [n.name for n in now_held]


def test_name_is_owned_by_its_first_key(overlay):
    nodes = overlay.nodes
    owner_node, thief, reader, name = nodes[3], nodes[4], nodes[5], "delta.p2p"
    assert put(owner_node, name, "one")["ok"] is True
    first = reader.control(f"get {name}", 20)
    assert found_error(first, "one") is None, first
    owner = first["owner"]
    before = {n.name: n.control("store")["refused"]["name owned by another key"]
              for n in nodes}

    ans = put(thief, name, "two")
    assert ans["ok"] is False and ans["error"] == "name owned by another key", ans
    assert ans["stored"] == 0 and ans["asked"] == R, ans
    after = {n.name: n.control("store")["refused"]["name owned by another key"]
             for n in nodes}
    assert sum(after.values()) - sum(before.values()) >= R // 2 + 1, (before, after)
    ans = reader.control(f"get {name}", 20)
    assert found_error(ans, "one", owner) is None, ans

    ans = put(owner_node, name, "three")
    assert ans == {"ok": True, "stored": R, "asked": R}, ans
    answers, failures = get_everywhere(nodes, name, "three", owner)
    assert not failures, "\n".join(failures)
    seqs = {a["records"][0]["seq"] for a in answers}
    assert len(seqs) == 1 and seqs.pop() > first["records"][0]["seq"]


def test_remove_leaves_a_tombstone(overlay):
    """After remove, a get answers "found" with the owner's tombstone record (empty value,
    "tombstone": true, alive for 10 minutes): the removal is visible, and the name stays
    owned by the remover until the tombstone expires."""
    nodes = overlay.nodes
    owner_node, other, name = nodes[6], nodes[7], "echo.p2p"
    assert put(owner_node, name, "e1")["ok"] is True
    ans = owner_node.control(f"remove {name}", 20)
    assert ans == {"ok": True, "stored": R, "asked": R}, ans
    answers = parallel(lambda n: n.control(f"get {name}", 20), nodes[8:14], GET_WORKERS)
    for node, a in answers:
        assert isinstance(a, dict) and a.get("status") == "found", (node.name, a)
        assert len(a["records"]) == 1, (node.name, a)
        rec = a["records"][0]
        assert rec["tombstone"] is True and rec["value"] == "" and rec["value_hex"] == ""
        assert 0 < rec["expires_in_ms"] <= 600 * 1000, rec
    for n in holders(nodes, name):
        assert n.control(f"holds {name}")["tombstone"] is True

    ans = put(other, name, "stolen")
    assert ans["ok"] is False and ans["error"] == "name owned by another key", ans
    assert put(owner_node, name, "e2")["ok"] is True
    ans = other.control(f"get {name}", 20)
    assert found_error(ans, "e2") is None, ans


def test_bad_control_input(overlay):
    node = overlay.nodes[9]
    week = 7 * 24 * 3600
    bad = ["put", "put a", "put a b 0", f"put a b {week + 1}", "put a b -1", "put a b 1x",
           "put a b 99999999999999999999", "put a b 10 extra", "put a " + "v" * 1025,
           "put " + "n" * 256 + " v", "get", "get a b", "get " + "n" * 256, "remove",
           "remove a b", "holds", "holds a b", "store x", "stats x"]
    for cmd in bad:
        ans = node.control(cmd)
        assert set(ans) == {"error"} and isinstance(ans["error"], str), (cmd[:40], ans)
    assert "1024" in node.control("put a " + "v" * 1025)["error"]
    assert "TTL" in node.control("put a b 0")["error"]
    # the limits themselves are fine: a value of 1024 bytes, a TTL of exactly a week
    assert put(node, "foxtrot.p2p", "w" * 1024, week)["ok"] is True
    ans = node.control("get foxtrot.p2p", 20)
    assert found_error(ans, "w" * 1024, ttl=week) is None, ans
    assert ans["records"][0]["expires_in_ms"] > (week - 60) * 1000
    # a put line longer than any valid one is refused, not buffered without end
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(node.sock_path))
        s.sendall(b"put a " + b"v" * 2100)
        assert b"too long" in s.recv(4096)

    # clients that leave before the answer of their put or get: it goes nowhere
    before = node.control("stats")
    for i in range(24):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(node.sock_path))
            cmd = "get alpha.p2p\n" if i % 2 else f"put golf{i}.p2p g{i}\n"
            s.sendall(cmd.encode())
    deadline = time.monotonic() + 20
    while True:
        stats = node.control("stats")
        if stats["gets"] - before["gets"] >= 12 and stats["puts"] - before["puts"] >= 12 \
                and stats["lookups_started"] == stats["lookups_done"]:
            break
        assert time.monotonic() < deadline, (before, stats)
        time.sleep(0.1)
    assert node.running()
    assert found_error(node.control("get alpha.p2p", 20), "v1") is None
    assert node.control("get golf0.p2p", 20)["status"] == "found"
    store = node.control("store")
    assert isinstance(store["records"], int) and len(store["refused"]) == 11


def test_lone_node_store_and_startup_errors(nodes, tmp_path):
    a = nodes.new("a", c1=C1, c2=C2)
    a.start()
    # alone, the callbacks run inside dht_put and dht_get
    assert put(a, "hotel.p2p", "h1") == {"ok": True, "stored": 1, "asked": 1}
    assert found_error(a.control("get hotel.p2p"), "h1") is None
    assert a.control("get nowhere.p2p") == {"status": "empty"}
    store = a.datadir / "store"
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o700
    assert a.control("store")["records"] == 1
    stats = a.control("stats")
    for field in ("puts", "puts_ok", "gets", "gets_found", "gets_conflict", "stores_served",
                  "finds_served", "repairs_sent", "gets_early", "rpcs_slow"):
        assert isinstance(stats[field], int), field
    assert stats["puts_ok"] == 1 and stats["gets_found"] == 1
    a.stop()
    a.start()
    assert "holds 1 records" in a.log()
    assert a.control("holds hotel.p2p")["holds"] is True
    a.stop()

    def run(*args):
        return subprocess.run([a.binary, "--port", str(a.port), "--bind", "127.0.0.1",
                               "--c1", str(C1), "--c2", str(C2), *args],
                              capture_output=True, text=True, timeout=30)

    # a store that cannot be opened stops the start
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "store").write_text("not a store")
    proc = run("--data-dir", str(bad))
    assert proc.returncode == 1, proc.stderr
    assert "record store" in proc.stderr and str(bad / "store") in proc.stderr, proc.stderr
    assert not (bad / "control.sock").exists()

    for args, word in ((["--replicas", "4"], "replicas"), (["--replicas", "0"], "replicas"),
                       (["--replicas", "17"], "replicas"), (["--store-size", "0"], "store-size"),
                       (["--store-size", "65537"], "store-size"),
                       (["--store-size", "1x"], "store-size")):
        proc = run("--data-dir", str(tmp_path / "never"), *args)
        assert proc.returncode == 2 and word in proc.stderr, (args, proc.stderr)
    assert not (tmp_path / "never").exists()
    proc = subprocess.run([a.binary, "--help"], capture_output=True, text=True, timeout=30)
    assert "--replicas" in proc.stdout and "--store-size" in proc.stdout

    # a small store and three replicas are fine for a lone node too
    a.start(port=a.port, extra=("--replicas", "3", "--store-size", "1"))
    assert "3 replicas" in a.log() and "at most 1 MB" in a.log()
    assert found_error(a.control("get hotel.p2p"), "h1") is None
