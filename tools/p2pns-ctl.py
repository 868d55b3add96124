#!/usr/bin/python3
"""p2pns-ctl: sends one command to a running p2pnsd over DATA_DIR/control.sock and prints
the node's JSON answer, pretty-printed (or as is with --raw).

Commands: id, table, lookup HEX40, ping ADDR, stats (see p2pnsd(8)).
Exit status: 0 answer printed, 1 no socket, no answer or an error answer, 2 usage error."""
import argparse
import json
import os
import socket
import sys
import time

PROG = "p2pns-ctl"


def fail(msg: str):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


def ask(path: str, line: str, timeout: float) -> bytes:
    """Sends line to the socket at path and returns the answer line (without its newline)."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        while True:
            try:
                s.connect(path)
                break
            except BlockingIOError:
                # the node's listen backlog is full for a moment
                if time.monotonic() > deadline:
                    raise TimeoutError from None
                time.sleep(0.01)
        s.sendall(line.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            s.settimeout(left)
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
    return buf.rstrip(b"\n")


def main() -> int:
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Send one command to a running p2pnsd through DATA_DIR/control.sock "
                    "and print its JSON answer.",
        epilog="commands: id, table, lookup HEX40, ping ADDR, stats. Exit status: 0 answer "
               "printed, 1 no socket, no answer or an error answer, 2 usage error.")
    ap.add_argument("--raw", action="store_true", help="print the answer line as is")
    ap.add_argument("--timeout", type=float, default=20.0, metavar="S",
                    help="seconds to wait for the answer (default 20)")
    ap.add_argument("datadir", metavar="DATA_DIR", help="the node's --data-dir")
    ap.add_argument("command", metavar="COMMAND", nargs="+", help="command and its argument")
    args = ap.parse_args()
    if args.timeout <= 0:
        ap.error("--timeout must be positive")

    path = os.path.join(args.datadir, "control.sock")
    line = " ".join(args.command)
    if not os.path.exists(path):
        fail(f"no control socket {path}: is p2pnsd running with --data-dir {args.datadir}?")
    try:
        answer = ask(path, line, args.timeout)
    except TimeoutError:
        fail(f"{path}: no answer to {line!r} within {args.timeout:g} s")
    except ConnectionRefusedError:
        fail(f"{path}: nobody listens (the node has stopped?)")
    except PermissionError:
        fail(f"{path}: permission denied (run as the user the node runs as)")
    except OSError as e:
        fail(f"{path}: {e.strerror or e}")
    if not answer:
        fail(f"{path}: the node closed the connection without an answer to {line!r}")
    try:
        obj = json.loads(answer)
    except ValueError:
        fail(f"{path}: the answer is not JSON: {answer[:200]!r}")
    if args.raw:
        sys.stdout.write(answer.decode() + "\n")
    else:
        print(json.dumps(obj, indent=2))
    sys.stdout.flush()
    if isinstance(obj, dict) and "error" in obj:
        print(f"{PROG}: the node answered with an error: {obj['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): nothing left to tell
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
