#!/bin/sh
# make demo: shows what p2pns does on this machine, step by step, with the built programs.
# usage: demo.sh BUILD_DIR
set -eu

B=${1:?usage: demo.sh BUILD_DIR}
KEYGEN="$B/bin/p2pns-keygen"
P2PNSD="$B/bin/p2pnsd"
CTL="$(cd "$(dirname "$0")" && pwd)/p2pns-ctl.py"
PY=/usr/bin/python3
NODES="1 2 3 4 5 6"
work=$(mktemp -d "${TMPDIR:-/tmp}/p2pns-demo.XXXXXX")
failed=

# Every p2pnsd started here is pid_N (N = 1..6) while it runs. On any exit (an error, Ctrl-C,
# SIGTERM) the ones still running get SIGTERM, then SIGKILL after 5 s; the temp dir goes
# unless DEMO_KEEP=1.
alive() { [ -n "$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" ] &&
	[ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
cleanup() {
	trap - EXIT INT TERM
	left=
	for n in $NODES; do
		eval "p=\${pid_$n:-}"
		if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null || :; left="$left $p"; fi
	done
	t=0
	for p in $left; do
		while alive "$p" && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
		if alive "$p"; then kill -KILL "$p" 2>/dev/null || :; fi
		wait "$p" 2>/dev/null || :
	done
	cd /
	if [ "${DEMO_KEEP:-}" = 1 ]; then
		[ "$1" -eq 0 ] || echo "   (DEMO_KEEP=1: $work is kept, with the nodes' logs)" >&2
	else
		rm -rf "$work"
	fi
}
trap 'st=$?; [ $st -eq 0 ] || [ -n "$failed" ] || echo "demo: FAILED (exit status $st)" >&2
      cleanup $st; exit $st' EXIT
trap 'failed=1; echo; echo "demo: interrupted" >&2; exit 130' INT
trap 'failed=1; echo "demo: terminated" >&2; exit 143' TERM

if [ -t 1 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); else bold= plain=; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
show() { printf '$ %s\n' "$*"; "$@"; }
fail() { printf '\ndemo: FAILED: %s\n' "$*" >&2; failed=1; exit 1; }

step "1. A node identity: Ed25519 key pair, node ID = SHA-1(public key), both S/Kademlia puzzles"
echo "   (c1 = 16: SHA-1(node ID) needs 16 leading zero bits; c2 = 20: a nonce X such that"
echo "    SHA-1(node ID XOR X) has 20 leading zero bits; every node of an overlay pays this once)"
show "$KEYGEN" create --progress -o "$work/alice.pem"
show ls -l "$work/alice.pem"
show "$KEYGEN" show "$work/alice.pem"

step "2. The identity file is PEM: a standard PKCS#8 key plus the puzzle solution"
show openssl pkey -in "$work/alice.pem" -pubout
echo "   The same public key, as openssl reads it (last 32 bytes of the DER form):"
openssl pkey -in "$work/alice.pem" -pubout -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n'
echo

step "3. Moving the identity to another device: one line of text (it holds the private key)"
show "$KEYGEN" export "$work/alice.pem" -o "$work/alice.txt"
printf '$ cat %s\n' "$work/alice.txt"; cut -c1-40 "$work/alice.txt" | sed 's/$/... (shortened)/'
show "$KEYGEN" import -i "$work/alice.txt" -o "$work/alice-on-laptop.pem"
show "$KEYGEN" show "$work/alice-on-laptop.pem"

step "4. Files others can read are refused"
chmod 644 "$work/alice.pem"
printf '$ chmod 644 alice.pem; %s show alice.pem\n' "$KEYGEN"
"$KEYGEN" show "$work/alice.pem" || echo "   (refused, exit status $?)"

# ---- the overlay: six p2pnsd processes on this machine -------------------------------------

# ctl ARGS: the control client (tools/p2pns-ctl.py), as the demo's $ lines show it.
ctl() { "$PY" "$CTL" "$@"; }
showctl() { echoctl "$@"; ctl "$@"; }
echoctl() { printf '$ %s\n' "$CTL $*"; }
# json EXPR: evaluates EXPR over the JSON answer a, read from standard input.
json() { "$PY" -c 'import json, sys; a = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
# free_ports N: N distinct UDP ports on 127.0.0.1 that nobody is bound to right now.
free_ports() {
	"$PY" -c 'import socket, sys
ss = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
var() { eval "printf '%s' \"\${$1}\""; }
logtail() { printf '   last lines of %s:\n' "$work/node$1.log" >&2; tail -n 8 "node$1.log" | sed 's/^/   | /' >&2; }

# start_node N PORT [BOOTSTRAP...]: starts node N in the background and waits (10 s at most)
# for its "listening on" line; sets pid_N, port_N and id_N. If another program took the
# port in the meantime, tries again on a new one.
start_node() {
	sn=$1 sport=$2; shift 2
	sboots=
	for sb in "$@"; do sboots="$sboots --bootstrap $sb"; done
	for _ in 1 2 3; do
		smark=0
		[ ! -f "node$sn.log" ] || smark=$(wc -l <"node$sn.log")
		printf '$ %s --port %s --bind 127.0.0.1 --data-dir node%s --c1 8 --c2 8%s >>node%s.log 2>&1 &\n' \
		    "$P2PNSD" "$sport" "$sn" "$sboots" "$sn"
		# shellcheck disable=SC2086 # $sboots: words on purpose
		"$P2PNSD" --port "$sport" --bind 127.0.0.1 --data-dir "node$sn" --c1 8 --c2 8 \
		    $sboots >>"node$sn.log" 2>&1 </dev/null &
		eval "pid_$sn=$!"
		st=0
		while :; do
			sline=$(tail -n "+$((smark + 1))" "node$sn.log" |
			    grep -m1 "listening on 127.0.0.1:$sport node-id " || :)
			if [ -n "$sline" ]; then
				eval "port_$sn=$sport id_$sn=${sline##* }"
				return 0
			fi
			alive "$(var "pid_$sn")" || break
			st=$((st + 1))
			[ $st -lt 100 ] || { logtail "$sn"; fail "node $sn did not start within 10 s"; }
			sleep 0.1
		done
		wait "$(var "pid_$sn")" || :
		eval "pid_$sn="
		if tail -n "+$((smark + 1))" "node$sn.log" | grep -q 'Address already in use'; then
			echo "   (port $sport was taken meanwhile: trying another one)"
			sport=$(free_ports 1)
			continue
		fi
		logtail "$sn"
		fail "node $sn exited at start"
	done
	fail "node $sn: no free UDP port after 3 attempts"
}

# wait_stopped N: after its SIGTERM, waits (10 s at most) for node N's clean exit (status 0).
wait_stopped() {
	tp=$(var "pid_$1")
	tt=0
	while alive "$tp"; do
		tt=$((tt + 1))
		[ $tt -lt 100 ] || { logtail "$1"; fail "node $1 did not exit within 10 s of SIGTERM"; }
		sleep 0.1
	done
	trc=0
	wait "$tp" || trc=$?
	eval "pid_$1="
	[ $trc -eq 0 ] || { logtail "$1"; fail "node $1 exited with status $trc"; }
}

table_size() {
	tans=$(ctl --raw --timeout 5 "node$1" table) || fail "node $1 does not answer on its control socket"
	printf '%s' "$tans" | json 'a["size"]'
}

# wait_tables MIN SECONDS NODE...: until each node's table has MIN contacts at least.
wait_tables() {
	wmin=$1 wend=$(($(date +%s) + $2)); shift 2
	while :; do
		wshort=
		for wn in "$@"; do
			wsz=$(table_size "$wn") || exit 1
			[ "$wsz" -ge "$wmin" ] || wshort="$wshort $wn"
		done
		[ -n "$wshort" ] || return 0
		if [ "$(date +%s)" -ge "$wend" ]; then
			for wn in $wshort; do logtail "$wn"; done
			fail "after $2 s, fewer than $wmin contacts in the table of node(s)$wshort"
		fi
		sleep 0.2
	done
}

# check_lookup ANSWER N ADDR: the first node of the lookup ANSWER must be node N at ADDR.
check_lookup() {
	cfirst=$(printf '%s' "$1" | json 'a["nodes"][0]["id"] + " " + str(a["nodes"][0]["addr"]) if a.get("nodes") else "none none"') ||
	    fail "cannot read the lookup answer"
	[ "${cfirst% *}" = "$(var "id_$2")" ] ||
	    fail "the lookup did not find node $2: first node returned is ${cfirst% *}"
	[ "${cfirst#* }" = "$3" ] ||
	    fail "the lookup found node $2 at ${cfirst#* }, expected $3"
	names=$(printf '%s' "$1" | json '" ".join(n["id"][:16] for n in a["nodes"])') ||
	    fail "cannot read the lookup answer"
	hops=$(printf '%s' "$1" | json '"%s hop(s), %s queries" % (a["hops"], a["queries"]) if "hops" in a else ""') ||
	    fail "cannot read the lookup answer"
	order=
	for nid in $names; do
		for nn in $NODES; do
			case "$(var "id_$nn")" in "$nid"*) order="$order, node $nn" ;; esac
		done
	done
	printf '   -> found node %s (%s...) at %s%s.\n' \
	    "$2" "$(var "id_$2" | cut -c1-16)" "$3" "${hops:+, $hops}"
	printf '      The nodes returned, by XOR distance from the target: %s\n' "${order#, }"
}

step "5. An overlay of 6 nodes on this machine: p2pnsd processes talking UDP on 127.0.0.1"
echo "   --c1 8 --c2 8: cheap puzzles so that the demo's identities are made in an instant"
echo "   (a real overlay uses the defaults, 16 and 20; all nodes of an overlay must agree)."
echo "   Node 1 starts alone; nodes 2..6 join through node 1, node 4 also through node 2."
show cd "$work"
ports=$(free_ports 7) || fail "cannot find free UDP ports on 127.0.0.1"
# shellcheck disable=SC2086 # seven port numbers
set -- $ports
newport3=$7
start_node 1 "$1"
start_node 2 "$2" "127.0.0.1:$port_1"
start_node 3 "$3" "127.0.0.1:$port_1"
start_node 4 "$4" "127.0.0.1:$port_1" "127.0.0.1:$port_2"
start_node 5 "$5" "127.0.0.1:$port_1"
start_node 6 "$6" "127.0.0.1:$port_1"
echo "   Waiting (20 s at most) until every node knows at least 3 others..."
# shellcheck disable=SC2086 # the node numbers
wait_tables 3 20 $NODES
showctl node1 id
echo "   node   address            node ID (first 16 hex)   table"
for n in $NODES; do
	sz=$(table_size "$n") || exit 1
	printf '   %-6s %-18s %-24s %s contacts\n' "node$n" "127.0.0.1:$(var "port_$n")" \
	    "$(var "id_$n" | cut -c1-16)" "$sz"
done

step "6. A lookup: node 6 asks the overlay for the nodes closest to node 3's ID"
echoctl node6 lookup "$id_3"
ans=$(ctl node6 lookup "$id_3") || { printf '%s\n' "$ans"; fail "the lookup from node 6 failed"; }
printf '%s\n' "$ans"
check_lookup "$ans" 3 "127.0.0.1:$port_3"

step "7. ID/locator split: node 3 moves to another port and keeps its node ID"
oldport3=$port_3 oldid3=$id_3
show kill -TERM "$pid_3"
wait_stopped 3
echo "   node 3 has stopped cleanly; the end of its log:"
tail -n 2 node3.log | sed 's/^/   | /'
echo "   It starts again on a new port with the same data dir (the same identity.pem), and"
echo "   joins again through node 1 and the contacts it saved:"
start_node 3 "$newport3" "127.0.0.1:$port_1"
[ "$port_3" != "$oldport3" ] || fail "node 3 got its old port again"
[ "$id_3" = "$oldid3" ] || fail "node 3 came back with another node ID: $id_3"
echo "   Waiting (10 s at most) until node 3 knows at least 3 others again..."
wait_tables 3 10 3
showctl node3 id
echoctl node5 lookup "$id_3"
ans=$(ctl node5 lookup "$id_3") || { printf '%s\n' "$ans"; fail "the lookup from node 5 failed"; }
printf '%s\n' "$ans"
check_lookup "$ans" 3 "127.0.0.1:$port_3"
echo "   Same node ID as before; only the address changed (port $oldport3 -> $port_3)."

step "8. The DHT: node 2 stores a name, signed by its key, on the 5 nodes closest to SHA-1(name)"
showctl node2 put sip:alice@example.org 192.0.2.7:5060 3600
ans=$(ctl --raw node2 get sip:alice@example.org) || fail "node 2 cannot read its own name back"
echo "   Every other node reads it; the answer is the majority of the 5 replicas:"
for n in 1 3 4 5 6; do
	echoctl "node$n" get sip:alice@example.org
	ans=$(ctl --raw "node$n" get sip:alice@example.org) || fail "the get through node $n failed"
	printf '%s' "$ans" | json '"   -> %s, value %s, %d of %d replicas agree" % (a["status"],
	    a["records"][0]["value"] if a.get("records") else "-", a.get("votes", 0), a.get("answers", 0))'
	case "$ans" in *192.0.2.7:5060*) ;; *) fail "node $n did not read the value" ;; esac
done
echo "   Another node's key cannot take the name (unique names, no identity theft):"
echoctl node4 put sip:alice@example.org 6.6.6.6:1
ans=$(ctl --raw node4 put sip:alice@example.org 6.6.6.6:1 || true)
printf '   -> %s\n' "$ans"
case "$ans" in *"owned by another key"*) ;; *) fail "node 4 was not refused" ;; esac

step "9. What a node counts: stats of node 5 (a selection of the answer's fields)"
printf '$ %s\n' "$CTL node5 stats"
ans=$(ctl --raw node5 stats) || fail "node 5 does not answer stats"
printf '%s' "$ans" | json '"\n".join([
    "   messages   in %d, out %d (UDP datagrams in %d, out %d)" % (a["rx"], a["tx"], a["udp_rx"], a["udp_tx"]),
    "   dropped    malformed %d, version %d, rate %d, time %d, puzzle %d, replay %d, signature %d, unsolicited %d" % tuple(a["dropped_" + k] for k in ("malformed", "version", "rate", "time", "puzzle", "replay", "signature", "unsolicited")),
    "   lookups    started %d, done %d; RPCs timed out %d" % (a["lookups_started"], a["lookups_done"], a["rpcs_timed_out"]),
    "   table      %d contacts; KBR memory %d bytes, RSS %d KiB" % (a["table_size"], a["memory"], a["rss_kb"])])'

step "10. Stopping every node: SIGTERM, each saves its contacts and exits with status 0"
printf '$ kill -TERM'; for n in $NODES; do printf ' %s' "$(var "pid_$n")"; done; echo
for n in $NODES; do kill -TERM "$(var "pid_$n")"; done
for n in $NODES; do wait_stopped "$n"; done
echo "   all 6 nodes exited with status 0"
if [ "${DEMO_KEEP:-}" = 1 ]; then
	echo "   Their logs are $work/node1.log ... node6.log"
	echo "   (kept, with the data dirs, because DEMO_KEEP=1)"
else
	echo "   Their logs were $work/node1.log ... node6.log"
	echo "   (removed with $work on exit; run with DEMO_KEEP=1 to keep them)"
fi

step "Done"
echo "   Identities work, and so does the overlay: p2pnsd nodes join, route lookups (KBR,"
echo "   secure Kademlia over UDP), find a node again after it moved, and store owner-signed"
echo "   records on 5 replicas read back by majority (DHT). The XML-RPC front end and the"
echo "   p2pns command line tool are not part of this build yet; see README.md."
