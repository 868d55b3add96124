"""What the Python benchmarks share: their command line (--json, --lat-dir), readable lines,
figures (with --json also one JSON object each on stdout, the readable lines then going to
stderr) and raw latency samples written as NAME.lat files, one value in ms a line."""
import argparse
import json
import pathlib
import statistics
import sys


def pct(values, p):
    """The p-th percentile of values (nearest rank on the sorted values)."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def parse_args(doc):
    parser = argparse.ArgumentParser(description=" ".join(doc.split("\n\n")[0].split()))
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per figure on stdout, readable lines on stderr")
    parser.add_argument("--lat-dir", type=pathlib.Path,
                        help="write each operation's latencies (ms, one a line) to NAME.lat")
    return parser.parse_args()


class Output:
    """Where a benchmark's results go."""

    def __init__(self, bench, args):
        self.bench = bench
        self.json = args.json
        self.lat_dir = args.lat_dir
        self.human = sys.stderr if args.json else sys.stdout

    def line(self, text):
        print(text, file=self.human, flush=True)

    def figure(self, name, value, unit, cmp=None, target=None):
        """One figure for the report (readable lines are the caller's business)."""
        if not self.json:
            return
        fig = {"bench": self.bench, "figure": name, "value": value, "unit": unit}
        if cmp is not None:
            fig.update(cmp=cmp, target=target)
        print(json.dumps(fig), flush=True)

    def latency(self, op, label, ms, stem):
        """One operation's latencies (ms): a readable line (label), the figures "OP median"
        and "OP p99", and with --lat-dir the file STEM.lat."""
        med, p99 = statistics.median(ms), pct(ms, 99)
        self.line(f"{label:<34} {len(ms):5d} ops  median {med:7.2f} ms  p99 {p99:7.2f} ms"
                  f"  max {max(ms):7.2f} ms")
        self.figure(f"{op} median", round(med, 3), "ms")
        self.figure(f"{op} p99", round(p99, 3), "ms")
        self.samples(stem, ms)

    def samples(self, name, ms):
        if self.lat_dir is None:
            return
        self.lat_dir.mkdir(parents=True, exist_ok=True)
        (self.lat_dir / f"{name}.lat").write_text("".join(f"{v:.4f}\n" for v in ms))
