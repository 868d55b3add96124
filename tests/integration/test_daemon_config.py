"""p2pnsd's configuration: options from a -c file take effect, the command line overrides
them, errors name the file and the line and exit with status 2; --help, the man pages and
the example configuration list the same options with the same defaults; --log-file is
reopened on SIGHUP. Real processes, every wait bounded."""
import os
import pathlib
import re
import signal
import subprocess
import time

import pytest

from conftest import ROOT, free_udp_port

C1 = C2 = 4
START_TIMEOUT = 15.0
# keys that are command-line flags only
NOT_KEYS = {"config", "help", "version"}


def run(binary, *args, timeout=30):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def write_conf(path: pathlib.Path, text: str) -> str:
    path.write_text(text)
    return str(path)


class Daemon:
    """One p2pnsd started with exactly the given arguments; standard output and error go
    to a file."""

    def __init__(self, binary, workdir: pathlib.Path, *args):
        self.out = workdir / "stderr.txt"
        self.args = [binary, *args]
        with open(self.out, "w") as f:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT)

    def stderr(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, pattern, path=None, timeout=START_TIMEOUT) -> re.Match:
        """Waits until pattern appears in path (default: the daemon's stderr)."""
        path = path or self.out
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = re.search(pattern, path.read_text(errors="replace"))
            except FileNotFoundError:
                m = None
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError(f"exited with {self.proc.returncode}:\n{self.stderr()}")
            time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} in {path} within {timeout} s:\n"
                             f"{self.stderr()}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(15) == 0, self.stderr()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def daemons(p2pnsd, tmp_path):
    """Starts daemons (daemons(*args)) and kills whatever is left at the end."""
    started = []

    def start(*args, workdir=None):
        d = Daemon(p2pnsd, workdir or tmp_path, *args)
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def base_conf(tmp_path, port, extra=""):
    return (f"# a test node\n"
            f"port {port}\n"
            f"bind = 127.0.0.1\n"
            f"data-dir {tmp_path / 'data'}\n"
            f"c1 {C1}\r\n"
            f"c2={C2}   # puzzles small enough to be instant\n"
            f"\n"
            f"rpc-listen none\n" + extra)


def test_options_from_the_file_take_effect(daemons, tmp_path):
    port = free_udp_port()
    conf = write_conf(tmp_path / "p2pnsd.conf", base_conf(tmp_path, port, "store-size 2\n"
                                                          "replicas 3\n"))
    d = daemons("-c", conf)
    d.wait_for(rf"listening on 127\.0\.0\.1:{port} node-id")
    log = d.stderr()
    assert "3 replicas" in log and "at most 2 MB" in log, log
    assert (tmp_path / "data" / "identity.pem").exists()
    d.stop()


def test_the_command_line_overrides_the_file(daemons, tmp_path):
    file_port, port = free_udp_port(), free_udp_port()
    # the file's log level would hide the 'listening on' line; its bind list is replaced
    conf = write_conf(tmp_path / "p2pnsd.conf",
                      base_conf(tmp_path, file_port, "log-level error\nbind 127.0.0.2\n"))
    d = daemons("-c", conf, "--port", str(port), "--log-level", "info",
                "--bind", "127.0.0.1", "--replicas", "1")
    d.wait_for(rf"listening on 127\.0\.0\.1:{port} node-id")
    log = d.stderr()
    assert "127.0.0.2" not in log and f":{file_port}" not in log, log
    assert "1 replicas" in log, log
    d.stop()


def test_log_file_and_syslog_replace_each_other(daemons, tmp_path):
    port = free_udp_port()
    logfile = tmp_path / "node.log"
    conf = write_conf(tmp_path / "p2pnsd.conf", base_conf(tmp_path, port, "syslog yes\n"))
    d = daemons("-c", conf, "--log-file", str(logfile))
    d.wait_for(rf"listening on 127\.0\.0\.1:{port}", path=logfile)
    d.stop()
    assert "exiting" in logfile.read_text()
    assert d.stderr() == ""


def test_log_file_is_reopened_on_sighup(daemons, tmp_path):
    port = free_udp_port()
    logfile, moved = tmp_path / "node.log", tmp_path / "node.log.1"
    conf = write_conf(tmp_path / "p2pnsd.conf",
                      base_conf(tmp_path, port, f"log-file {logfile}\n"))
    d = daemons("-c", conf)
    d.wait_for(rf"listening on 127\.0\.0\.1:{port}", path=logfile)
    assert stat_mode(logfile) & 0o077 in (0, 0o040), oct(stat_mode(logfile))
    os.rename(logfile, moved)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for("log reopened", path=logfile)
    assert "received SIGHUP" in moved.read_text()
    assert "listening on" not in logfile.read_text()
    # a second rotation, then a clean stop whose last lines land in the new file
    os.rename(logfile, tmp_path / "node.log.2")
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for("log reopened", path=logfile)
    d.stop()
    assert "exiting" in logfile.read_text()
    assert d.stderr() == "", d.stderr()


def test_unknown_key_names_file_and_line(p2pnsd, tmp_path):
    conf = write_conf(tmp_path / "p2pnsd.conf", "port 4000\n\n# comment\nprot 5\n")
    proc = run(p2pnsd, "-c", conf)
    assert proc.returncode == 2, proc.stderr
    assert f"p2pnsd: {conf}:4: unknown option 'prot'" in proc.stderr, proc.stderr


@pytest.mark.parametrize("lines, message", [
    ("port 70000\n", ":1: bad port '70000' (1..65535)"),
    ("port 0\n", ":1: bad port '0'"),
    ("port\n", ":1: port needs a value"),
    ("port = \n", ":1: port needs a value"),
    ("port 4000\nport 4001\n", ":2: port already set on line 1"),
    ("c1 41\n", ":1: bad c1 '41' (0..40)"),
    ("replicas 4\n", ":1: bad replicas '4' (odd, 1..15)"),
    ("bind 127.0.0.1:5\n", ":1: bad bind '127.0.0.1:5'"),
    ("bootstrap localhost:3631\n", ":1: bad bootstrap 'localhost:3631'"),
    ("log-level loud\n", ":1: bad log-level 'loud'"),
    ("syslog maybe\n", ":1: bad syslog 'maybe' (yes, no, true, false, 1 or 0)"),
    ("rpc-listen 127.0.0.1\n", ":1: bad rpc-listen '127.0.0.1'"),
    ("rpc-listen localhost:3631\n", ":1: bad rpc-listen"),
    ("rpc-write-allow 10.0.0.0/33\n", ":1: bad rpc-write-allow '10.0.0.0/33'"),
    ("".join(f"rpc-write-allow 10.0.0.{i}\n" for i in range(17)),
     ":17: too many rpc-write-allow values (at most 16)"),
    ("rpc-max-conns 0\n", ":1: bad rpc-max-conns '0' (1..4096)"),
    ("rpc-max-conns 4097\n", ":1: bad rpc-max-conns '4097' (1..4096)"),
    ("cache-size 1000001\n", ":1: bad cache-size '1000001' (0..1000000)"),
    ("cache-size -1\n", ":1: bad cache-size '-1'"),
    ("cache-ttl 86401\n", ":1: bad cache-ttl '86401' (0..86400)"),
    ("name-keys both\n", ":1: bad name-keys 'both' (per-name or node)"),
    ("store-size 1x\n", ":1: bad store-size '1x'"),
    ("port 4000\n" + "x" * 4097 + "\n", ":2: line longer than 4096 bytes"),
    ("port 4000\nbind 127.0.0.1\0\n", ":2: NUL byte"),
])
def test_bad_values_in_the_file(p2pnsd, tmp_path, lines, message):
    conf = write_conf(tmp_path / "p2pnsd.conf", lines)
    proc = run(p2pnsd, "-c", conf, "--data-dir", str(tmp_path / "never"))
    assert proc.returncode == 2, proc.stderr
    assert f"p2pnsd: {conf}{message}" in proc.stderr, proc.stderr
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("args, message", [
    (["--rpc-listen", "nowhere"], "bad --rpc-listen 'nowhere'"),
    (["--rpc-write-allow", "::1/129"], "bad --rpc-write-allow '::1/129'"),
    (["--rpc-max-conns", "5000"], "bad --rpc-max-conns '5000' (1..4096)"),
    (["--cache-size", "x"], "bad --cache-size 'x' (0..1000000)"),
    (["--cache-ttl", "100000"], "bad --cache-ttl '100000' (0..86400)"),
    (["--name-keys", "user"], "bad --name-keys 'user' (per-name or node)"),
    (["--syslog=perhaps"], "bad --syslog 'perhaps'"),
    (["--log-file", ""], "bad --log-file ''"),
    (["--syslog", "yes"], "unexpected argument 'yes'"),
    (["--config"], "option '--config' needs a value"),
    (["--frobnicate"], "unknown option '--frobnicate'"),
])
def test_bad_values_on_the_command_line(p2pnsd, tmp_path, args, message):
    proc = run(p2pnsd, "-c", "/dev/null", "--data-dir", str(tmp_path / "never"), *args)
    assert proc.returncode == 2, proc.stderr
    assert f"p2pnsd: {message}" in proc.stderr and "usage:" in proc.stderr, proc.stderr
    assert not (tmp_path / "never").exists()


def test_good_values_are_accepted(p2pnsd, tmp_path):
    # a good line passes, so the error names the one after it
    good = ["rpc-listen [::1]:3631", "rpc-listen 0.0.0.0:0", "rpc-listen none",
            "rpc-write-allow 192.0.2.0/24", "rpc-write-allow 2001:db8::/32",
            "rpc-write-allow 10.1.2.3", "rpc-max-conns 4096", "cache-size 0",
            "cache-size = 1000000", "cache-ttl 86400", "name-keys node",
            "syslog no", "log-level debug", "bind ::1", "bind [::1]",
            "bootstrap [2001:db8::1]:3631", "identity /tmp/x y.pem",
            "store-size 65536", "replicas 15", "c1 0"]
    for line in good:
        conf = write_conf(tmp_path / "p2pnsd.conf", line + "\nprot 1\n")
        proc = run(p2pnsd, "-c", conf)
        assert proc.returncode == 2
        assert f"{conf}:2: unknown option 'prot'" in proc.stderr, (line, proc.stderr)


def test_missing_or_unusable_config_file(p2pnsd, tmp_path):
    missing = tmp_path / "missing.conf"
    proc = run(p2pnsd, "-c", str(missing), "--data-dir", str(tmp_path / "never"))
    assert proc.returncode == 2, proc.stderr
    assert f"p2pnsd: {missing}: cannot open the configuration file" in proc.stderr
    proc = run(p2pnsd, "--config", str(tmp_path), "--data-dir", str(tmp_path / "never"))
    assert proc.returncode == 2 and "not a regular file" in proc.stderr, proc.stderr
    big = tmp_path / "big.conf"
    big.write_text(("# " + "x" * 1000 + "\n") * 1100)
    proc = run(p2pnsd, "-c", str(big))
    assert proc.returncode == 2 and "larger than 1048576 bytes" in proc.stderr, proc.stderr
    assert not (tmp_path / "never").exists()


# ---- --help, the man pages and the example configuration agree -------------------------

def help_options(p2pnsd) -> dict:
    """--help's options: {name: (explanation, default or None)}."""
    proc = run(p2pnsd, "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: p2pnsd"), proc.stderr
    opts, name = {}, None
    for line in proc.stdout.splitlines():
        m = re.match(r"  (?:-\w, )?--([a-z0-9-]+)(?: \S+)?(?:\s+(.*))?$", line)
        if m:
            name = m.group(1)
            opts[name] = m.group(2) or ""
        elif name and line.startswith(" " * 24):
            opts[name] += " " + line.strip()
        else:
            name = None
    out = {}
    for name, text in opts.items():
        m = re.search(r"\(default ([^)]*)\)$", text)
        out[name] = (text, m.group(1) if m else None)
    return out


def man_section(path: pathlib.Path, section: str) -> str:
    text = path.read_text()
    m = re.search(rf"^\.SH {section}\n(.*?)(?=^\.SH )", text, re.M | re.S)
    assert m, f"no section {section} in {path}"
    return m.group(1)


def test_help_lists_every_documented_key(p2pnsd):
    opts = help_options(p2pnsd)
    assert NOT_KEYS <= set(opts)
    keys = set(opts) - NOT_KEYS
    conf5 = man_section(ROOT / "doc" / "p2pnsd.conf.5", "OPTIONS")
    documented = re.findall(r'^\.BI "([a-z0-9-]+) "', conf5, re.M)
    assert len(documented) == len(set(documented))
    assert set(documented) == keys, (set(documented) ^ keys)
    # p2pnsd(8) documents every flag
    man8 = man_section(ROOT / "doc" / "p2pnsd.8", "OPTIONS")
    flags = set()
    for line in man8.splitlines():
        if line.startswith((".B ", ".BI ", ".BR ")):
            flags.update(f.replace("\\-", "-")
                         for f in re.findall(r"\\-\\-([a-z0-9\\-]+)", line))
    assert flags == set(opts), flags ^ set(opts)
    for new in ("rpc-listen", "rpc-write-allow", "rpc-max-conns", "cache-size", "cache-ttl",
                "name-keys", "log-file", "syslog"):
        assert new in keys, new


def test_example_config_shows_every_key_at_its_default(p2pnsd):
    opts = help_options(p2pnsd)
    example = (ROOT / "tools" / "p2pnsd.conf").read_text()
    values = {}
    for line in example.splitlines():
        m = re.match(r"#([a-z0-9-]+) (\S+)$", line)
        if m:
            values.setdefault(m.group(1), []).append(m.group(2))
    assert set(values) == set(opts) - NOT_KEYS, set(values) ^ (set(opts) - NOT_KEYS)
    for name, (_, default) in opts.items():
        if default is not None and name not in NOT_KEYS:
            assert " ".join(values[name]) == default, (name, values[name], default)
    # the same defaults in p2pnsd.conf(5)
    conf5 = man_section(ROOT / "doc" / "p2pnsd.conf.5", "OPTIONS")
    for entry in conf5.split(".TP\n")[1:]:
        key = re.match(r'\.BI "([a-z0-9-]+) "', entry).group(1)
        default = opts[key][1]
        if default is not None and " " not in default:
            flat = re.sub(r"\n\.I[BR]? ", " ", entry).replace("\n", " ")
            assert f"Default: {default}" in flat, (key, default, entry)


def test_help_and_version(p2pnsd):
    opts = help_options(p2pnsd)
    assert opts["port"][1] == "3631" and opts["data-dir"][1] == "/var/lib/p2pns"
    assert opts["rpc-listen"][1] == "127.0.0.1:3631"
    assert opts["rpc-write-allow"][1] == "127.0.0.0/8 ::1"
    proc = run(p2pnsd, "--help")
    assert all(len(line) < 80 for line in proc.stdout.splitlines())
    # --help and --version act before the configuration is read
    proc = run(p2pnsd, "-c", "/nonexistent/p2pnsd.conf", "--version")
    makefile = (ROOT / "Makefile").read_text()
    version = re.search(r"^VERSION := (\S+)$", makefile, re.M).group(1)
    assert proc.returncode == 0 and proc.stdout == f"p2pnsd {version}\n", proc
