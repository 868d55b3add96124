"""One OpenDHT node for bench_resolve_opendht.py: a DhtRunner (python3-opendht) on HOST, any
free port, driven by one JSON command a line on stdin (boot, put, get, table, quit) with one
JSON answer a line on stdout, each carrying its command's sequence number n. It says
{"n": 0, "port": ..., "id": ...} when it runs, times puts and gets itself (from the call to
the done callback), and exits when stdin closes, on quit, or after LIFETIME_S at the latest.

usage: opendht_node.py HOST"""
import json
import os
import socket
import sys
import threading
import time

import opendht

LIFETIME_S = 400            # beyond any benchmark's time limit
OP_TIMEOUT_S = 30           # one put or get


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def timed(call):
    """Runs call(on_value, on_done) and waits for on_done; returns (ok, ms, values), ms taken
    when the done callback runs; (False, None, values) after OP_TIMEOUT_S."""
    done = threading.Event()
    values, result = [], {}

    def on_value(v):
        values.append(bytes(v.data).decode(errors="replace"))
        return True

    def on_done(ok, nodes):
        result["end"] = time.perf_counter()
        result["ok"] = bool(ok)
        done.set()

    start = time.perf_counter()
    call(on_value, on_done)
    if not done.wait(OP_TIMEOUT_S):
        return False, None, values
    return result["ok"], 1000 * (result["end"] - start), values


def serve(runner):
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        cmd = json.loads(line)
        op, answer = cmd["op"], {"n": cmd["n"]}
        if op == "boot":
            runner.bootstrap(cmd["host"], str(cmd["port"]))
        elif op == "put":
            key = opendht.InfoHash.get(cmd["key"])
            value = opendht.Value(cmd["value"].encode())
            answer["ok"], answer["ms"], _ = timed(lambda v, d: runner.put(key, value, done_cb=d))
        elif op == "get":
            key = opendht.InfoHash.get(cmd["key"])
            answer["ok"], answer["ms"], answer["values"] = timed(
                lambda v, d: runner.get(key, get_cb=v, done_cb=d))
        elif op == "table":
            answer["size"] = runner.getRoutingTablesLog(socket.AF_INET).count("Node ")
        elif op == "quit":
            return
        else:
            answer["error"] = f"unknown op {op!r}"
        send(answer)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.rsplit("\n\n", 1)[1])
    watchdog = threading.Timer(LIFETIME_S, lambda: os._exit(3))
    watchdog.daemon = True
    watchdog.start()
    runner = opendht.DhtRunner()
    runner.run(ipv4=sys.argv[1], port=0)
    send({"n": 0, "port": runner.getBound().getPort(), "id": runner.getNodeId().decode()})
    serve(runner)
    runner.shutdown()
    sys.stdout.flush()
    os._exit(0)             # the bindings' destructors can hang at interpreter exit


if __name__ == "__main__":
    main()
