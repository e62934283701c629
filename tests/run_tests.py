#!/usr/bin/env python3
"""refimapd's end-to-end test runner.

Runs, in order:
  1. every tests/protocol/*.imap in each of its modes ("basic.imap [inetd]");
  2. every tests/clients/test_*.py, tests/fault/test_*.py and
     tests/inetd/test_*.py as a standalone script (exit 0 pass, 77 skip,
     anything else fail).
Prints "PASS name" / "FAIL name" (with the reason) / "SKIP name" (with why)
and ends with "N passed, N failed[, N skipped]" alone on the last line; exits
1 when anything failed.

  -k PATTERN   run only the tests whose name contains PATTERN (or matches it
               as a shell glob); may be given several times
  -v           show transcripts and outputs of passing tests too
  -j N         parallel workers (default 2)

REFIMAPD_BUILD names the build directory (default "build").
"""

import argparse
import fnmatch
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, str(HERE / "protocol"))
import lib  # noqa: E402

STANDALONE_DIRS = ["clients", "fault", "inetd"]
STANDALONE_TIMEOUT = 180


def indent(text):
    return "\n".join("    " + l for l in text.rstrip("\n").splitlines())


def collect():
    """[(name, kind, payload)] in run order."""
    items = []
    for path in sorted((HERE / "protocol").glob("*.imap")):
        try:
            hdr, directives = lib.parse_script(path)
        except (lib.ScriptError, OSError, UnicodeDecodeError) as e:
            items.append((path.name, "broken", str(e)))
            continue
        for mode in hdr["modes"]:
            items.append(("%s [%s]" % (path.name, mode), "script",
                          (path, mode, hdr, directives)))
    for d in STANDALONE_DIRS:
        for path in sorted((HERE / d).glob("test_*.py")):
            items.append(("%s/%s" % (d, path.name), "standalone", path))
    return items


def selected(name, patterns):
    if not patterns:
        return True
    for p in patterns:
        if p in name or fnmatch.fnmatch(name, p):
            return True
    return False


def run_standalone(path):
    """(status, output): status is "PASS", "FAIL" or "SKIP"."""
    env = dict(os.environ)
    env["REFIMAPD_BUILD"] = str(lib.build_dir())
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE / "protocol")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.Popen([sys.executable, str(path)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, cwd=str(lib.ROOT), start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=STANDALONE_TIMEOUT)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, _ = proc.communicate()
        return "FAIL", ("timed out after %d s (killed)\n" % STANDALONE_TIMEOUT
                        + out.decode("utf-8", "replace"))
    out = out.decode("utf-8", "replace")
    if proc.returncode == 0:
        return "PASS", out
    if proc.returncode == lib.EXIT_SKIP:
        return "SKIP", out
    return "FAIL", "exit status %d\n%s" % (proc.returncode, out)


def run_item(item):
    name, kind, payload = item
    start = time.monotonic()
    try:
        if kind == "broken":
            status, out = "FAIL", "cannot parse the script: %s" % payload
        elif kind == "script":
            path, mode, hdr, directives = payload
            err, transcript = lib.run_script(path, mode, hdr, directives)
            if err is None:
                status, out = "PASS", "\n".join(transcript)
            else:
                status, out = "FAIL", err
        else:
            status, out = run_standalone(payload)
    except Exception as e:  # the harness itself must never stop the run
        status, out = "FAIL", "harness error: %r" % e
    return status, out, time.monotonic() - start


def sweep(run_id):
    """Kill (by pid) and name any process left over by the whole run."""
    pids = lib.live_pids_with_env(lib.RUN_VAR, run_id)
    descs = [lib.proc_desc(p) for p in pids]
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    return descs


def main():
    ap = argparse.ArgumentParser(description="refimapd end-to-end tests")
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("-j", type=int, default=2)
    args = ap.parse_args()

    run_id = uuid.uuid4().hex
    os.environ[lib.RUN_VAR] = run_id

    items = [it for it in collect() if selected(it[0], args.k)]
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    try:
        lib.check_binaries()
    except lib.TestFailure as e:
        print("FAIL setup: %s" % e)
        print("0 passed, 1 failed")
        return 1

    t0 = time.monotonic()
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=max(1, args.j)) as pool:
        futures = [pool.submit(run_item, it) for it in items]
        for it, fut in zip(items, futures):
            status, out, secs = fut.result()
            with lock:
                counts[status] += 1
                print("%s %s (%.1fs)" % (status, it[0], secs))
                if status == "FAIL" or status == "SKIP" or args.v:
                    if out.strip():
                        print(indent(out if status != "SKIP" else out.strip().splitlines()[-1]))
                sys.stdout.flush()

    left = sweep(run_id)
    if left:
        counts["FAIL"] += 1
        print("FAIL leftover processes (killed):")
        print(indent("\n".join(left)))
    if args.v:
        print("(%.1f s)" % (time.monotonic() - t0))
    line = "%d passed, %d failed" % (counts["PASS"], counts["FAIL"])
    if counts["SKIP"]:
        line += ", %d skipped" % counts["SKIP"]
    print(line)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
