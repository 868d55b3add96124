"""Benchmark: put and get latency (median, p99) and messages per get on an overlay of 20 real
p2pnsd processes on 127.0.0.1, through the control socket. Bounded in count and time."""
import os
import pathlib
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
from conftest import NodeSet, build_dir, start_overlay, wait_settled  # noqa: E402

NODES = 20
PUTS = 100
GETS = 300
DEADLINE_S = 240


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def report(name, ms):
    print(f"{name:<34} {len(ms):5d} ops  median {statistics.median(ms):7.2f} ms"
          f"  p99 {pct(ms, 99):7.2f} ms  max {max(ms):7.2f} ms")


def total_tx(nodes):
    return sum(n.control("stats")["tx"] for n in nodes)


def main():
    start = time.monotonic()
    rng = random.Random(1)
    binary = str(build_dir() / "bin" / "p2pnsd")
    with tempfile.TemporaryDirectory(prefix="p2pns-bench-") as tmp:
        ns = NodeSet(binary, pathlib.Path(tmp))
        try:
            nodes = start_overlay(ns, NODES, seed=1)
            wait_settled(nodes)
            time.sleep(1.0)
            print(f"== DHT on {NODES} p2pnsd processes (loopback, r = 5)")
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
            report("put (lookup + 5 STOREs)", put_ms)
            time.sleep(0.5)
            get_ms, found = [], 0
            tx_before = total_tx(nodes)
            for i in range(GETS):
                if time.monotonic() - start > DEADLINE_S:
                    break
                node, name = rng.choice(nodes), rng.choice(names)
                t = time.monotonic()
                answer = node.control(f"get {name}")
                get_ms.append(1000 * (time.monotonic() - t))
                found += answer.get("status") == "found"
            tx = total_tx(nodes) - tx_before
            report("get (lookup + 5 FIND_VALUEs)", get_ms)
            print(f"{'gets that found the name':<34} {found} of {len(get_ms)}")
            print(f"{'datagrams per get (all nodes)':<34} {tx / max(1, len(get_ms)):.1f}")
            if found != len(get_ms):
                raise SystemExit("some gets did not find their name")
        finally:
            ns.close()


if __name__ == "__main__":
    main()
