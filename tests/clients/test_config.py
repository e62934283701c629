#!/usr/bin/env python3
"""refimapd's configuration file and its command-line overrides (README
"Configuration"; DESIGN "Processes").

- A config file with a line that is not understood (an unknown key, a value
  that is not a number in range, a line without '=') stops refimapd with
  EX_CONFIG (78) before it serves anything: as a daemon it never listens,
  with -i it writes nothing to the client. With -f its stderr names the file
  and the line number (comments and blank lines count as lines); without -f
  the message still reaches stderr.
- -p and -d on the command line win over the file's port and data_dir, both
  for the daemon and for -i.
- A -c file that does not exist is an error (EX_CONFIG), unlike the default
  file, which may be missing.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check, check_eq  # noqa: E402

EX_CONFIG = 78
RUN_TIMEOUT = 10


def write_conf(store, name, lines):
    path = os.path.join(store.tmp, name)
    with open(path, "w") as f:
        f.write("".join(l + "\n" for l in lines))
    return path


def base_lines(store, **override):
    """The test store's config lines, with some keys replaced."""
    out = []
    for k, v in store.config:
        out.append("%s = %s" % (k, override.pop(k, v)))
    for k, v in override.items():
        out.append("%s = %s" % (k, v))
    return out


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def run_refimapd(store, args, what):
    """Run refimapd args (bounded); returns (exit status, stderr text)."""
    cmd = [str(lib.refimapd_path())] + args
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=store.env(), timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise lib.TestFailure("%s: refimapd %s still running after %d s"
                              " (killed)" % (what, " ".join(args), RUN_TIMEOUT))
    err = r.stderr.decode("utf-8", "replace")
    rep = lib.sanitizer_report(err)
    check(rep is None, "%s: sanitizer report:\n%s", what, rep)
    check(r.stdout == b"", "%s: refimapd wrote to stdout: %r", what, r.stdout)
    return r.returncode, err


def check_config_error(store, what, conf, lineno, message):
    """conf must be refused: as a daemon (with and without -f) and with -i."""
    where = "%s:%d: %s" % (conf, lineno, message) if lineno else \
        "%s: %s" % (conf, message)
    want_log = re.compile(r"refimapd\[\d+\]: config: %s" % re.escape(where))

    # Daemon, log on stderr (-f): exits EX_CONFIG, never listens.
    port = lib.free_port()
    rc, err = run_refimapd(store, ["-c", conf, "-f", "-l", "127.0.0.1",
                                   "-p", str(port)], what + " (daemon -f)")
    check_eq(rc, EX_CONFIG, "%s: exit status of refimapd -f" % what)
    lines = err.splitlines()
    check(len(lines) == 1 and want_log.fullmatch(lines[0]),
          "%s: stderr of refimapd -f should be one line naming the file and"
          " line:\n  want: refimapd[PID]: config: %s\n  got: %r",
          what, where, err)
    check("listening" not in err, "%s: refimapd listened: %r", what, err)
    check(not port_open(port), "%s: something answers on port %d", what, port)

    # Daemon with syslog: the message still reaches stderr, before any
    # detaching (no process may be left behind: checked at the end).
    rc, err = run_refimapd(store, ["-c", conf, "-l", "127.0.0.1",
                                   "-p", str(port)], what + " (daemon)")
    check_eq(rc, EX_CONFIG, "%s: exit status of refimapd (no -f)" % what)
    check_eq(err, "refimapd: config: %s\n" % where,
             "%s: stderr of refimapd without -f" % what)

    # -i: the client gets nothing at all, not even a greeting.
    ours, theirs = socket.socketpair()
    errpath = store.new_log("config-%d.log" % len(store.logs))
    errf = open(errpath, "wb")
    try:
        proc = subprocess.Popen([str(lib.refimapd_path()), "-c", conf, "-f",
                                 "-i"], stdin=theirs.fileno(),
                                stdout=theirs.fileno(), stderr=errf,
                                env=store.env(), close_fds=True)
    finally:
        errf.close()
        theirs.close()
    try:
        rc = lib.wait_bounded(proc, RUN_TIMEOUT, "%s: refimapd -i" % what)
        ours.settimeout(lib.READ_TIMEOUT)
        try:
            got = ours.recv(4096)
        except socket.timeout:
            raise lib.TestFailure("%s: refimapd -i exited but the socket"
                                  " is not at EOF" % what)
        except ConnectionResetError:
            got = b""
    finally:
        ours.close()
    check_eq(rc, EX_CONFIG, "%s: exit status of refimapd -i" % what)
    check_eq(got, b"", "%s: refimapd -i sent to the client" % what)
    err = lib.read_text(errpath)
    check(want_log.search(err), "%s: stderr of refimapd -f -i does not name"
          " the file and line (%s): %r", what, where, err)


def check_bad_lines(store):
    # The bad line comes after a comment and a blank line, which count.
    good = base_lines(store)
    cases = [
        ("unknown key", ["frobnicate = 1"], "unknown key 'frobnicate'"),
        ("bad number", ["max_sessions = lots"],
         "'max_sessions' must be a number in 1..100000, not 'lots'"),
        ("number out of range", ["auth_max_failures = 0"],
         "'auth_max_failures' must be a number in 1..100, not '0'"),
        ("line without '='", ["port 1143"], "expected 'key = value'"),
        ("bad fsync value", ["fsync = sometimes"],
         "'fsync' must be yes, all or no, not 'sometimes'"),
        ("unknown capability", ["capabilities = -QRESYNC -FOO"],
         "capabilities: unknown extension 'FOO' (known: LITERAL+ ID IDLE "
         "NAMESPACE CHILDREN UNSELECT UIDPLUS MOVE ENABLE CONDSTORE QRESYNC "
         "ESEARCH SPECIAL-USE SASL-IR)"),
    ]
    for i, (what, bad, message) in enumerate(cases):
        lines = ["# a comment", ""] + good[:2] + bad + good[2:]
        conf = write_conf(store, "bad-%d.conf" % i, lines)
        check_config_error(store, what, conf, 5, message)


def check_missing_file(store):
    conf = os.path.join(store.tmp, "no-such.conf")
    check_config_error(store, "missing -c file", conf, 0,
                       "No such file or directory")


def imap_login(conn, what):
    """LOGIN test test, then LOGOUT, over conn = (reader, write function);
    returns LOGIN's tagged line."""
    rd, wr = conn
    greeting = rd.readline()
    check(greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 "),
          "%s: greeting %r", what, greeting)
    wr(b"a LOGIN test test\r\n")
    tagged = rd.readline()
    wr(b"b LOGOUT\r\n")
    bye = rd.readline()
    ok = rd.readline()
    check(bye.startswith(b"* BYE ") and ok.startswith(b"b OK "),
          "%s: LOGOUT got %r %r", what, bye, ok)
    return tagged.rstrip(b"\r\n")


def check_overrides_daemon(store):
    """-p and -d win over port and data_dir in the file (daemon)."""
    file_port = lib.free_port()
    cmd_port = lib.free_port()
    for _ in range(10):
        if cmd_port != file_port:
            break
        cmd_port = lib.free_port()
    check(cmd_port != file_port, "could not find two free ports")
    nowhere = os.path.join(store.tmp, "nowhere")
    conf = write_conf(store, "override.conf",
                      base_lines(store, data_dir=nowhere, port=file_port,
                                 listen="127.0.0.1"))
    log = store.new_log("override-daemon.log")
    logf = open(log, "ab")
    try:
        proc = subprocess.Popen([str(lib.refimapd_path()), "-c", conf, "-f",
                                 "-p", str(cmd_port), "-d", store.data_dir],
                                stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=logf, env=store.env())
    finally:
        logf.close()
    try:
        deadline = time.monotonic() + lib.READ_TIMEOUT
        ports = []
        while time.monotonic() < deadline:
            ports = lib.LISTEN_RE.findall(lib.read_text(log))
            if ports or proc.poll() is not None:
                break
            time.sleep(0.02)
        check(proc.poll() is None, "refimapd -p -d exited %s:\n%s",
              proc.returncode, lib.tail(lib.read_text(log)))
        check_eq(ports, [str(cmd_port)], "ports refimapd listens on (file"
                 " says %d, -p says %d)" % (file_port, cmd_port))
        check(not port_open(file_port), "refimapd answers on the file's port"
              " %d too", file_port)
        sock = socket.create_connection(("127.0.0.1", cmd_port),
                                        timeout=lib.READ_TIMEOUT)
        try:
            rd = sock.makefile("rb")
            tagged = imap_login((rd, sock.sendall), "daemon -p -d")
            rd.close()
        finally:
            sock.close()
        # The passwd file is in -d's data dir, not in the file's.
        check(tagged.startswith(b"a OK [CAPABILITY "),
              "LOGIN with -d overriding data_dir got %r", tagged)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        rc = lib.wait_bounded(proc, lib.STOP_TIMEOUT,
                              "refimapd -p -d after SIGTERM")
    check_eq(rc, 0, "exit status of refimapd -p -d after SIGTERM")


def check_overrides_inetd(store):
    """-d wins over data_dir in the file (-i)."""
    nowhere = os.path.join(store.tmp, "nowhere")
    conf = write_conf(store, "override-i.conf",
                      base_lines(store, data_dir=nowhere))
    log = store.new_log("override-inetd.log")
    ours, theirs = socket.socketpair()
    logf = open(log, "ab")
    try:
        proc = subprocess.Popen([str(lib.refimapd_path()), "-c", conf, "-i",
                                 "-d", store.data_dir],
                                stdin=theirs.fileno(), stdout=theirs.fileno(),
                                stderr=logf, env=store.env(), close_fds=True)
    finally:
        logf.close()
        theirs.close()
    try:
        ours.settimeout(lib.READ_TIMEOUT)
        rd = ours.makefile("rb")
        tagged = imap_login((rd, ours.sendall), "-i -d")
        rd.close()
    finally:
        ours.close()
        rc = lib.wait_bounded(proc, lib.STOP_TIMEOUT, "refimapd -i -d")
    check(tagged.startswith(b"a OK [CAPABILITY "),
          "LOGIN with -d overriding data_dir (-i) got %r", tagged)
    check_eq(rc, 0, "exit status of refimapd -i -d")


def run():
    store = lib.Store()
    try:
        try:
            check_bad_lines(store)
            check_missing_file(store)
            check_overrides_daemon(store)
            check_overrides_inetd(store)
        finally:
            lib.check_leftovers(store.tag, "refimapd")
        store.check_logs()
    finally:
        store.cleanup()


if __name__ == "__main__":
    lib.main(run)
