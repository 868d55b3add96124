"""Runs every benchmark and writes one report of them: what `make bench` does.

The benchmarks are the programs P2PNS_BUILD/bench/bench_* built from tests/bench/bench_*.c and
the scripts tests/bench/bench_*.py. Each runs with --json (one JSON object per figure on
stdout: bench, figure, value, unit, and cmp and target when the figure has a target; readable
lines on stderr) under a time limit; the scripts also get --lat-dir build/bench, where they
write each operation's latencies as NAME.lat (one value in ms a line). The results:

  build/bench/report.txt   a section per benchmark with its figures, targets and verdicts
                           (PASS / BELOW), and the machine, date and total time
  build/bench/report.csv   one row per figure: benchmark,figure,value,unit,target,verdict
  build/bench/latency.png  the latency distributions (CDF, log x) from the .lat files
  build/bench/NAME.log     each benchmark's readable output

The exit status is 1 when a benchmark fails (non-zero exit, time limit, no figures) or the plot
cannot be drawn; a missed target is reported, not failed."""
import csv
import datetime
import json
import os
import pathlib
import platform
import signal
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH_SRC = ROOT / "tests" / "bench"
OUT = ROOT / "build" / "bench"

# Time limits in seconds; the benchmarks bound themselves well within them.
TIME_LIMIT_S = {"puzzle": 200, "store": 60, "session": 60, "dht_overlay": 180, "rpc": 240,
                "resolve_opendht": 240}
DEFAULT_TIME_LIMIT_S = 120
TERM_GRACE_S = 20           # after SIGTERM at the time limit, before SIGKILL
GNUPLOT_TIMEOUT_S = 60
CDF_POINTS = 1000           # points drawn per curve at most

TITLES = {
    "puzzle": "identities and crypto puzzles (puzzle/)",
    "store": "record store (dht/, LMDB and memory)",
    "session": "KBR v2 sessions (kbr/session.c): sealed datagrams against v1 signatures",
    "dht_overlay": "DHT on 20 p2pnsd processes (control socket)",
    "rpc": "XML-RPC resolve (rpc/): cached throughput, uncached latency",
    "resolve_opendht": "cold resolve on 20 p2pnsd processes against get on 20 OpenDHT nodes",
}

# The curves of latency.png: NAME.lat and its legend.
CURVES = [
    ("dht_put", "DHT put, 20 processes"),
    ("dht_get", "DHT get, 20 processes"),
    ("rpc_uncached", "uncached resolve, 20 nodes"),
    ("rpc_cached", "cached resolve, 16 clients"),
    ("rpc_bare", "bare xmlrpc-c server, 16 clients"),
    ("resolve_cold", "cold resolve, 20 p2pnsd processes"),
    ("opendht_get", "OpenDHT get, 20 processes"),
]

CMP = {"<=": lambda v, t: v <= t, ">=": lambda v, t: v >= t,
       "<": lambda v, t: v < t, ">": lambda v, t: v > t}


# ---- finding and running the benchmarks -------------------------------------------------

def build_dir():
    env = os.environ.get("P2PNS_BUILD")
    return pathlib.Path(env) if env else ROOT / "build" / "gcc"


def find_benches(build):
    """[(name, argv)]: the C benchmarks first (quick, no processes of their own), then the
    scripts."""
    benches = []
    for src in sorted(BENCH_SRC.glob("bench_*.c")):
        benches.append((src.stem[len("bench_"):], [str(build / "bench" / src.stem), "--json"]))
    for script in sorted(BENCH_SRC.glob("bench_*.py")):
        benches.append((script.stem[len("bench_"):],
                        [sys.executable, str(script), "--json", "--lat-dir", str(OUT)]))
    return benches


def stop(proc, fired):
    """The time limit: SIGTERM to the benchmark (which stops what it started), then SIGKILL
    to its whole process group."""
    fired.set()
    proc.terminate()
    try:
        proc.wait(TERM_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def echo(stream, log):
    """Copies the benchmark's readable lines to the terminal and its log."""
    for line in stream:
        log.write(line)
        log.flush()
        print(f"  {line}", end="", flush=True)


def run_bench(name, argv, env):
    """Runs one benchmark; returns its result: figures, seconds, and error (None if it
    worked)."""
    limit = TIME_LIMIT_S.get(name, DEFAULT_TIME_LIMIT_S)
    result = {"name": name, "figures": [], "error": None, "seconds": 0.0}
    print(f"== {name} ({' '.join(pathlib.Path(a).name for a in argv[:2])}, "
          f"at most {limit} s)", flush=True)
    if not os.access(argv[0], os.X_OK):
        result["error"] = f"{argv[0]} is not built"
        return result
    start = time.monotonic()
    with open(OUT / f"{name}.log", "w") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                                start_new_session=True)
        reader = threading.Thread(target=echo, args=(proc.stderr, log), daemon=True)
        reader.start()
        fired = threading.Event()
        timer = threading.Timer(limit, stop, args=(proc, fired))
        timer.start()
        try:
            stdout = proc.stdout.readlines()
            proc.wait()
        finally:
            timer.cancel()
        timer.join()
        reader.join(TERM_GRACE_S)
    result["seconds"] = time.monotonic() - start
    result["figures"], bad = parse_figures(stdout)
    if fired.is_set():
        result["error"] = f"stopped at the time limit of {limit} s"
    elif proc.returncode != 0:
        result["error"] = f"exit status {proc.returncode}"
    elif bad:
        result["error"] = f"unreadable output: {bad[0].strip()[:80]!r}"
    elif not result["figures"]:
        result["error"] = "no figures"
    return result


def parse_figures(lines):
    """The figures among a benchmark's stdout lines, and the lines that are not one."""
    figures, bad = [], []
    for line in lines:
        if not line.strip():
            continue
        try:
            fig = json.loads(line)
            float(fig["value"])
            fig["figure"], fig["unit"]
        except (ValueError, TypeError, KeyError):
            bad.append(line)
            continue
        figures.append(fig)
    return figures, bad


# ---- judging and writing ------------------------------------------------------------------

def target_text(fig):
    return f"{fig['cmp']} {fig['target']:g}" if "cmp" in fig else ""


def verdict(fig):
    """PASS or BELOW for a figure with a target, "" for one without."""
    if "cmp" not in fig or fig["cmp"] not in CMP:
        return ""
    return "PASS" if CMP[fig["cmp"]](float(fig["value"]), float(fig["target"])) else "BELOW"


def fmt(value):
    value = float(value)
    if value == int(value) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def machine():
    """CPU count, CPU model and kernel."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{len(os.sched_getaffinity(0))} CPUs (nproc), {model}, Linux {platform.release()}"


def commit():
    try:
        run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, timeout=10,
                             capture_output=True, text=True)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return run.stdout.strip() or "unknown"


def loadavg(values):
    return " ".join(f"{v:.2f}" for v in values)


def duration(seconds):
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def text_report(results, info):
    lines = [f"p2pns benchmark report, {info['date']}",
             f"machine      {info['machine']}",
             f"load average {loadavg(info['load_start'])} at start, "
             f"{loadavg(info['load_end'])} at end (1, 5, 15 min)",
             f"build        {info['build']} (commit {info['commit']})",
             f"total time   {duration(info['seconds'])}", ""]
    for r in results:
        state = "ok" if r["error"] is None else f"FAILED: {r['error']}"
        lines.append(f"== {r['name']}: {TITLES.get(r['name'], 'benchmark')}  "
                     f"[{r['seconds']:.1f} s, {state}]")
        for fig in r["figures"]:
            row = f"   {fig['figure']:<42} {fmt(fig['value']):>12} {fig['unit']:<16}"
            if "cmp" in fig:
                row += f" target {target_text(fig):<7} {verdict(fig)}"
            lines.append(row.rstrip())
        lines.append("")
    verdicts = [verdict(f) for r in results for f in r["figures"]]
    failed = [r["name"] for r in results if r["error"] is not None]
    lines.append(f"benchmarks: {len(results)} run, {len(failed)} failed"
                 f"{' (' + ', '.join(failed) + ')' if failed else ''}; targets: "
                 f"{verdicts.count('PASS')} PASS, {verdicts.count('BELOW')} BELOW")
    return "\n".join(lines) + "\n"


def write_csv(results, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["benchmark", "figure", "value", "unit", "target", "verdict"])
        for r in results:
            for fig in r["figures"]:
                w.writerow([r["name"], fig["figure"], fig["value"], fig["unit"],
                            target_text(fig), verdict(fig)])


# ---- the latency plot ---------------------------------------------------------------------

def read_lat(path):
    """The positive values of a .lat file, sorted."""
    values = []
    with open(path) as f:
        for line in f:
            try:
                v = float(line)
            except ValueError:
                continue
            if v > 0:
                values.append(v)
    return sorted(values)


def cdf_points(values):
    """At most CDF_POINTS (value, fraction at or below it) pairs, the last one included."""
    n = len(values)
    step = max(1, n // CDF_POINTS)
    idx = list(range(step - 1, n, step))
    if idx[-1] != n - 1:
        idx.append(n - 1)
    return [(values[i], (i + 1) / n) for i in idx]


def plot(path, info):
    """Draws latency.png from the .lat files there are; returns an error or None."""
    blocks, plots = [], []
    for i, (stem, label) in enumerate(CURVES):
        lat = OUT / f"{stem}.lat"
        values = read_lat(lat) if lat.exists() else []
        if not values:
            continue
        n = len(values)
        p50, p99 = values[(n - 1) // 2], values[min(n - 1, round(0.99 * (n - 1)))]
        blocks.append(f"$d{i} << EOD\n" + "".join(f"{x:.4f} {y:.5f}\n"
                                                  for x, y in cdf_points(values)) + "EOD\n")
        plots.append(f"$d{i} using 1:2 with steps lw 2 title "
                     f"'{label}: p50 {p50:.3g} ms, p99 {p99:.3g} ms (n = {n})'")
    if not plots:
        return "no .lat files to plot"
    script = "".join(blocks) + f"""
set terminal pngcairo size 1100,760 font 'sans,11'
set output '{path}'
set title 'p2pns latency distributions ({info['date']}, {info['cpus']} CPUs)'
set logscale x 10
set format x '%g'
set xlabel 'latency (ms, log scale)'
set ylabel 'fraction of operations at or below'
set yrange [0:1]
set ytics 0.1
set mxtics 10
set grid xtics mxtics ytics
set rmargin 7
set bmargin 11
set arrow from graph 0, first 0.99 to graph 1, first 0.99 nohead dt 2 lc 'gray30'
set label '0.99' at graph 1.01, first 0.99 left
set key at screen 0.09, screen 0.16 left top Left reverse box
plot {', '.join(plots)}
"""
    try:
        run = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True,
                             timeout=GNUPLOT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"gnuplot: {e}"
    if run.returncode != 0:
        return f"gnuplot exit status {run.returncode}: {run.stderr.strip()[-300:]}"
    return None


# ---- main ---------------------------------------------------------------------------------

def main():
    start = time.monotonic()
    build = build_dir().resolve()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.lat"):
        old.unlink()
    info = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "machine": machine(), "cpus": len(os.sched_getaffinity(0)),
            "load_start": os.getloadavg(), "commit": commit(),
            "build": os.path.relpath(build, ROOT)}
    env = dict(os.environ, P2PNS_BUILD=str(build))
    results = [run_bench(name, argv, env) for name, argv in find_benches(build)]
    info["load_end"] = os.getloadavg()
    info["seconds"] = time.monotonic() - start
    report = text_report(results, info)
    (OUT / "report.txt").write_text(report)
    write_csv(results, OUT / "report.csv")
    plot_error = plot(OUT / "latency.png", info)
    print("\n" + report)
    if plot_error:
        print(f"latency plot: FAILED: {plot_error}")
    for r in results:
        if r["error"] is not None:
            print(f"{r['name']}: FAILED: {r['error']} (its output: "
                  f"{os.path.relpath(OUT / (r['name'] + '.log'), ROOT)})")
    for name in ("report.txt", "report.csv") + (() if plot_error else ("latency.png",)):
        print(f"written: {os.path.relpath(OUT / name, ROOT)}")
    return 1 if plot_error or any(r["error"] is not None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
