"""p2pnsd as real processes on loopback: a 20-node overlay (each node on an address of its
own, 127.0.0.10 to .29, as on 20 hosts: the per-address rate limits are per host) in which
every node finds every other and names the truly closest node for any key, a node that
moves to a new port keeping its ID, a flood of garbage datagrams, the control socket, the
data directory and the command line. Everything is bounded in time."""
import concurrent.futures
import hashlib
import os
import random
import re
import socket
import stat
import struct
import subprocess
import time
import xmlrpc.client

import pytest

from conftest import Node, NodeSet, free_udp_port, wait_settled

N_NODES = 20
C1 = C2 = 4
SETTLE_CONTACTS = 5
SETTLE_TIMEOUT = 30.0
KBR_STATS = ("rx", "tx", "dropped_malformed", "dropped_version", "dropped_rate",
             "dropped_time", "dropped_puzzle", "dropped_replay", "dropped_signature",
             "dropped_unsolicited", "lookups_started", "lookups_done", "rpcs_timed_out")
DROPS = [f for f in KBR_STATS if f.startswith("dropped_")]


def lookup_error(answer: dict, target: Node):
    """None if the lookup answer names target first at its current address."""
    if "error" in answer:
        return f"error {answer['error']!r}"
    if answer.get("target") != target.node_id:
        return f"answer for the wrong target {answer.get('target')}"
    found = answer.get("nodes") or []
    if not found:
        return "no nodes"
    first = found[0]
    if first["id"] != target.node_id:
        ids = [n["id"][:8] for n in found[:4]]
        return f"first node {first['id'][:8]}, not {target.node_id[:8]} (got {ids})"
    if first["addr"] != target.addr:
        return f"found at {first['addr']}, not at {target.addr}"
    return None


def lookups(pairs, timeout=30.0, workers=48):
    """Runs (source, target) lookups concurrently; returns the list of failures."""
    failures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(src.control, f"lookup {dst.node_id}", timeout): (src, dst)
                   for src, dst in pairs}
        for fut in concurrent.futures.as_completed(futures):
            src, dst = futures[fut]
            try:
                err = lookup_error(fut.result(), dst)
            except Exception as e:  # a timeout or a closed connection is a failure too
                err = f"{type(e).__name__}: {e}"
            if err is not None:
                failures.append(f"{src.name} -> {dst.name}: {err}")
    return failures


def stats_summary(nodes):
    total = {}
    for n in nodes:
        if n.running():
            for k, v in n.control("stats").items():
                total[k] = total.get(k, 0) + v
    return {k: total[k] for k in DROPS + ["rpcs_timed_out", "lookups_started", "lookups_done"]
            if k in total}


@pytest.fixture(scope="module")
def overlay(p2pnsd, tmp_path_factory):
    """N_NODES nodes, each bootstrapping from one or two earlier ones, settled."""
    ns = NodeSet(p2pnsd, tmp_path_factory.mktemp("overlay"))
    rng = random.Random(20240501)
    try:
        for i in range(N_NODES):
            node = ns.new(rpc=True, host=f"127.0.0.{10 + i}")
            boots = rng.sample(ns.nodes[:i], min(i, rng.choice((1, 2)))) if i else []
            node.start(bootstrap=boots)
        wait_settled(ns.nodes)
        yield ns
    finally:
        ns.close()


def test_every_node_finds_every_other(overlay):
    nodes = overlay.nodes
    ids = {n.node_id for n in nodes}
    assert len(ids) == N_NODES
    # interleave the sources so that each node runs a few lookups at a time
    pairs = [(nodes[s], nodes[(s + k) % N_NODES]) for k in range(1, N_NODES)
             for s in range(N_NODES)]
    start = time.monotonic()
    failures = lookups(pairs)
    elapsed = time.monotonic() - start
    print(f"{len(pairs)} lookups in {elapsed:.2f} s, {stats_summary(nodes)}")
    assert not failures, (f"{len(failures)} of {len(pairs)} lookups failed "
                          f"({stats_summary(nodes)}):\n" + "\n".join(sorted(failures)[:40]))
    assert elapsed < 60, f"{len(pairs)} lookups took {elapsed:.1f} s"


def test_xmlrpc_lookup_names_the_closest_node_itself_included(overlay):
    """Every node's XML-RPC lookup of 50 keys names first the node whose ID is truly
    XOR-closest to SHA-1(key), the asking node itself when it is that node; the order of
    the answer is checked against the node IDs here, not with p2pnsd's code."""
    nodes = overlay.nodes
    rng = random.Random(7)
    keys = [rng.randbytes(12) for _ in range(50)]
    ids = {int(n.node_id, 16): n for n in nodes}

    def ranked(key):
        t = int.from_bytes(hashlib.sha1(key).digest(), "big")
        return sorted(ids, key=lambda i: i ^ t)

    def ask(node, key):
        return node.proxy(timeout=30).lookup(xmlrpc.client.Binary(key), 3)

    jobs = [(n, k) for k in keys for n in nodes]
    problems, self_first = [], 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futs = {pool.submit(ask, n, k): (n, k) for n, k in jobs}
        for fut in concurrent.futures.as_completed(futs):
            node, key = futs[fut]
            want = ranked(key)
            try:
                got = fut.result()
            except Exception as e:   # a fault or a timeout is a failure too
                problems.append(f"{node.name} {key.hex()}: {type(e).__name__}: {e}")
                continue
            got_ids = [int(c[2], 16) for c in got]
            if len(got) != 3 or got_ids != want[:3]:
                problems.append(f"{node.name} {key.hex()}: got "
                                f"{[ids[i].name if i in ids else hex(i) for i in got_ids]}, "
                                f"closest are {[ids[i].name for i in want[:3]]}")
                continue
            first = ids[got_ids[0]]
            if f"{got[0][0]}:{got[0][1]}" != first.addr:
                problems.append(f"{node.name}: {first.name} given at {got[0][0]}:{got[0][1]}")
            self_first += first is node
    assert not problems, f"{len(problems)} of {len(jobs)} lookups wrong:\n" + \
        "\n".join(sorted(problems)[:30])
    # each key's closest node asked it too: 50 answers named the asking node itself
    assert self_first == len(keys)


def test_restarted_node_is_found_at_its_new_port(overlay):
    nodes = overlay.nodes
    moved, helper = nodes[7], nodes[0]
    old_id, old_port = moved.node_id, moved.port
    moved.stop()
    contacts = (moved.datadir / "contacts").read_text().splitlines()
    assert 1 <= len(contacts) <= 64
    moved.start(bootstrap=[helper], avoid={old_port})
    assert moved.port != old_port
    assert moved.node_id == old_id, "the identity in the data directory was not reused"
    wait_settled([moved])
    others = [n for n in nodes if n is not moved]
    failures = lookups([(n, moved) for n in others])
    assert not failures, (f"lookups of {moved.name} (moved from port {old_port} to "
                          f"{moved.port}) failed:\n" + "\n".join(sorted(failures)))
    # and the moved node still finds the others
    failures = lookups([(moved, n) for n in others])
    assert not failures, "\n".join(sorted(failures))


def fake_identity(rng):
    """A public key, node ID and nonce that pass the c1/c2 puzzles (the key is random
    bytes: nothing signed with it verifies)."""
    def lz(b):
        v = int.from_bytes(b, "big")
        return len(b) * 8 - v.bit_length()

    while True:
        pub = rng.randbytes(32)
        node_id = hashlib.sha1(pub).digest()
        if lz(hashlib.sha1(node_id).digest()) >= C1:
            break
    while True:
        nonce = rng.randbytes(20)
        if lz(hashlib.sha1(bytes(a ^ b for a, b in zip(node_id, nonce))).digest()) >= C2:
            return pub, node_id, nonce


def message(rng, ident, version=1, mtype=1, body=b""):
    """A datagram laid out as doc/protocol.md says, with a random (bad) signature."""
    pub, node_id, nonce = ident
    header = (b"P2PN" + bytes([version, mtype]) + b"\0\0" + rng.randbytes(8) +
              struct.pack(">Q", int(time.time() * 1000)) + node_id + pub + nonce +
              struct.pack(">H", len(body)))
    return header + body + b"\x01" + struct.pack(">H", 64) + rng.randbytes(64)


def garbage(rng, count):
    idents = [fake_identity(rng) for _ in range(8)]
    out = []
    for i in range(count):
        kind = i % 20
        ident = idents[i % len(idents)]
        if kind < 11:                        # random bytes
            out.append(rng.randbytes(rng.randint(0, 1500)))
        elif kind < 16:                      # a real-looking message, cut short
            m = message(rng, ident, mtype=rng.randint(1, 4),
                        body=rng.randbytes(rng.choice((0, 21, 40))))
            out.append(m[:rng.randint(0, len(m) - 1)])
        elif kind == 16:                     # another version
            out.append(message(rng, ident, version=2))
        elif kind == 17:                     # too long (one over UDP_RECV_BUF too)
            out.append(rng.randbytes(rng.choice((1201, 2049, 4000))))
        else:                                # well-formed PING / FIND_NODE, bad signature
            body = b"" if kind == 18 else rng.randbytes(20) + b"\x08"
            out.append(message(rng, ident, mtype=1 if kind == 18 else 3, body=body))
    return out


def test_flood_of_garbage_is_dropped(overlay):
    nodes = overlay.nodes
    victim, other = nodes[3], nodes[12]
    assert lookup_error(victim.control(f"lookup {other.node_id}"), other) is None
    before = victim.control("stats")
    rss_before = victim.rss_kb()
    datagrams = garbage(random.Random(7), 10000)
    start = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            try:
                s.sendto(d, (victim.host, victim.port))
            except (BlockingIOError, OSError):
                pass
    sent_in = time.monotonic() - start

    # the node still answers, and finds another node within a few seconds
    deadline = time.monotonic() + 10
    while True:
        t0 = time.monotonic()
        err = lookup_error(victim.control(f"lookup {other.node_id}", timeout=15), other)
        print(f"lookup after the flood: {err or 'ok'} in {time.monotonic() - t0:.2f} s")
        if err is None:
            break
        assert time.monotonic() < deadline, f"no correct lookup after the flood: {err}"
        time.sleep(0.5)
    recovered_in = time.monotonic() - start - sent_in

    after = victim.control("stats")
    delta = {k: after[k] - before[k] for k in after if isinstance(after[k], int)}
    drops = sum(delta[k] for k in DROPS)
    received = delta["udp_rx"]
    print(f"flood: 10000 sent in {sent_in:.2f} s, {received} received, {drops} dropped, "
          f"recovered in {recovered_in:.2f} s, " +
          ", ".join(f"{k} {delta[k]}" for k in DROPS if delta[k]))
    assert received >= 500, f"only {received} of 10000 datagrams arrived: {delta}"
    # everything from the flood was dropped: at most the overlay's own traffic went through
    assert drops >= received - 500, delta
    assert delta["dropped_malformed"] > 0 and delta["udp_rx_truncated"] > 0, delta
    rss_after = victim.rss_kb()
    assert after["rss_kb"] - before["rss_kb"] < 10 * 1024, (before["rss_kb"], after["rss_kb"])
    assert rss_after - rss_before < 10 * 1024, (rss_before, rss_after)
    assert victim.running()


def test_control_socket(overlay):
    node = overlay.nodes[5]
    ident = node.control("id")
    assert ident["node_id"] == node.node_id
    assert ident["addr"] == node.addr            # as the other nodes see it
    assert ident["bound"] == [node.addr]
    assert stat.S_IMODE(os.stat(node.sock_path).st_mode) == 0o600

    table = node.control("table")
    assert table["size"] == len(table["contacts"]) >= SETTLE_CONTACTS
    assert table["siblings"] >= 1 and table["buckets"] >= 1
    known = {n.node_id: n.addr for n in overlay.nodes}
    for c in table["contacts"]:
        assert known.get(c["id"]) == c["addr"], c
        assert c["last_seen"] > 0 and c["fails"] >= 0

    stats = node.control("stats")
    for field in KBR_STATS + ("memory", "rss_kb"):
        assert isinstance(stats[field], int), field
    assert stats["memory"] > 0 and stats["rss_kb"] > 0

    assert node.control(f"ping {overlay.nodes[6].addr}") == {"ok": True}
    for bad in ("", "frobnicate", "lookup", "lookup 1234", "lookup " + "g" * 40,
                "ping", "ping localhost:5", "id extra"):
        assert "error" in node.control(bad), bad

    # an over-long line is refused, not buffered without end
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(node.sock_path))
        s.sendall(b"x" * 600)
        assert b"too long" in s.recv(4096)

    # clients that leave while their lookup runs: the answer goes nowhere
    before = node.control("stats")
    rng = random.Random(3)
    for _ in range(30):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(node.sock_path))
            s.sendall(f"lookup {rng.randbytes(20).hex()}\n".encode())
    deadline = time.monotonic() + 20
    while True:
        stats = node.control("stats")
        if stats["lookups_done"] - before["lookups_done"] >= 30 and \
                stats["lookups_started"] == stats["lookups_done"]:
            break
        assert time.monotonic() < deadline, (before, stats)
        time.sleep(0.2)

    # at most 32 connections at a time; idle ones are closed after 2 s
    conns = []
    try:
        for _ in range(40):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conns.append(s)
            s.connect(str(node.sock_path))    # blocking: waits while the backlog is full
        time.sleep(0.5)
        refused = 0
        for s in conns:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    refused += 1
            except BlockingIOError:
                pass
        assert refused >= 40 - 32, refused
        time.sleep(2.5)
        for s in conns:
            s.settimeout(5)
            assert s.recv(1) == b""
    finally:
        for s in conns:
            s.close()
    assert node.control("id")["node_id"] == node.node_id
    assert node.running()


def test_data_dir_contacts_and_restart(nodes, tmp_path):
    a = nodes.new("a")
    a.datadir = tmp_path / "state-a"           # created by the daemon
    a.start()
    assert stat.S_IMODE(os.stat(a.datadir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(a.datadir / "identity.pem").st_mode) == 0o600
    assert stat.S_ISSOCK(os.stat(a.sock_path).st_mode)
    assert "creating one" in a.log()
    # alone, a lookup completes at once (the callback runs inside kbr_lookup_start)
    assert a.control("lookup " + "ab" * 20) == {"target": "ab" * 20, "nodes": [], "hops": 0,
                                                "queries": 0, "failures": 0}
    b = nodes.new("b")
    b.start(bootstrap=[a])
    wait_settled([a, b], min_contacts=1, timeout=10)

    # a second daemon on the same data directory is refused
    proc = subprocess.run([a.binary, "--port", str(free_udp_port()), "--bind", "127.0.0.1",
                           "--data-dir", str(a.datadir), "--c1", str(C1), "--c2", str(C2)],
                          capture_output=True, text=True, timeout=20)
    assert proc.returncode == 1 and "another p2pnsd" in proc.stderr, proc.stderr

    b.stop()
    assert not b.sock_path.exists()
    contacts = b.datadir / "contacts"
    assert stat.S_IMODE(os.stat(contacts).st_mode) == 0o600
    lines = contacts.read_text().splitlines()
    assert f"{a.node_id} {a.addr}" in lines
    for line in lines:
        assert re.fullmatch(r"[0-9a-f]{40} \d+\.\d+\.\d+\.\d+:\d+", line), line

    # saved contacts alone bring it back; bad lines are skipped with a warning
    contacts.write_text("x" * 300 + "\nnot a contact\n" + "\n".join(lines) + "\n")
    b.start()
    log = b.log()
    assert "line too long" in log and "not a contact" in log
    wait_settled([b], min_contacts=1, timeout=10)
    assert lookup_error(b.control(f"lookup {a.node_id}"), a) is None

    # killed hard, it leaves its socket behind; the next start removes it
    b.kill()
    assert b.sock_path.exists()
    b.start(bootstrap=[a])
    assert lookup_error(b.control(f"lookup {a.node_id}"), a) is None


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_and_default_binds(nodes):
    a = nodes.new("a", host="::1")
    a.start()
    b = nodes.new("b", host="::1")
    b.start(bootstrap=[a])                              # "[::1]:PORT"
    c = nodes.new("c", host="::1", binds=())            # 0.0.0.0 and ::, IPv6-only
    c.start(bootstrap=[a])
    assert c.control("id")["bound"] == [f"0.0.0.0:{c.port}", f"[::]:{c.port}"]
    wait_settled([a, b, c], min_contacts=2, timeout=15)
    assert not lookups([(x, y) for x in (a, b, c) for y in (a, b, c) if x is not y])
    assert c.control("id")["addr"] == c.addr
    # the default binds take IPv4 too
    d = nodes.new("d")
    d.start(bootstrap=[f"127.0.0.1:{c.port}"])
    wait_settled([d], min_contacts=1, timeout=15)
    found = d.control(f"lookup {c.node_id}")["nodes"]
    assert found and found[0] == {"id": c.node_id, "addr": f"127.0.0.1:{c.port}"}


def run_p2pnsd(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)


def test_help_version_and_usage_errors(p2pnsd, tmp_path):
    proc = run_p2pnsd(p2pnsd, "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: p2pnsd")
    for opt in ("--port", "--bind", "--bootstrap", "--data-dir", "--identity", "--c1",
                "--c2", "--log-level", "--help", "--version"):
        assert opt in proc.stdout, opt
    proc = run_p2pnsd(p2pnsd, "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("p2pnsd ")

    d = str(tmp_path / "d")
    cases = [
        (["--port", "4000", "--data-dir", d, "--bootstrap", "nonsense"], "bootstrap"),
        (["--port", "4000", "--data-dir", d, "--bootstrap", "127.0.0.1"], "bootstrap"),
        (["--port", "4000", "--data-dir", d, "--bootstrap", "[::1]"], "bootstrap"),
        (["--port", "4000", "--data-dir", d, "--bootstrap", "localhost:4000"], "bootstrap"),
        (["--port", "0", "--data-dir", d], "port"),
        (["--port", "4000", "--data-dir", d, "--bind", "127.0.0.1:5"], "bind"),
        (["--port", "4000", "--data-dir", d, "--c1", "41"], "c1"),
        (["--port", "4000", "--data-dir", d, "--log-level", "loud"], "log-level"),
        (["--port", "4000", "--data-dir", d, "--frobnicate"], "frobnicate"),
        (["--port", "4000", "--data-dir", d, "extra"], "extra"),
    ]
    for args, word in cases:
        proc = run_p2pnsd(p2pnsd, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert word in proc.stderr and "usage:" in proc.stderr, (args, proc.stderr)
    assert not (tmp_path / "d").exists()


def test_refuses_unsafe_or_weak_identity(p2pnsd, keygen, tmp_path):
    ident = tmp_path / "id.pem"
    subprocess.run([keygen, "create", "--c1", "4", "--c2", "4", "-q", "-o", str(ident)],
                   check=True, timeout=60)
    os.chmod(ident, 0o644)
    args = ["--port", str(free_udp_port()), "--bind", "127.0.0.1",
            "--data-dir", str(tmp_path / "d"), "--identity", str(ident)]
    proc = run_p2pnsd(p2pnsd, *args, "--c1", "4", "--c2", "4")
    assert proc.returncode == 1, proc.stderr
    assert "0600" in proc.stderr and str(ident) in proc.stderr, proc.stderr
    os.chmod(ident, 0o600)

    # made for c1 = c2 = 4, so it almost surely misses 24 bits of each
    def lz(b):
        return len(b) * 8 - int.from_bytes(b, "big").bit_length()
    shown = subprocess.run([keygen, "show", str(ident)], capture_output=True, text=True,
                           check=True, timeout=30).stdout
    node_id = bytes.fromhex(re.search(r"node-id:\s+([0-9a-f]{40})", shown).group(1))
    if lz(hashlib.sha1(node_id).digest()) < 24:
        proc = run_p2pnsd(p2pnsd, *args, "--c1", "24", "--c2", "4")
        assert proc.returncode == 1, proc.stderr
        assert "puzzles" in proc.stderr and "c1 24" in proc.stderr, proc.stderr
