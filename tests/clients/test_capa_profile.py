#!/usr/bin/env python3
"""Capability profiles: the IMAP4rev1 protocol scripts against a server
whose CONDSTORE and QRESYNC were removed (`capabilities = -QRESYNC
-CONDSTORE`, server/capa.h).

Each script of SCRIPTS (tests/protocol/) runs as it is, in both modes,
with three changes made here: the config line is added, the CAPABILITY
lists it expects lose "CONDSTORE QRESYNC", and the "* OK [CLOSED]" lines
(RFC 7162 §3.2.11, sent only by a server that offers QRESYNC) are dropped
from what it expects. Everything else must come out byte for byte the same:
a client that never uses the two extensions sees no difference.

Then a value that does not parse must stop refimapd at startup. (What a
profile refuses, exactly, is in tests/protocol/capa_*.imap.)
"""

import os
import re
import subprocess
import sys

import lib

PROFILE = "-QRESYNC -CONDSTORE"
SCRIPTS = [
    "basic.imap", "auth.imap", "append.imap", "fetch.imap", "fetch_mime.imap",
    "search.imap", "search_mime.imap", "store.imap", "copy_expunge.imap",
    "list.imap", "mailboxes.imap", "select.imap", "parser.imap",
    "limits.imap", "users.imap", "move.imap", "idle.imap",
]
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                    "protocol")
CLOSED_RE = re.compile(r"^\* OK \[CLOSED\]")


COUNTS = {"capability lines": 0, "CLOSED lines": 0}


def adapt(path):
    """The script's header and directives, for the profile."""
    hdr, directives = lib.parse_script(path)
    hdr["config"] = [(k, v) for k, v in hdr["config"] if k != "capabilities"]
    hdr["config"].append(("capabilities", PROFILE))
    out = []
    for d in directives:
        if d.kind in ("S:", "S<", "S?", "S|"):
            for alt in [d] + d.alts + [g for g in d.group if g is not d]:
                if "CONDSTORE QRESYNC " in alt.text:
                    alt.text = alt.text.replace("CONDSTORE QRESYNC ", "")
                    raw = (lib.unescape(alt.text) if alt.kind == "S<"
                           else alt.text.encode("utf-8"))
                    alt.pattern = lib.compile_pattern(raw)
                    COUNTS["capability lines"] += 1
            if d.kind == "S:" and CLOSED_RE.match(d.text) and not d.alts:
                COUNTS["CLOSED lines"] += 1
                continue
        out.append(d)
    return hdr, out


def run_scripts():
    failed = []
    for name in SCRIPTS:
        path = os.path.join(HERE, name)
        hdr, directives = adapt(path)
        for mode in hdr["modes"]:
            err, _ = lib.run_script(path, mode, hdr, directives)
            status = "ok" if err is None else "FAILED"
            print("%s [%s] with capabilities = %s: %s"
                  % (name, mode, PROFILE, status))
            if err is not None:
                failed.append("%s [%s]:\n%s" % (name, mode, err))
    lib.check(not failed, "%d script run(s) failed:\n%s", len(failed),
              "\n".join(failed))
    # The changes were made: the scripts did meet what they test.
    print("expected lines changed: %r" % COUNTS)
    lib.check(COUNTS["capability lines"] >= 10 and COUNTS["CLOSED lines"] > 0,
              "too few expected lines adapted: %r", COUNTS)


def run_config_error():
    """An unknown extension stops the server with a message (EX_CONFIG);
    --capabilities wins over the file."""
    store = lib.Store()
    try:
        store.set_config("capabilities", "-QRESYNC -FROBNICATE")
        store.write_config()
        r = subprocess.run([str(lib.refimapd_path()), "-c", store.conf,
                            "-f", "-i"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=store.env(), timeout=10)
        err = r.stderr.decode("utf-8", "replace")
        lib.check_eq(r.returncode, 78, "exit status for a bad capabilities")
        lib.check("unknown extension 'FROBNICATE'" in err,
                  "no message naming the extension: %r", err)
        r = subprocess.run([str(lib.refimapd_path()), "-c", store.conf,
                            "-f", "-i", "--capabilities", "UIDPLUS, QRESYNC"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=store.env(),
                           timeout=10)
        err = r.stderr.decode("utf-8", "replace")
        lib.check_eq(r.returncode, 78, "exit status for QRESYNC kept alone")
        lib.check("QRESYNC needs CONDSTORE and ENABLE" in err,
                  "no message about QRESYNC's prerequisites: %r", err)
        # The option wins over the config file.
        r = subprocess.run([str(lib.refimapd_path()), "-c", store.conf,
                            "-i", "--capabilities", "imap4rev1"],
                           input=b"a CAPABILITY\r\nb LOGOUT\r\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=store.env(), timeout=10)
        lib.check_eq(r.returncode, 0, "refimapd -i --capabilities status")
        lib.check_eq(r.stdout.split(b"\r\n")[:3], [
            b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] refimapd ready",
            b"* CAPABILITY IMAP4rev1 AUTH=PLAIN",
            b"a OK CAPABILITY completed"], "--capabilities IMAP4rev1")
    finally:
        store.cleanup()


def main():
    run_scripts()
    run_config_error()


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    lib.main(main)
