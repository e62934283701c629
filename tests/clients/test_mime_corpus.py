#!/usr/bin/env python3
"""The MIME corpus against golden files: every tests/mime/corpus/*.eml is
APPENDed to refimapd, then FETCH ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501
7.4.2) must equal tests/mime/golden/NNN-name.txt byte for byte (escaped
with tests/mime/mimetest.escape). The golden files were generated once with
--update and reviewed by hand; regenerate them only on purpose:

    python3 tests/clients/test_mime_corpus.py --update
"""

import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "protocol"))
sys.path.insert(0, os.path.join(HERE, "..", "mime"))
import lib  # noqa: E402
import mimetest  # noqa: E402

ITEMS = [b"ENVELOPE", b"BODY", b"BODYSTRUCTURE"]


def render(stem, append_result, items):
    out = ["# %s: APPEND %s" % (stem, mimetest.escape(append_result))]
    for name in ITEMS:
        if name in items:
            out.append("%s %s" % (name.decode(), mimetest.escape(items[name])))
    return "\n".join(out) + "\n"


def run(update=False):
    msgs = mimetest.corpus()
    lib.check(len(msgs) >= 100, "only %d corpus messages", len(msgs))
    with lib.Server(config=[("literal_max", "4194304")]) as srv:
        c = mimetest.Client(srv.host, srv.port)
        c.ok(b"LOGIN test test")
        seq = 0
        results = []
        for stem, data in msgs:
            _, tagged = c.command(b"APPEND INBOX", literal=data,
                                  literal_plus=True)
            ok = tagged.startswith(b"OK")
            if ok:
                seq += 1
            results.append((stem, tagged.split(b"]")[-1].strip()
                            if ok else tagged, seq if ok else None))
        c.ok(b"SELECT INBOX")
        failures = []
        for stem, append_result, n in results:
            items = mimetest.fetch_items(c, n, ITEMS) if n else {}
            text = render(stem, append_result, items)
            path = os.path.join(mimetest.GOLDEN, stem + ".txt")
            if update:
                os.makedirs(mimetest.GOLDEN, exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
                continue
            try:
                with open(path) as f:
                    want = f.read()
            except FileNotFoundError:
                failures.append("%s: no golden file %s" % (stem, path))
                continue
            if want != text:
                failures.append("%s:\n  want %s\n  got  %s" % (
                    stem, want.strip().replace("\n", "\n       "),
                    text.strip().replace("\n", "\n       ")))
        c.ok(b"LOGOUT")
        c.close()
        if update:
            print("wrote %d golden files" % len(results))
        lib.check(not failures, "%d of %d messages differ from their golden"
                  " files:\n%s", len(failures), len(results),
                  "\n".join(failures[:10]))


if __name__ == "__main__":
    lib.main(lambda: run("--update" in sys.argv[1:]))
