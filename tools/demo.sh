#!/bin/sh
# make demo: shows what p2pns does on this machine, step by step, with the built programs:
# an overlay of 8 p2pnsd nodes on loopback, names registered and resolved with the p2pns tool,
# owner-only names, two-stage resolution after a node moves, and the XML-RPC interface.
# usage: demo.sh BUILD_DIR
#   DEMO_EXIT=1  stop the nodes at the end instead of waiting for Ctrl-C
#   DEMO_KEEP=1  keep the temporary directory (data dirs, logs)
# shellcheck disable=SC2154,SC2317 # pid_N, addr_N... are set by eval; the traps call functions
set -eu

B=${1:?usage: demo.sh BUILD_DIR}
PY=/usr/bin/python3
NODES="1 2 3 4 5 6 7 8"
COMMON="-c /dev/null --c1 8 --c2 8 --cache-ttl 2"
for prog in p2pnsd p2pns p2pns-keygen; do
	[ -x "$B/bin/$prog" ] || { echo "demo: $B/bin/$prog is missing: run make first" >&2; exit 1; }
done
PATH="$B/bin:$PATH"
export PATH
work=$(mktemp -d "${TMPDIR:-/tmp}/p2pns-demo.XXXXXX")
failed=
stop=

# Every p2pnsd started here is pid_N (N = 1..8) while it runs. On any exit (an error, Ctrl-C,
# SIGTERM) the ones still running get SIGTERM, then SIGKILL after 5 s; the temp dir goes
# unless DEMO_KEEP=1.
alive() { [ -n "$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" ] &&
	[ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
cleanup() {
	trap - EXIT HUP INT TERM
	restore_tty
	left=
	for n in $NODES; do
		eval "p=\${pid_$n:-}"
		if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null || :; left="$left $p"; fi
	done
	t=0
	for p in $left; do
		while alive "$p" && [ "$t" -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
		if alive "$p"; then kill -KILL "$p" 2>/dev/null || :; fi
		wait "$p" 2>/dev/null || :
	done
	cd /
	if [ "${DEMO_KEEP:-}" = 1 ]; then
		[ "$1" -eq 0 ] || echo "   (DEMO_KEEP=1: $work is kept, with the nodes' data dirs and logs)" >&2
	else
		rm -rf "$work"
	fi
}
trap 'st=$?; [ $st -eq 0 ] || [ -n "$failed" ] || echo "demo: FAILED (exit status $st)" >&2
      cleanup $st; exit $st' EXIT
interrupted() { failed=1; echo; echo "demo: interrupted" >&2; exit 130; }
terminated() { failed=1; echo "demo: terminated" >&2; exit 143; }
hangup() { failed=1; echo "demo: hangup" >&2; exit 129; }
trap interrupted INT
trap terminated TERM
trap hangup HUP

# The final wait may put the terminal in a mode that reads Ctrl-C as a key: tty_saved then
# holds its previous settings, which every way out restores.
tty_saved=
restore_tty() {
	[ -z "$tty_saved" ] || stty "$tty_saved" 2>/dev/null || :
	tty_saved=
}
# tty_foreground: whether standard input is a terminal and this script is in its foreground
# process group (so that reading it neither stops the script nor takes another's input).
tty_foreground() {
	[ -t 0 ] || return 1
	# /proc/PID/stat after "(comm) ": state ppid pgrp session tty_nr tpgid ...
	fst=$(sed 's/^.*) //' "/proc/$$/stat" 2>/dev/null) || return 1
	# shellcheck disable=SC2086 # the fields, split on purpose
	set -- $fst
	[ "$#" -ge 6 ] && [ "$3" = "$6" ]
}

if [ -t 1 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
show() { printf '$ %s\n' "$*"; "$@"; }
fail() { printf '\ndemo: FAILED: %s\n' "$*" >&2; failed=1; exit 1; }
var() { eval "printf '%s' \"\${$1}\""; }
url() { var "url_$1"; }
logtail() { printf '   last lines of %s:\n' "$work/node$1.log" >&2; tail -n 12 "$work/node$1.log" | sed 's/^/   | /' >&2; }

# run CMD...: shows "$ CMD", runs it and prints what it wrote (both streams); keeps that in
# $out and the exit status in $rc.
run() {
	printf '$ %s\n' "$*"
	rc=0
	out=$("$@" 2>&1) || rc=$?
	[ -z "$out" ] || printf '%s\n' "$out"
}
# cli N ARGS...: the p2pns tool against node N's XML-RPC endpoint, shown and run as by run.
cli() { cn=$1; shift; run p2pns --url "$(url "$cn")" "$@"; }
# json EXPR: evaluates EXPR over the JSON document a, read from standard input.
json() { "$PY" -c 'import json, sys; a = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
# free_ports ADDR N: N distinct UDP ports on ADDR that nobody is bound to right now.
free_ports() {
	"$PY" -c 'import socket, sys
ss = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(int(sys.argv[2]))]
for s in ss: s.bind((sys.argv[1], 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1" "$2" 2>/dev/null
}
# tcp_free PORT: whether a server could listen on 127.0.0.1:PORT (TCP) right now.
tcp_free() {
	"$PY" -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# start_node N ADDR PORT RPC [BOOTSTRAP...]: starts node N in the background on UDP ADDR:PORT
# with XML-RPC on RPC, and waits (10 s at most) for its "listening on" line; sets pid_N,
# addr_N, id_N and url_N (from the "XML-RPC on" line). If another program took the UDP port
# (or RPC's TCP port) in the meantime, tries again on a free one.
start_node() {
	sn=$1 saddr=$2 sport=$3 srpc=$4; shift 4
	sboots=
	for sb in "$@"; do sboots="$sboots --bootstrap $sb"; done
	for _ in 1 2 3; do
		smark=0
		[ ! -f "node$sn.log" ] || smark=$(wc -l <"node$sn.log")
		printf '$ p2pnsd %s --bind %s --port %s --data-dir node%s --rpc-listen %s%s 2>>node%s.log &\n' \
		    "$COMMON" "$saddr" "$sport" "$sn" "$srpc" "$sboots" "$sn"
		# shellcheck disable=SC2086 # $COMMON and $sboots: words on purpose
		p2pnsd $COMMON --bind "$saddr" --port "$sport" --data-dir "node$sn" \
		    --rpc-listen "$srpc" $sboots 2>>"node$sn.log" </dev/null &
		eval "pid_$sn=$!"
		st=0
		while :; do
			sline=$(tail -n "+$((smark + 1))" "node$sn.log" |
			    grep -m1 "listening on $saddr:$sport node-id " || :)
			if [ -n "$sline" ]; then
				surl=$(tail -n "+$((smark + 1))" "node$sn.log" |
				    sed -n 's|.*XML-RPC on \(http://[^ ]*\).*|\1|p' | head -n 1)
				[ -n "$surl" ] || { logtail "$sn"; fail "node $sn did not log its XML-RPC URL"; }
				eval "addr_$sn=$saddr:$sport id_$sn=${sline##* } url_$sn=$surl mark_$sn=$smark"
				return 0
			fi
			alive "$(var "pid_$sn")" || break
			st=$((st + 1))
			[ $st -lt 100 ] || { logtail "$sn"; fail "node $sn did not start within 10 s"; }
			sleep 0.1
		done
		wait "$(var "pid_$sn")" || :
		eval "pid_$sn="
		snew=$(tail -n "+$((smark + 1))" "node$sn.log")
		case "$snew" in
		*"cannot serve XML-RPC"*"in use"*)
			echo "   (TCP port ${srpc##*:} was taken meanwhile: XML-RPC goes to any free port)"
			srpc=127.0.0.1:0
			continue ;;
		*"Address already in use"*)
			echo "   (UDP port $sport was taken meanwhile: trying another one)"
			sport=$(free_ports "$saddr" 1) || fail "cannot find a free UDP port on $saddr"
			continue ;;
		esac
		logtail "$sn"
		fail "node $sn exited at start"
	done
	fail "node $sn: no free port after 3 attempts"
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

# stop_all [signal]: SIGTERM to every node still running; each must exit with status 0. With
# an argument (the wait ended on a signal, which may have reached the whole process group and
# so the nodes too), a node whose log says it is already shutting down gets no second signal.
stop_all() {
	[ -z "${1:-}" ] || sleep 0.5
	spids=
	for n in $NODES; do
		sp=$(var "pid_$n")
		[ -n "$sp" ] || continue
		if [ -n "${1:-}" ] && tail -n "+$(($(var "mark_$n") + 1))" "node$n.log" | grep -q 'shutting down'; then
			continue
		fi
		spids="$spids $sp"
	done
	if [ -n "$spids" ]; then
		printf '$ kill -TERM%s\n' "$spids"
		# shellcheck disable=SC2086 # the pids
		kill -TERM $spids 2>/dev/null || :
	fi
	[ "$spids" = "$(for n in $NODES; do printf ' %s' "$(var "pid_$n")"; done)" ] ||
	    echo "   (the signal reached nodes too: they are stopping by themselves)"
	for n in $NODES; do [ -z "$(var "pid_$n")" ] || wait_stopped "$n"; done
	echo "   -> all 8 nodes saved their contacts and exited with status 0."
}

# status_json N: node N's status (p2pns --json status), or a failure with its log.
status_json() {
	sj=$(p2pns --url "$(url "$1")" --timeout 5 --json status 2>&1) ||
	    { logtail "$1"; fail "node $1 does not answer over XML-RPC: $sj"; }
	printf '%s' "$sj"
}
table_size() { status_json "$1" | json 'a["overlay"]["routing_table"]'; }

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
		sleep 0.5
	done
}

# resolve_until N EXPECTED OLD SECONDS NAME [OPTIONS]: "p2pns resolve NAME" through node N
# until it prints EXPECTED (SECONDS at most); shows every different answer on the way, OLD
# (if not empty) as the answer from before a change.
resolve_until() {
	rn=$1 rwant=$2 rold=$3 rsecs=$4 rend=$(($(date +%s) + $4)); shift 4
	printf '$ p2pns --url %s resolve %s\n' "$(url "$rn")" "$*"
	rlast=
	while :; do
		rrc=0
		rout=$(p2pns --url "$(url "$rn")" resolve "$@" 2>&1) || rrc=$?
		if [ "$rrc" -eq 0 ] && [ "$rout" = "$rwant" ]; then
			printf '%s\n' "$rout"
			return 0
		fi
		if [ "$rout" != "$rlast" ]; then
			if [ "$rrc" -ne 0 ]; then rwhy="exit status $rrc"
			elif [ -n "$rold" ] && [ "$rout" = "$rold" ]; then rwhy="still the old answer"
			else rwhy="not the expected answer"; fi
			printf '%s\n' "$rout" | sed "s/\$/      <- $rwhy: asking again/"
			rlast=$rout
		fi
		if [ "$(date +%s)" -ge "$rend" ]; then
			logtail "$rn"
			fail "node $rn did not resolve $1 to $(printf '%s' "$rwant" | tr '\n' ' ') within $rsecs s"
		fi
		sleep 0.5
	done
}

echo "p2pns: a distributed name service, shown on this machine. Lines starting with \$ are the"
echo "commands run; p2pns, p2pnsd and p2pns-keygen are the programs just built in $B/bin."

step "1. A node identity: an Ed25519 key pair whose node ID solves two crypto puzzles"
echo "   node ID = SHA-1(public key), 160 bits. Static puzzle: SHA-1(node ID) has c1 = 16"
echo "   leading zero bits; dynamic puzzle: a nonce X with SHA-1(node ID XOR X) having c2 = 20."
echo "   Every node pays this once (a few seconds), which makes mass-producing identities or"
echo "   choosing one's place in the overlay expensive."
show cd "$work"
show p2pns-keygen create --progress -o identity.pem
show p2pns-keygen show identity.pem

# ---- the overlay: eight p2pnsd processes on this machine -----------------------------------

step "2. An overlay of 8 nodes on this machine: p2pnsd processes talking UDP on 127.0.0.1"
echo "   The options shared by all of them:"
echo "     -c /dev/null       no configuration file, only the command line"
echo "     --c1 8 --c2 8      cheap puzzles, so that each node makes its identity at once"
echo "                        (a real overlay keeps the defaults 16 and 20; all nodes must agree)"
echo "     --cache-ttl 2      a node caches resolved names for 2 s (default 60), so that"
echo "                        changes show quickly in this demo"
echo "     --rpc-listen       where the node serves XML-RPC, which the p2pns tool talks to;"
echo "                        port 0 = any free port, the log tells which"
echo "   Each node creates its own identity.pem in its data directory at its first start."
echo "   Node 1 starts alone; the others join through node 1 (some also through another node)."
ports=$(free_ports 127.0.0.1 8) || fail "cannot find free UDP ports on 127.0.0.1"
# shellcheck disable=SC2086 # eight port numbers
set -- $ports
rpc1=127.0.0.1:3631
if ! tcp_free 3631; then
	echo "   (TCP port 3631, the default XML-RPC port, is in use on this machine: node 1 takes"
	echo "    any free port instead, so give p2pns its --url)"
	rpc1=127.0.0.1:0
fi
start_node 1 127.0.0.1 "$1" "$rpc1"
b1=$addr_1
start_node 2 127.0.0.1 "$2" 127.0.0.1:0 "$b1"
start_node 3 127.0.0.1 "$3" 127.0.0.1:0 "$b1"
start_node 4 127.0.0.1 "$4" 127.0.0.1:0 "$b1" "$addr_2"
start_node 5 127.0.0.1 "$5" 127.0.0.1:0 "$b1"
start_node 6 127.0.0.1 "$6" 127.0.0.1:0 "$b1" "$addr_3"
start_node 7 127.0.0.1 "$7" 127.0.0.1:0 "$b1" "$addr_4"
start_node 8 127.0.0.1 "$8" 127.0.0.1:0 "$b1" "$addr_2"
echo "   Waiting (30 s at most) until every node knows at least 5 others..."
# shellcheck disable=SC2086 # the node numbers
wait_tables 5 30 $NODES
echo
echo "   node   UDP address       XML-RPC URL                   node ID (first 16 hex)  contacts"
for n in $NODES; do
	sz=$(table_size "$n") || exit 1
	printf '   %-6s %-17s %-29s %-23s %s\n' "node$n" "$(var "addr_$n")" "$(url "$n")" \
	    "$(var "id_$n" | cut -c1-16)" "$sz"
done
echo "   (p2pns --json status gives a node's table size as overlay.routing_table)"

# ---- names ----------------------------------------------------------------------------------

step "3. Registering names through node 2, resolving them through node 7"
echo "   A name maps to records of a kind, numbered like DNS record types: 33 = host:port"
echo "   (\"SRV-like\", what a SIP proxy needs), 1 = IPv4 address, 28 = IPv6 address, 55 = HIT"
echo "   (a HIP host identity tag, in IPv6 notation). p2pns picks 33, 1 or 28 from the address;"
echo "   a HIT needs --kind 55. Node 2 signs each record with a key it makes for the name and"
echo "   stores it on the 5 nodes whose IDs are closest to SHA-1(name)."
cli 2 register sip:alice@example.org 192.0.2.7:5060
[ "$rc" -eq 0 ] || { logtail 2; fail "node 2 could not register sip:alice@example.org"; }
cli 2 register sip:alice@example.org 192.0.2.7
[ "$rc" -eq 0 ] || { logtail 2; fail "node 2 could not register sip:alice@example.org (kind 1)"; }
cli 2 register sip:bob@example.org 198.51.100.23:5060
[ "$rc" -eq 0 ] || { logtail 2; fail "node 2 could not register sip:bob@example.org"; }
cli 2 register alice.p2p 2001:10::7a1:ce --kind 55
[ "$rc" -eq 0 ] || { logtail 2; fail "node 2 could not register the HIT alice.p2p"; }
echo "   (register prints nothing when it worked: exit status 0)"
echo
echo "   Node 7 asks the overlay: the 5 replicas answer, the majority wins. Every record of"
echo "   the name, sorted by kind (1, then 33), or only one kind with --kind:"
resolve_until 7 "$(printf '192.0.2.7\n192.0.2.7:5060')" '' 10 sip:alice@example.org
resolve_until 7 192.0.2.7:5060 '' 10 sip:alice@example.org --kind 33
resolve_until 7 198.51.100.23:5060 '' 10 sip:bob@example.org
echo "   With --json, p2pns also shows each record's kind and id:"
cli 7 --json resolve alice.p2p
case "$out" in *'"2001:10::7a1:ce","kind":55'*) ;; *) logtail 7; fail "node 7 did not resolve the HIT alice.p2p" ;; esac
echo "   A name nobody registered:"
cli 7 resolve sip:nobody@example.org
[ "$rc" -eq 2 ] || { logtail 7; fail "an unknown name gave exit status $rc, not 2"; }
echo "   -> exit status 2: not found (0 means found, 1 any other error)."

step "4. Names belong to the key that registered them first"
echo "   Node 5 tries to take sip:alice@example.org. The replicas refuse: the name is bound to"
echo "   the key node 2 signed it with, and node 5 does not have that key."
cli 5 register sip:alice@example.org 203.0.113.66:5060
[ "$rc" -eq 1 ] || { logtail 5; fail "node 5's register gave exit status $rc, not 1"; }
case "$out" in *"owned by another key"*) ;; *) logtail 5; fail "node 5 was not refused as it should be" ;; esac
echo "   -> refused, exit status 1."
echo "   The owner can change its record: alice's phone now has another address. Node 2"
echo "   registers the same name and kind again; the new record replaces the old one."
cli 2 register sip:alice@example.org 192.0.2.99:5080
[ "$rc" -eq 0 ] || { logtail 2; fail "node 2 could not update sip:alice@example.org"; }
echo "   Node 7 may still answer from its cache for up to 2 s (--cache-ttl 2), then sees the update:"
resolve_until 7 192.0.2.99:5080 192.0.2.7:5060 15 sip:alice@example.org --kind 33

# ---- two-stage resolution -------------------------------------------------------------------

step "5. Two-stage resolution: a name that follows its node when the node moves"
echo "   Node 3 registers sip:carol@example.org with the address self:5060. The DHT then"
echo "   holds node 3's node ID (and the port 5060), not an IP address:"
echo "     stage 1: name -> node ID (from the DHT, like any record)"
echo "     stage 2: node ID -> the node's current IP address (a lookup in the overlay)"
cli 3 register sip:carol@example.org self:5060
[ "$rc" -eq 0 ] || { logtail 3; fail "node 3 could not register sip:carol@example.org"; }
resolve_until 8 127.0.0.1:5060 '' 10 sip:carol@example.org
echo "   -> node 8 found node 3 at 127.0.0.1 and answers with the record's port."
echo
echo "   Now node 3 moves: it stops cleanly, and starts again from the same data directory (the"
echo "   same identity.pem, so the same node ID) on another IP address and port."
newaddr=127.0.0.2
newport=$(free_ports "$newaddr" 1) || {
	newaddr=127.0.0.1
	newport=$(free_ports "$newaddr" 1) || fail "cannot find a free UDP port on 127.0.0.1"
	echo "   (127.0.0.2 is not usable on this system: node 3 only changes its port, so its"
	echo "    address stays 127.0.0.1)"
}
[ "$newaddr" = 127.0.0.1 ] || echo "   (On Linux all of 127.0.0.0/8 is this machine's loopback, so 127.0.0.2 works here.)"
oldaddr3=$addr_3 oldid3=$id_3
show kill -TERM "$pid_3"
wait_stopped 3
echo "   node 3 has stopped (exit status 0); the end of its log:"
tail -n 2 node3.log | sed 's/^/   | /'
start_node 3 "$newaddr" "$newport" 127.0.0.1:0 "$b1"
[ "$addr_3" != "$oldaddr3" ] || fail "node 3 came back at its old address $oldaddr3"
printf "\$ p2pns --url %s status | grep -E '^(node_id|addresses)'\n" "$(url 3)"
rc=0
out=$(p2pns --url "$(url 3)" status 2>&1) || rc=$?
[ "$rc" -eq 0 ] || { printf '%s\n' "$out"; logtail 3; fail "node 3 does not answer after its restart"; }
printf '%s\n' "$out" | grep -E '^(node_id|addresses)' || :
[ "$id_3" = "$oldid3" ] || fail "node 3 came back with another node ID: $id_3"
echo "   -> the same node ID as before ($(printf '%s' "$oldid3" | cut -c1-16)...), now at $addr_3 instead of $oldaddr3."
echo "   Nobody registers sip:carol@example.org again. Node 8 resolves it once more (caches and"
echo "   stale routing entries may answer the old address or fail for a moment):"
resolve_until 8 "$newaddr:5060" 127.0.0.1:5060 30 sip:carol@example.org
echo "   -> name -> node ID (unchanged, from the DHT) -> the new address (from the lookup)."

# ---- XML-RPC --------------------------------------------------------------------------------

step "6. The XML-RPC interface, without the p2pns tool"
echo "   Each node serves XML-RPC over HTTP (POST /RPC2), with OverSim's P2PNS methods:"
echo "   resolve(base64 name, int kind) answers [[base64 address, int kind, int id], ...]"
echo "   (kind 0 = every kind). From Python, against node 4:"
pycode='import xmlrpc.client as x; node = x.ServerProxy("'"$(url 4)"'"); print([(a.data.decode(), kind, i) for a, kind, i in node.resolve(x.Binary(b"sip:bob@example.org"), 0)])'
printf "\$ %s -c '%s'\n" "$PY" "$pycode"
rc=0
out=$("$PY" -c "$pycode" 2>&1) || rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ] || [ "$out" != "[('198.51.100.23:5060', 33, 0)]" ]; then
	logtail 4
	fail "the Python XML-RPC call to node 4 did not get bob's address"
fi
if command -v xmlrpc >/dev/null 2>&1; then
	echo "   With the xmlrpc command of xmlrpc-c (h/ = base64 bytes given in hex, i/ = an int):"
	hex=$(printf '%s' sip:bob@example.org | od -An -tx1 | tr -d ' \n')
	run xmlrpc "$(url 4)" resolve "h/$hex" i/0
	[ "$rc" -eq 0 ] || { logtail 4; fail "the xmlrpc command failed"; }
	got=$(printf '%s\n' "$out" | sed -n 's/.*Bit string: \([0-9a-fA-F]*\).*/\1/p' | head -n 1)
	gotstr=$("$PY" -c 'import sys; print(bytes.fromhex(sys.argv[1]).decode())' "$got" 2>/dev/null || :)
	[ "$gotstr" = 198.51.100.23:5060 ] || fail "the xmlrpc command did not get bob's address"
	echo "   -> the \"Bit string\" is the address in hex: $gotstr"
else
	echo "   (The xmlrpc command of xmlrpc-c, package libxmlrpc-core-c3-dev, is not installed;"
	echo "    doc/xmlrpc.md shows how to call it.)"
fi

step "7. What a node counts: the status of node 8 (a few of its figures)"
keys='^(node_id|uptime|overlay\.(routing_table|store_records)|cache\.(hits|misses|hit_ratio)|requests\.(calls|resolves|resolves_cached|stage2_lookups)):'
printf "\$ p2pns --url %s status | grep -E '%s'\n" "$(url 8)" "$keys"
rc=0
out=$(p2pns --url "$(url 8)" status 2>&1) || rc=$?
[ "$rc" -eq 0 ] || { printf '%s\n' "$out"; logtail 8; fail "node 8 does not answer status"; }
printf '%s\n' "$out" | grep -E "$keys" || :
echo "   routing_table: contacts that answered this node; store_records: records it holds for"
echo "   the overlay as one of the 5 replicas; cache: names answered from its own cache;"
echo "   stage2_lookups: node lookups for two-stage names. 'p2pns status' shows every figure."

# ---- the end --------------------------------------------------------------------------------

step "8. What this demo showed"
echo "   p2pns maps names to addresses with no central server. Identities are Ed25519 keys"
echo "   whose node ID (SHA-1 of the key) costs a crypto puzzle. Eight p2pnsd nodes formed a"
echo "   secure Kademlia overlay over UDP. SIP addresses of record and a HIT registered through"
echo "   one node were resolved through others: each record is signed by its owner, stored on 5"
echo "   nodes and read back by majority vote. Another node could not take the owner's name,"
echo "   while the owner updated it. A two-stage name followed its node to a new address without"
echo "   being registered again. And the XML-RPC interface answered the p2pns tool, Python and"
echo "   xmlrpc-c alike. More in README.md, the man pages p2pns(1), p2pnsd(8), p2pnsd.conf(5)"
echo "   and p2pns-keygen(1) (in doc/, e.g. man ./doc/p2pnsd.8), and doc/xmlrpc.md."

step "9. The overlay's XML-RPC endpoints"
for n in $NODES; do
	note=
	[ "$(url "$n")" != http://127.0.0.1:3631/RPC2 ] || note="   (the default: p2pns needs no --url for it)"
	printf '   node %s: %s%s\n' "$n" "$(url "$n")" "$note"
done
if [ "${DEMO_EXIT:-}" = 1 ]; then
	echo
	echo "   DEMO_EXIT=1: the nodes stop now (without it, the overlay keeps running until Ctrl-C,"
	echo "   and you can try commands like these from another terminal):"
else
	echo
	echo "   Try it from another terminal while the overlay runs:"
fi
printf '     %s --url %s resolve sip:alice@example.org\n' "$B/bin/p2pns" "$(url 7)"
printf '     %s --url %s register sip:dave@example.org 192.0.2.44:5060\n' "$B/bin/p2pns" "$(url 1)"
printf '     %s --url %s status\n' "$B/bin/p2pns" "$(url 5)"
printf "     python3 -c 'import xmlrpc.client as x; print(x.ServerProxy(\"%s\").system.listMethods())'\n" "$(url 6)"

if [ "${DEMO_EXIT:-}" != 1 ]; then
	echo
	printf '%sThe overlay keeps running; press Ctrl-C to stop it.%s\n' "$bold" "$plain"
	stop=
	trap 'stop=INT' INT
	trap 'stop=TERM' TERM
	# On a terminal, Ctrl-C is read here as a key (stty -isig) rather than sent as SIGINT to
	# every process in the foreground: so make, which runs this script, sees it end normally
	# and reports no interruption. Otherwise SIGINT or SIGTERM ends the wait.
	if tty_foreground && tty_saved=$(stty -g 2>/dev/null) &&
	    stty -isig -icanon -echo min 0 time 10 2>/dev/null; then :; else restore_tty; fi
	while [ -z "$stop" ]; do
		if [ -n "$tty_saved" ]; then
			# one key, or nothing after 1 s; Ctrl-C or Ctrl-\ ends the wait
			key=$(dd bs=1 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n') || :
			case "$key" in 03 | 1c) stop=key ;; esac
		else
			sleep 1 || :
		fi
		for n in $NODES; do
			[ -n "$stop" ] || alive "$(var "pid_$n")" || {
				# (a SIGINT sent to the whole process group reaches the nodes too: let
				# this script's trap run first)
				sleep 0.3 || :
				[ -z "$stop" ] || break
				restore_tty
				trap interrupted INT; trap terminated TERM
				rc=0; wait "$(var "pid_$n")" || rc=$?
				eval "pid_$n="
				logtail "$n"
				fail "node $n stopped by itself (exit status $rc)"
			}
		done
	done
	restore_tty
	trap interrupted INT
	trap terminated TERM
	echo
	case "$stop" in
	key) echo "   Ctrl-C: stopping the overlay." ;;
	INT) echo "   SIGINT (Ctrl-C): stopping the overlay." ;;
	*) echo "   SIGTERM: stopping the overlay." ;;
	esac
fi
case "$stop" in INT | TERM) stop_all signal ;; *) stop_all ;; esac
if [ "${DEMO_KEEP:-}" = 1 ]; then
	echo "   Their data dirs and logs are in $work (kept because DEMO_KEEP=1)."
else
	echo "   Their data dirs and logs in $work are removed now (DEMO_KEEP=1 keeps them)."
fi
exit 0
