"""Benchmark: put and get latency (median, p99) and messages per get on an overlay of 20 real
p2pnsd processes, node i on loopback address 127.0.0.(10+i) of its own (the KBR's per-source
rate limit counts by IP address), through the control socket. Bounded in count and time.
--json prints the figures as JSON lines; --lat-dir DIR writes dht_put.lat and dht_get.lat."""
import pathlib
import random
import signal
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
from conftest import NodeSet, build_dir, wait_settled  # noqa: E402
from benchlib import Output, parse_args  # noqa: E402

NODES = 20
PUTS = 100
GETS = 300
DEADLINE_S = 120


def start_overlay(ns, count, seed):
    """Starts count nodes, node i on 127.0.0.(10+i), each joining through one or two
    earlier ones."""
    rng = random.Random(seed)
    nodes = []
    for i in range(count):
        node = ns.new(host=f"127.0.0.{10 + i}")
        node.start(bootstrap=rng.sample(nodes, min(i, rng.choice((1, 2)))) if i else [])
        nodes.append(node)
    return nodes


def total_tx(nodes):
    return sum(n.control("stats")["tx"] for n in nodes)


def put_all(out, nodes, rng, start):
    """Puts up to PUTS names through random nodes; returns the names put."""
    put_ms, names = [], []
    for i in range(PUTS):
        if time.monotonic() - start > DEADLINE_S:
            break
        node, name = rng.choice(nodes), f"sip:user{i}@bench.example"
        t = time.monotonic()
        answer = node.control(f"put {name} 192.0.2.{i % 250}:5060 3600")
        put_ms.append(1000 * (time.monotonic() - t))
        if not answer.get("ok"):
            raise SystemExit(f"put {name} failed: {answer}")
        names.append(name)
    out.latency("put", "put (lookup + 5 STOREs)", put_ms, "dht_put")
    return names


def get_all(out, nodes, names, rng, start):
    """Gets up to GETS random names through random nodes; fails unless each is found."""
    get_ms, found = [], 0
    tx_before = total_tx(nodes)
    for _ in range(GETS):
        if time.monotonic() - start > DEADLINE_S:
            break
        node, name = rng.choice(nodes), rng.choice(names)
        t = time.monotonic()
        answer = node.control(f"get {name}")
        get_ms.append(1000 * (time.monotonic() - t))
        found += answer.get("status") == "found"
    per_get = (total_tx(nodes) - tx_before) / max(1, len(get_ms))
    out.latency("get", "get (lookup + 5 FIND_VALUEs)", get_ms, "dht_get")
    out.line(f"{'gets that found the name':<34} {found} of {len(get_ms)}")
    out.line(f"{'datagrams per get (all nodes)':<34} {per_get:.1f}")
    out.figure("gets found", round(100 * found / max(1, len(get_ms)), 1), "%")
    out.figure("datagrams per get (all nodes)", round(per_get, 1), "datagrams")
    if found != len(get_ms):
        raise SystemExit("some gets did not find their name")


def main():
    out = Output("dht_overlay", parse_args(__doc__))
    start = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench_dht_overlay: terminated"))
    rng = random.Random(1)
    binary = str(build_dir() / "bin" / "p2pnsd")
    with tempfile.TemporaryDirectory(prefix="p2pns-bench-") as tmp:
        ns = NodeSet(binary, pathlib.Path(tmp))
        try:
            nodes = start_overlay(ns, NODES, seed=1)
            wait_settled(nodes)
            time.sleep(1.0)
            out.line(f"== DHT on {NODES} p2pnsd processes (127.0.0.10-{9 + NODES}, r = 5)")
            names = put_all(out, nodes, rng, start)
            time.sleep(0.5)
            get_all(out, nodes, names, rng, start)
        finally:
            ns.close()


if __name__ == "__main__":
    main()
