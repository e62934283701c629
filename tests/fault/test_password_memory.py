#!/usr/bin/env python3
"""A logged-in session keeps no copy of the password (DESIGN "Auth and
security": passwords are wiped after use).

Four sessions log in with LOGIN (a quoted string), LOGIN (a literal),
AUTHENTICATE PLAIN with an initial response (SASL-IR) and AUTHENTICATE
PLAIN with the credentials on a continuation line, then go quiet. Once they have had
time to give memory back (they do 20 ms after a state change), every
writable mapping of each session process is read through /proc/PID/mem:
neither the password nor its base64 form may be found. A session that
still answers NOOP afterwards shows nothing it needs was taken away.

Exit 0 on success, 77 if the binaries are missing or another process's
memory cannot be read here, 1 on failure."""

import base64
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "protocol"))
import lib  # noqa: E402
from lib import check  # noqa: E402
from rawimap import Conn  # noqa: E402

USER = "memuser"
PASSWORD = "Zq7-unlikely-pass-4711"
QUIET = 0.5         # seconds: well past the sessions' 20 ms trim wait


MAP_MAX = 1 << 30   # larger: a reservation (AddressSanitizer's shadow)
CHUNK = 16 << 20


def writable_memory(pid, secrets):
    """Searches every private writable mapping of pid for secrets; returns
    (bytes read, None) or (bytes read, (secret, context)) at the first
    hit. Read in chunks that overlap by the longest secret."""
    total = 0
    over = max(len(x) for x in secrets)
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for line in maps:
            f = line.split()
            if not f[1].startswith("rw") or f[1][3] != "p":
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if hi - lo > MAP_MAX:
                continue
            at = lo
            while at < hi:
                n = min(CHUNK + over, hi - at)
                try:
                    mem.seek(at)
                    data = mem.read(n)
                except OSError:
                    break       # [vvar] and the like
                total += len(data)
                for x in secrets:
                    k = data.find(x)
                    if k >= 0:
                        return total, (x, data[max(0, k - 40):k + len(x)
                                                + 8])
                at += CHUNK
    return total, None


def run():
    with lib.Server(users=[(USER, PASSWORD)]) as srv:
        clients = []
        logins = [
            'LOGIN %s "%s"' % (USER, PASSWORD),
            "LOGIN %s {%d+}\r\n%s" % (USER, len(PASSWORD), PASSWORD),
            "AUTHENTICATE PLAIN %s" % base64.b64encode(
                ("\0%s\0%s" % (USER, PASSWORD)).encode()).decode(),
        ]
        for text in logins:
            c = Conn(srv.port)
            st, resp, _ = c.cmd(text)
            check(st == "OK", "login %r: %s %r", text[:22], st, resp)
            clients.append(c)
        # AUTHENTICATE without an initial response: the credentials come
        # on a continuation line of their own.
        c = Conn(srv.port)
        tag = c.next_tag()
        c.send(("%s AUTHENTICATE PLAIN\r\n" % tag).encode())
        cont = c.read_response()
        check(cont[0].startswith(b"+"), "AUTHENTICATE: %r", cont)
        c.send(base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode())
               + b"\r\n")
        st, resp, _ = c.finish(tag)
        check(st == "OK", "AUTHENTICATE continuation: %s %r", st, resp)
        clients.append(c)
        time.sleep(QUIET)
        pids = lib.child_pids(srv.daemon.proc.pid)
        check(len(pids) >= len(clients), "session processes: %r", pids)
        secrets = [PASSWORD.encode(),
                   base64.b64encode(b"\0" + USER.encode() + b"\0" +
                                    PASSWORD.encode())]
        for pid in pids:
            try:
                total, hit = writable_memory(pid, secrets)
            except PermissionError as e:
                raise lib.TestSkip("cannot read session memory: %s" % e)
            except FileNotFoundError:
                continue        # a process that has just ended
            check(total > 0, "no memory read from pid %d", pid)
            check(hit is None, "session pid %d keeps %r: ...%r...", pid,
                  *(hit or ("", "")))
        for c in clients:
            st, resp, _ = c.cmd("NOOP")
            check(st == "OK", "NOOP after: %s %r", st, resp)
            c.close()

if __name__ == "__main__":
    lib.main(run)
