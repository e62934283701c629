#!/bin/sh
# bench/run.sh: refimapd side by side with Dovecot (see bench/README.md).
#
#   sh bench/run.sh [bench.py options]     e.g. N=1000 sh bench/run.sh
#
# Installs Debian's dovecot-imapd first when it is missing and we are root,
# then runs bench/bench.py with the binaries of $REFIMAPD_BUILD (default
# build/). N (messages, default 10000) and IMAPBENCH_N (the team client's
# corpus, default 2000; 0 skips it) come from the environment.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${REFIMAPD_BUILD:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac

if ! command -v dovecot >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		echo "bench: installing dovecot-imapd" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    dovecot-imapd </dev/null
	else
		echo "bench: dovecot is missing and we are not root:" \
		    "measuring refimapd only" >&2
	fi
fi
for b in refimapd refimapctl; do
	[ -x "$build/$b" ] || { echo "bench: $build/$b missing: run make" >&2; exit 1; }
done
exec timeout 1200 python3 "$here/bench.py" --build "$build" "$@"
