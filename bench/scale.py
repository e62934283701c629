#!/usr/bin/env python3
"""scale.py: how refimapd's per-command costs move with the mailbox size.

Python 3 standard library only. Run it through `make bench-scale` or

    python3 bench/scale.py [--sizes 10000,100000,1000000] [--reps R]
                           [--sessions K] [--load import|append] [--keep]

For each size N it builds one INBOX of N small generated messages on a
private store (refimapctl import of a generated mbox, or pipelined APPEND
with fsync off), restarts refimapd with its durable settings on a free
port on 127.0.0.1, and measures commands whose cost should not depend on
N: SELECT INBOX, UID FETCH of the last 100 UIDs (FLAGS), STATUS, NOOP in a
selected session with nothing new, the IDLE wake-up latency after another
session's APPEND, the PSS of a session after SELECT, and SELECT again
after 1% of the messages were expunged (gaps in the UIDs). Then, once, at
the smallest size, it opens K (default 1,000) concurrent logged-in
sessions with INBOX selected and sends each a NOOP.

It prints a table per size and a summary of each figure at every size as
a ratio of the smallest one. Client CPU (this process) and the server's
on-CPU time (/proc/PID/schedstat of its process tree) are given next to
each figure. Results go to bench/results/scale-<time>.json and
scale-latest.json. Every server started here is stopped by its pid; the
temporary stores are removed unless --keep.
"""

import argparse
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (BENCH, ROOT, USER, PASSWORD, Conn, IMAPError,  # noqa: E402
                   Refimapd, descendants, tree_sched, pss_kb, note, fmt)


class Deadline(Exception):
    pass


# ---------------------------------------------------------------------------
# The messages: small, varied enough, cheap to make a million of.

WORDS = ("meeting project report budget review draft schedule team customer"
         " invoice server release deadline update notes agenda minutes"
         " contract proposal design test results migration backup network"
         " office travel expense holiday training support ticket question"
         " answer thanks please attached see below regards tomorrow").split()
NAMES = "alice bob carol dave erin frank grace heidi ivan judy".split()


def message(rng, i):
    """(seen, internal date text, bytes with LF line ends) of message i."""
    t = 1704067200 + i * 30
    tm = time.gmtime(t)
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", tm)
    subj = " ".join(rng.choice(WORDS) for _ in range(4))
    body = []
    for _ in range(rng.randint(3, 8)):
        body.append(" ".join(rng.choice(WORDS) for _ in range(9)))
    a, b = rng.choice(NAMES), rng.choice(NAMES)
    text = ("From: %s <%s@example.com>\nTo: %s <%s@example.org>\n"
            "Subject: %s %d\nDate: %s\nMessage-ID: <%d.scale@example.com>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n"
            "\n%s\n" % (a.title(), a, b.title(), b, subj, i, date, i,
                        "\n".join(body)))
    seen = rng.random() < 0.7
    idate = time.strftime("%d-%b-%Y %H:%M:%S +0000", tm)
    return seen, idate, text, tm


def write_mbox(path, n, seed):
    """An mbox of n messages; Status: RO marks the \\Seen ones."""
    rng = random.Random(seed)
    with open(path, "w", buffering=1 << 20) as f:
        for i in range(n):
            seen, _, text, tm = message(rng, i)
            f.write("From scale@example.com %s\n" %
                    time.strftime("%a %b %d %H:%M:%S %Y", tm))
            hdr, body = text.split("\n\n", 1)
            f.write(hdr)
            f.write("\nStatus: RO\n\n" if seen else "\n\n")
            f.write(body)
            f.write("\n")


# ---------------------------------------------------------------------------
# The server: bench.py's Refimapd with room for the many sessions.

class Server(Refimapd):
    sessions = 1000

    def config_text(self, durable):
        return ("# written by bench/scale.py\n"
                "data_dir = %s\nfsync = %s\nmax_sessions = %d\n"
                "max_sessions_per_ip = %d\nlog_level = notice\n%s"
                % (self.data, "yes" if durable else "no",
                   self.sessions + 50, self.sessions + 50,
                   "allow_root = yes\n" if os.geteuid() == 0 else ""))

    def start(self, durable, profile="default"):
        # A store of a million messages may take a while to open.
        Refimapd.start(self, durable, profile, wait=120)


# ---------------------------------------------------------------------------
# Loading.

def load_import(srv, n, seed, tmp, timeout):
    mbox = os.path.join(tmp, "scale.mbox")
    t0 = time.perf_counter()
    write_mbox(mbox, n, seed)
    gen = time.perf_counter() - t0
    size = os.path.getsize(mbox)
    t0 = time.perf_counter()
    r = subprocess.run([srv.ctl, "-d", srv.data, "import", USER, "INBOX",
                        mbox, "--all"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    dt = time.perf_counter() - t0
    os.unlink(mbox)
    if r.returncode != 0:
        raise RuntimeError("import failed (%d): %s" % (r.returncode,
                                                       r.stdout[-500:]))
    return {"method": "refimapctl import (durable, one commit a message)",
            "secs": round(dt, 1), "rate_msg_s": round(n / dt, 1),
            "mbox_bytes": size, "generate_secs": round(gen, 1),
            "output": r.stdout.strip()[-200:]}


def load_append(srv, n, seed, timeout):
    rng = random.Random(seed)
    srv.start(durable=False)
    try:
        c = Conn(srv.port, timeout=120).login()
        t0 = time.perf_counter()
        end = t0 + timeout
        batch = 256
        done = 0
        while done < n:
            if time.perf_counter() > end:
                raise Deadline("load: %d of %d after %d s" % (done, n,
                                                              timeout))
            tags, out = [], []
            for i in range(done, min(n, done + batch)):
                seen, idate, text, _ = message(rng, i)
                body = text.replace("\n", "\r\n").encode()
                tag = c.newtag()
                tags.append(tag)
                out.append(b"%s APPEND INBOX (%s) \"%s\" {%d+}\r\n%s\r\n" % (
                    tag, b"\\Seen" if seen else b"", idate.encode(),
                    len(body), body))
            c.send(b"".join(out))
            for tag in tags:
                r = c.response(tag)
                if not r.ok:
                    raise IMAPError("APPEND failed: " + r.text())
            done += len(tags)
        dt = time.perf_counter() - t0
        c.close()
    finally:
        srv.stop()
    return {"method": "pipelined APPEND, fsync = no", "secs": round(dt, 1),
            "rate_msg_s": round(n / dt, 1)}


# ---------------------------------------------------------------------------
# Measuring.

def session_pid(srv, before):
    new = [p for p in descendants(srv.pid) if p not in before]
    return new[0] if len(new) == 1 else None


def login(srv):
    before = set(descendants(srv.pid))
    c = Conn(srv.port, timeout=60).login()
    pid = None
    deadline = time.monotonic() + 2
    while pid is None and time.monotonic() < deadline:
        pid = session_pid(srv, before)
        if pid is None:
            time.sleep(0.01)
    return c, pid


def timed(srv, fn, reps):
    """Median wall ms of fn() over reps runs after one warm-up, with the
    client's CPU and the server tree's on-CPU time per run."""
    fn()
    wall, ccpu, son, swait = [], [], [], []
    out = None
    for _ in range(reps):
        # Reading /proc costs this client CPU too: outside the window.
        q0 = tree_sched(srv.pid)
        c0 = time.process_time()
        t0 = time.perf_counter()
        out = fn()
        wall.append((time.perf_counter() - t0) * 1000)
        ccpu.append((time.process_time() - c0) * 1000)
        q1 = tree_sched(srv.pid)
        son.append(q1[0] - q0[0])
        swait.append(q1[1] - q0[1])
    return {"value": round(statistics.median(wall), 3), "unit": "ms",
            "min_ms": round(min(wall), 3), "max_ms": round(max(wall), 3),
            "client_cpu_ms": round(statistics.median(ccpu), 3),
            "server_oncpu_ms": round(statistics.median(son), 3),
            "server_runq_wait_ms": round(statistics.median(swait), 3),
            "runs_ms": [round(x, 3) for x in wall]}, out


def check(r, what):
    if not r.ok:
        raise IMAPError("%s: %s" % (what, r.text()))
    return r


def measure_size(srv, n, reps):
    res = {}
    c, pid = login(srv)
    s = c.cmd("SELECT INBOX", keep=True)
    check(s, "SELECT")
    exists = int(s.data.split(b" EXISTS")[0].rsplit(b"* ", 1)[1])
    uidnext = int(s.data.split(b"[UIDNEXT ")[1].split(b"]")[0])
    note("N=%d: %d messages, UIDNEXT %d, session pid %s"
         % (n, exists, uidnext, pid))

    d, _ = timed(srv, lambda: check(c.cmd("SELECT INBOX"), "SELECT"), reps)
    res["select"] = d
    note("  SELECT INBOX        %s ms (server on-cpu %s ms)"
         % (fmt(d["value"]), fmt(d["server_oncpu_ms"])))
    res["pss_selected_kb"] = {"value": pss_kb(pid) if pid else None,
                              "unit": "KiB", "pid": pid}
    # Once the client has been quiet for a moment, a session gives back
    # what its commands touched (SESSION_TRIM_WAIT_MS, 20 ms): what a
    # selected session holds while it waits for its next command.
    time.sleep(0.1)
    res["pss_settled_kb"] = {"value": pss_kb(pid) if pid else None,
                             "unit": "KiB", "pid": pid}

    lo = max(1, uidnext - 100)
    d, r = timed(srv, lambda: check(c.cmd(
        "UID FETCH %d:%d (UID FLAGS)" % (lo, uidnext - 1)), "FETCH"), reps)
    d["bytes"] = r.nbytes
    res["fetch_last100"] = d
    note("  UID FETCH last 100  %s ms (server on-cpu %s ms)"
         % (fmt(d["value"]), fmt(d["server_oncpu_ms"])))

    d, _ = timed(srv, lambda: check(c.cmd("NOOP"), "NOOP"), reps * 4)
    res["noop"] = d
    note("  NOOP (selected)     %s ms (server on-cpu %s ms)"
         % (fmt(d["value"]), fmt(d["server_oncpu_ms"])))

    c2, _ = login(srv)
    d, r = timed(srv, lambda: check(c2.cmd(
        "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)", keep=True), "STATUS"),
        reps)
    d["response"] = r.data.decode(errors="replace").split("\r\n")[0]
    res["status"] = d
    note("  STATUS              %s ms (server on-cpu %s ms)"
         % (fmt(d["value"]), fmt(d["server_oncpu_ms"])))

    res["idle_wakeup"] = idle_wakeup(srv, c, c2, reps)
    note("  IDLE wake-up        %s ms (APPEND done after %s ms)"
         % (fmt(res["idle_wakeup"]["value"]),
            fmt(res["idle_wakeup"]["append_ms"])))
    res["pss_after_kb"] = {"value": pss_kb(pid) if pid else None,
                           "unit": "KiB"}

    # 1% of the messages expunged, spread over the mailbox: SELECT of a
    # mailbox whose UIDs have gaps.
    # In UID EXPUNGEs of 500: one EXPUNGE of 10,000 messages spread over
    # a large mailbox runs out of Berkeley DB lock entries
    # (docs/PERFORMANCE.md).
    gone = list(range(50, uidnext, 100))
    for i in range(0, len(gone), 500):
        part = ",".join(str(u) for u in gone[i:i + 500])
        check(c.cmd("UID STORE %s +FLAGS.SILENT (\\Deleted)" % part),
              "STORE")
        check(c.cmd("UID EXPUNGE %s" % part), "UID EXPUNGE")
    d, r = timed(srv, lambda: check(c.cmd("SELECT INBOX", keep=True),
                                    "SELECT"), reps)
    d["expunged"] = len(gone)
    d["exists"] = int(r.data.split(b" EXISTS")[0].rsplit(b"* ", 1)[1])
    st = check(c2.cmd("STATUS INBOX (MESSAGES)", keep=True), "STATUS")
    d["status_messages"] = int(st.data.split(b"MESSAGES ")[1].split(b")")[0])
    if d["exists"] != d["status_messages"]:
        raise IMAPError("SELECT says %d EXISTS, STATUS %d MESSAGES"
                        % (d["exists"], d["status_messages"]))
    res["select_gaps"] = d
    note("  SELECT, 1%% expunged %s ms (server on-cpu %s ms)"
         % (fmt(d["value"]), fmt(d["server_oncpu_ms"])))
    c2.close()
    c.close()
    res["messages"] = exists
    return res


def idle_wakeup(srv, a, b, reps):
    """Session a IDLEs on INBOX; b APPENDs at once; the time from b's
    APPEND being sent until a reads the EXISTS. An idling session looks at
    its mailbox every 200 ms from the start of the IDLE, so the figure is
    that interval plus the cost of the look and of the report."""
    msg = (b"From: x@example.com\r\nSubject: idle\r\n\r\nwake up\r\n")
    lat, app = [], []
    for i in range(reps + 1):
        tag = a.newtag()
        a.send(tag + b" IDLE\r\n")
        line = a.readline()
        if not line.startswith(b"+"):
            raise IMAPError("IDLE: " + line.decode(errors="replace"))
        btag = b.newtag()
        t0 = time.perf_counter()
        b.send(b"%s APPEND INBOX {%d+}\r\n%s\r\n" % (btag, len(msg), msg))
        check(b.response(btag), "APPEND")
        done = time.perf_counter()
        seen = None
        a.sock.settimeout(30)
        while seen is None:
            line = a.readline()
            if line.endswith(b" EXISTS\r\n"):
                seen = time.perf_counter()
        a.send(b"DONE\r\n")
        check(a.response(tag), "IDLE")
        if i > 0:
            lat.append((seen - t0) * 1000)
            app.append((done - t0) * 1000)
    return {"value": round(statistics.median(lat), 2), "unit": "ms",
            "max_ms": round(max(lat), 2), "runs_ms": [round(x, 2)
                                                      for x in lat],
            "append_ms": round(statistics.median(app), 2),
            "poll_note": "sessions look at the mailbox every 200 ms while "
                         "IDLE (SESSION_IDLE_POLL_MS)"}


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def many_sessions(srv, k, secs):
    """k concurrent logged-in sessions with INBOX selected; a NOOP on each."""
    res = {"sessions": k}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = k + 200
    if soft < want:
        new = min(hard, max(want, soft)) if hard != resource.RLIM_INFINITY \
            else want
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        note("open files limit of the client raised from %d to %d (hard %s)"
             % (soft, new, hard))
        res["nofile"] = {"was": soft, "now": new, "hard": hard}
    else:
        res["nofile"] = {"was": soft, "now": soft, "hard": hard}
    end = time.monotonic() + secs
    before = set(descendants(srv.pid))
    conns, failed = [], []
    q0 = tree_sched(srv.pid)
    t0 = time.perf_counter()
    try:
        for i in range(k):
            if time.monotonic() > end:
                raise Deadline("only %d sessions after %d s" % (i, secs))
            try:
                c = Conn(srv.port, timeout=60).login()
                check(c.cmd("SELECT INBOX"), "SELECT")
                conns.append(c)
            except (OSError, IMAPError) as e:
                failed.append("session %d: %s" % (i, e))
        res["open_secs"] = round(time.perf_counter() - t0, 1)
        res["open_server_oncpu_ms"] = round(tree_sched(srv.pid)[0] - q0[0])
        time.sleep(1.0)
        pids = [p for p in descendants(srv.pid) if p not in before]
        vals = [v for v in (pss_kb(p) for p in pids) if v is not None]
        res["processes"] = len(pids)
        res["pss_total_kb"] = sum(vals)
        res["pss_per_session_kb"] = round(sum(vals) / max(1, len(vals)), 1)
        res["pss_daemon_kb"] = pss_kb(srv.pid)
        note("%d sessions open in %.1f s, %d processes, PSS %.1f MiB in all,"
             " %.0f KiB a session" % (len(conns), res["open_secs"],
                                      len(pids), sum(vals) / 1024,
                                      res["pss_per_session_kb"]))
        # One NOOP on each, one after the other: the latency of each.
        lat = []
        q0 = tree_sched(srv.pid)
        for i, c in enumerate(conns):
            if time.monotonic() > end:
                raise Deadline("NOOPs: %d of %d after %d s"
                               % (i, len(conns), secs))
            t1 = time.perf_counter()
            try:
                check(c.cmd("NOOP"), "NOOP")
                lat.append((time.perf_counter() - t1) * 1000)
            except (OSError, IMAPError) as e:
                failed.append("NOOP %d: %s" % (i, e))
        res["noop_server_oncpu_ms_per_session"] = round(
            (tree_sched(srv.pid)[0] - q0[0]) / max(1, len(lat)), 3)
        res["noop_ms"] = {"median": round(statistics.median(lat), 3),
                          "p99": round(pct(lat, 99), 3),
                          "max": round(max(lat), 3), "count": len(lat)}
        # All at once: every session gets its NOOP before any is read.
        t1 = time.perf_counter()
        tags = []
        for c in conns:
            tag = c.newtag()
            c.send(tag + b" NOOP\r\n")
            tags.append(tag)
        burst = []
        for c, tag in zip(conns, tags):
            try:
                check(c.response(tag), "NOOP")
                burst.append((time.perf_counter() - t1) * 1000)
            except (OSError, IMAPError) as e:
                failed.append("burst NOOP: %s" % e)
        res["noop_burst_ms"] = {"all_answered": round(max(burst), 1),
                                "median": round(statistics.median(burst), 1),
                                "count": len(burst)}
        # Server CPU while every session sits in IDLE for 5 seconds (each
        # looks at its mailbox every 200 ms).
        for c in conns:
            c.send(c.newtag() + b" IDLE\r\n")
        for c in conns:
            line = c.readline()
            if not line.startswith(b"+"):
                failed.append("IDLE: %r" % line[:60])
        q0 = tree_sched(srv.pid)
        time.sleep(5)
        q1 = tree_sched(srv.pid)
        res["idle_server_cpu_pct"] = round((q1[0] - q0[0]) / 5000 * 100, 1)
        for c in conns:
            c.send(b"DONE\r\n")
        for c in conns:
            try:
                check(c.response(b"a%d" % c.ntag), "IDLE")
            except (OSError, IMAPError) as e:
                failed.append("IDLE DONE: %s" % e)
    finally:
        for c in conns:
            try:
                c.sock.close()
            except OSError:
                pass
    res["failed"] = len(failed)
    res["failures"] = failed[:10]
    res["opened"] = len(conns)
    return res


# ---------------------------------------------------------------------------
# Output.

ROWS = [("select", "SELECT INBOX"),
        ("select_gaps", "SELECT, 1% expunged (gaps)"),
        ("fetch_last100", "UID FETCH last 100 (FLAGS)"),
        ("status", "STATUS (MESSAGES UIDNEXT UNSEEN)"),
        ("noop", "NOOP, selected, nothing new"),
        ("idle_wakeup", "IDLE wake-up after APPEND"),
        ("pss_selected_kb", "PSS of a selected session"),
        ("pss_settled_kb", "  the same 100 ms later (trimmed)")]


def print_size(n, r):
    print()
    print("N = %d messages (load: %s, %.0f s, %.0f msg/s)" % (
        n, r["load"]["method"], r["load"]["secs"], r["load"]["rate_msg_s"]))
    hdr = "%-34s %-4s %9s %9s %9s %12s %12s" % (
        "figure", "unit", "median", "min", "max", "client cpu",
        "server cpu")
    print(hdr)
    print("-" * len(hdr))
    for key, label in ROWS:
        d = r.get(key, {})
        print("%-34s %-4s %9s %9s %9s %12s %12s" % (
            label, d.get("unit", ""), fmt(d.get("value")),
            fmt(d.get("min_ms")), fmt(d.get("max_ms")),
            fmt(d.get("client_cpu_ms")), fmt(d.get("server_oncpu_ms"))))
    print("(ms; cpu columns: median ms per run; server = on-CPU time of the "
          "server's process tree)")


def print_summary(sizes, per):
    base = sizes[0]
    print()
    print("Curves: each figure at every size, and its ratio to N=%d" % base)
    hdr = "%-34s" % "figure" + "".join("%12s" % ("N=%d" % n) for n in sizes)
    hdr += "".join("%10s" % ("x %dk" % (n // 1000)) for n in sizes[1:])
    print(hdr)
    print("-" * len(hdr))
    cols = [("value", ""), ("server_oncpu_ms", " (server cpu)")]
    for key, label in ROWS:
        for field, suffix in cols:
            if key.startswith("pss") and field != "value":
                continue
            if key == "idle_wakeup" and field != "value":
                continue
            vals = [per.get(n, {}).get(key, {}).get(field) for n in sizes]
            line = "%-34s" % (label + suffix)[:34]
            line += "".join("%12s" % fmt(v) for v in vals)
            b = vals[0]
            for v in vals[1:]:
                line += "%10s" % ("%.2f" % (v / b) if b and v is not None
                                  else "n/a")
            print(line)


def print_sessions(m):
    print()
    print("%d concurrent sessions (logged in, INBOX selected), at N=%d" % (
        m["sessions"], m["at_size"]))
    if "noop_ms" in m:
        print("  opened %d in %.1f s; failed: %d" % (
            m["opened"], m["open_secs"], m["failed"]))
        print("  NOOP one after another: median %s ms, p99 %s ms, max %s ms"
              " (%d answered)" % (m["noop_ms"]["median"], m["noop_ms"]["p99"],
                                  m["noop_ms"]["max"], m["noop_ms"]["count"]))
        print("  NOOP to all at once: every answer in %s ms (median %s ms)"
              % (m["noop_burst_ms"]["all_answered"],
                 m["noop_burst_ms"]["median"]))
        print("  PSS: %.1f MiB for %d session processes, %.0f KiB each; "
              "daemon %s KiB" % (m["pss_total_kb"] / 1024, m["processes"],
                                 m["pss_per_session_kb"], m["pss_daemon_kb"]))
        print("  server CPU while all %d sit in IDLE: %s%% of one core"
              % (m["opened"], m["idle_server_cpu_pct"]))
    if m.get("failures"):
        kinds = {}
        for f in m["failures"]:
            k = f.split(": ", 1)[-1]
            kinds[k] = kinds.get(k, 0) + 1
        print("  failures (the first %d): %s" % (len(m["failures"]), "; ".join(
            "%s (x%d)" % (k, v) for k, v in kinds.items())))


# ---------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default=os.environ.get("SIZES") or
                   "10000,100000,1000000")
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--sessions", type=int, default=1000,
                   help="concurrent sessions at the smallest size (0: none)")
    p.add_argument("--load", choices=("import", "append"), default="append")
    p.add_argument("--load-timeout", type=int, default=7200,
                   help="seconds allowed for loading one size")
    p.add_argument("--sessions-secs", type=int, default=600)
    p.add_argument("--db-config", action="append", default=[],
                   metavar="LINE",
                   help="a line for DATA_DIR/db/DB_CONFIG before the "
                   "durable start (an experiment: e.g. 'mutex_set_max "
                   "40000'); may be repeated")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--build", default=str(ROOT / "build"))
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary stores")
    args = p.parse_args()
    sizes = sorted(int(x.replace("_", "")) for x in args.sizes.split(",")
                   if x.strip())

    signal.signal(signal.SIGTERM, lambda sig, frm: sys.exit(143))
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    outdir = str(BENCH / "results")
    os.makedirs(outdir, exist_ok=True)
    load0 = open("/proc/loadavg").read().split()[:3]
    note("%d cpus, loadavg at start %s; sizes %s; load by %s"
         % (os.cpu_count(), " ".join(load0), sizes, args.load))
    per = {}
    sessions = None
    tmps = []
    t_start = time.monotonic()
    try:
        for n in sizes:
            tmp = tempfile.mkdtemp(prefix="refimapd-scale-%d-" % n)
            tmps.append(tmp)
            srv = Server(tmp, args.build)
            try:
                note("N=%d: loading by %s" % (n, args.load))
                if args.load == "import":
                    ld = load_import(srv, n, args.seed, tmp,
                                     args.load_timeout)
                else:
                    ld = load_append(srv, n, args.seed, args.load_timeout)
                note("N=%d: loaded in %.0f s (%.0f msg/s)"
                     % (n, ld["secs"], ld["rate_msg_s"]))
                if args.db_config:
                    # Read only when the environment's regions are made:
                    # with every process stopped, they are removed, and
                    # the daemon's start rebuilds them from the log.
                    dbdir = os.path.join(srv.data, "db")
                    with open(os.path.join(dbdir, "DB_CONFIG"), "w") as f:
                        f.write("\n".join(args.db_config) + "\n")
                    for name in os.listdir(dbdir):
                        if name.startswith("__db."):
                            os.unlink(os.path.join(dbdir, name))
                srv.sessions = max(args.sessions, 1000)
                srv.start(durable=True)
                r = measure_size(srv, n, args.reps)
                r["load"] = ld
                r["store_bytes"] = sum(
                    os.path.getsize(os.path.join(dp, f))
                    for dp, _, fs in os.walk(srv.data) for f in fs)
                per[n] = r
                print_size(n, r)
                if n == sizes[0] and args.sessions > 0:
                    sessions = many_sessions(srv, args.sessions,
                                             args.sessions_secs)
                    sessions["at_size"] = n
                    print_sessions(sessions)
            finally:
                srv.stop()
                if not args.keep:
                    shutil.rmtree(tmp, ignore_errors=True)
    except (Deadline, IMAPError, RuntimeError, OSError,
            subprocess.SubprocessError) as e:
        note("stopped: %s" % e)
    finally:
        if args.keep:
            note("kept %s" % " ".join(tmps))
        else:
            for tmp in tmps:
                shutil.rmtree(tmp, ignore_errors=True)
    done = [n for n in sizes if n in per]
    if len(done) > 1:
        print_summary(done, per)
    load1 = open("/proc/loadavg").read().split()[:3]
    out = {"tool": "refimapd bench/scale.py", "version": 1,
           "started": stamp, "wall_s": round(time.monotonic() - t_start, 1),
           "params": vars(args), "cpus": os.cpu_count(),
           "loadavg_start": load0, "loadavg_end": load1,
           "sizes": {str(n): per[n] for n in done}, "sessions": sessions}
    for name in ("scale-%s.json" % stamp, "scale-latest.json"):
        with open(os.path.join(outdir, name), "w") as f:
            json.dump(out, f, indent=1, sort_keys=True, default=str)
            f.write("\n")
    print()
    note("results: %s/scale-%s.json (also scale-latest.json); total %.0f s;"
         " loadavg at end %s" % (outdir, stamp, out["wall_s"],
                                 " ".join(load1)))
    return 0 if len(done) == len(sizes) else 1


if __name__ == "__main__":
    sys.exit(main())
