# refimapd: a strict IMAP4rev1 server. See README.md.
#
#   make            build refimapd and refimapctl
#   make check      install missing Debian packages (as root), build, run every test
#   make check-asan the same suite built with AddressSanitizer + UBSan
#   make demo       a demo store (user demo/demo) served on 127.0.0.1:1143
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
DOCDIR	?= $(PREFIX)/share/doc/refimapd
O	?= build

CC	?= cc
CSTD	= -std=c11 -D_GNU_SOURCE
WARN	= -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
	  -Wmissing-prototypes -Wformat=2 -Wno-unused-parameter
OPT	?= -O2 -g
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) $(CFLAGS) -MMD -MP
LIBS	= -ldb-5.3 -lcrypt -lssl -lcrypto
TESTLIBS = -lcunit

DEPS_DEB = build-essential libssl-dev libdb5.3-dev libcrypt-dev libcunit1-dev \
	   db5.3-util python3 curl openssl openbsd-inetd mutt dovecot-imapd clang \
	   isync offlineimap3 postfix man-db groff-base libwrap0 libtirpc3
# xinetd and openbsd-inetd exclude each other as packages (both provide
# inet-superserver), so the xinetd test runs xinetd's binary unpacked from
# its package into XINETD_DIR, never installed (libwrap0, libtirpc3: its
# libraries).
XINETD_DIR = .deps/xinetd

LIB_SRC		= $(wildcard lib/*.c)
STORE_SRC	= $(wildcard store/*.c)
AUTH_SRC	= $(wildcard auth/*.c)
SERVER_SRC	= $(filter-out server/main.c,$(wildcard server/*.c))
ADMIN_SRC	= $(filter-out admin/refimapctl.c,$(wildcard admin/*.c))
UNIT_SRC	= $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(O)/%.o,$(1))

CORE_OBJ = $(call obj,$(LIB_SRC) $(STORE_SRC) $(AUTH_SRC))

all: $(O)/refimapd $(O)/refimapctl

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# Test functions are found by name (gen_registry.sh), not through headers.
$(O)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -c -o $@ $<

$(O)/refimapd: $(call obj,server/main.c $(SERVER_SRC)) $(CORE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDFLAGS) $(LIBS)

$(O)/refimapctl: $(call obj,admin/refimapctl.c $(ADMIN_SRC)) $(CORE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDFLAGS) $(LIBS)

# The CUnit registry is generated from the test_* function names, so a new
# test cannot be forgotten.
$(O)/tests/unit/registry.c: $(UNIT_SRC) tests/unit/gen_registry.sh
	@mkdir -p $(dir $@)
	sh tests/unit/gen_registry.sh $(UNIT_SRC) > $@.tmp && mv $@.tmp $@

$(O)/tests/unit/registry.o: $(O)/tests/unit/registry.c
	$(CC) $(CFLAGS_ALL) -Itests/unit -c -o $@ $<

$(O)/unit-tests: $(call obj,$(UNIT_SRC) tests/unit/main.c $(SERVER_SRC) $(ADMIN_SRC)) \
		$(O)/tests/unit/registry.o $(CORE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDFLAGS) $(LIBS) $(TESTLIBS)

# Installs the Debian packages the build and the tests need, when run as
# root and something is missing. A no-op otherwise.
deps:
	@missing=""; for p in $(DEPS_DEB); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "deps: installing$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing </dev/null; \
		else \
			echo "deps: missing$$missing (run make deps as root)" >&2; exit 1; \
		fi; \
	fi
	@if [ ! -x /usr/sbin/xinetd ] && [ ! -x $(XINETD_DIR)/usr/sbin/xinetd ] && \
	    [ "$$(id -u)" = 0 ]; then \
		echo "deps: unpacking xinetd into $(XINETD_DIR)"; \
		rm -rf $(XINETD_DIR).tmp && mkdir -p $(XINETD_DIR).tmp && \
		{ chown _apt $(XINETD_DIR).tmp 2>/dev/null || true; } && \
		(cd $(XINETD_DIR).tmp && { apt-get download -qq xinetd || \
		    { apt-get update -qq && apt-get download -qq xinetd; }; } \
		    </dev/null) && \
		dpkg-deb -x $(XINETD_DIR).tmp/xinetd_*.deb $(XINETD_DIR) || \
		echo "deps: xinetd not unpacked: its part of the tests is skipped" >&2; \
		rm -rf $(XINETD_DIR).tmp; \
	fi

unit: $(O)/unit-tests
	cd tests/unit && ../../$(O)/unit-tests

protocol: all
	REFIMAPD_BUILD=$(O) python3 tests/run_tests.py

check: deps
	$(MAKE) all $(O)/unit-tests
	$(MAKE) unit protocol

ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# tests/lsan.supp: what Berkeley DB leaves after a panic (see the file).
check-asan: deps
	LSAN_OPTIONS="suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0" \
	$(MAKE) O=build-asan OPT="-O1 -g" CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" \
		check-nodeps

check-nodeps:
	$(MAKE) all $(O)/unit-tests
	$(MAKE) unit protocol

# libFuzzer targets, each run for FUZZ_SECONDS on its corpus in
# tests/fuzz/corpus/NAME; what they find new is added there (commit it).
FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE
FUZZ_LIB = lib/buf.c lib/xalloc.c lib/log.c lib/num.c lib/imapstr.c

build-fuzz/fuzz_parse: tests/fuzz/fuzz_parse.c server/parse.c $(FUZZ_LIB)
	@mkdir -p build-fuzz
	clang $(FUZZ_FLAGS) -o $@ $^

build-fuzz/fuzz_mime: tests/fuzz/fuzz_mime.c store/mime.c store/mime_addr.c $(FUZZ_LIB)
	@mkdir -p build-fuzz
	clang $(FUZZ_FLAGS) -o $@ $^

# The whole session: every server, store, auth and lib file but main().
FUZZ_SESSION_SRC = tests/fuzz/fuzz_session.c $(SERVER_SRC) $(LIB_SRC) \
	$(STORE_SRC) $(AUTH_SRC)

build-fuzz/fuzz_session: $(FUZZ_SESSION_SRC)
	@mkdir -p build-fuzz
	clang $(FUZZ_FLAGS) -o $@ $^ $(LIBS)

check-fuzz: deps
	$(MAKE) build-fuzz/fuzz_parse build-fuzz/fuzz_mime build-fuzz/fuzz_session
	@for t in parse mime session; do \
		dict=tests/fuzz/imap.dict; [ $$t = mime ] && dict=tests/fuzz/mime.dict; \
		mkdir -p tests/fuzz/corpus/$$t; \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
		build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -dict=$$dict \
		    -print_final_stats=1 tests/fuzz/corpus/$$t 2>&1 | tail -n 12 || exit 1; \
	done

DEMO_DIR ?= demo-data
DEMO_PORT ?= 1143
demo: deps all
	@mkdir -p $(DEMO_DIR)
	@[ -f $(DEMO_DIR)/passwd ] || { $(O)/refimapctl -d $(DEMO_DIR) init && \
		echo demo | $(O)/refimapctl -d $(DEMO_DIR) user add demo; }
	@[ -f $(DEMO_DIR)/refimapd.conf ] || printf '%s\n' \
		'# make demo: a local throw-away server. It may run as root' \
		'# (make installs packages); a real server sets user = instead.' \
		'data_dir = $(abspath $(DEMO_DIR))' 'allow_root = yes' \
		> $(DEMO_DIR)/refimapd.conf
	@echo "demo: user demo, password demo, on 127.0.0.1:$(DEMO_PORT) (Ctrl-C stops)"
	$(O)/refimapd -f -c $(DEMO_DIR)/refimapd.conf -l 127.0.0.1 -p $(DEMO_PORT)

# Side by side with a private loopback Dovecot (bench/README.md); N=
# messages (default 10000). Installs dovecot-imapd when run as root.
bench: deps
	@command -v dovecot >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq dovecot-imapd </dev/null; }
	$(MAKE) all
	REFIMAPD_BUILD=$(O) N=$(N) sh bench/run.sh

# Per-command costs at growing mailbox sizes, and 1,000 concurrent
# sessions (bench/README.md); SIZES=10000,100000 (default up to 1,000,000).
bench-scale: deps
	$(MAKE) all
	timeout 7200 python3 bench/scale.py --build $(O) $(if $(SIZES),--sizes $(SIZES))

# The examples name /usr/local/sbin; installed, they name SBINDIR.
MAN5 = refimapd.conf.5
MAN8 = refimapd.8 refimapctl.8
EXAMPLES = refimapd.conf inetd.conf xinetd-imap refimapd.service \
	   refimapd.socket refimapd@.service postfix-master.cf

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)
	install -m 755 $(O)/refimapd $(O)/refimapctl $(DESTDIR)$(SBINDIR)/
	install -m 644 $(addprefix man/,$(MAN5)) $(DESTDIR)$(MANDIR)/man5/
	install -m 644 $(addprefix man/,$(MAN8)) $(DESTDIR)$(MANDIR)/man8/
	for f in $(EXAMPLES); do \
		sed 's|/usr/local/sbin|$(SBINDIR)|g' docs/examples/$$f \
		    > $(DESTDIR)$(DOCDIR)/$$f && \
		chmod 644 $(DESTDIR)$(DOCDIR)/$$f || exit 1; \
	done

# Removes what install put there, and the doc directory once empty.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/refimapd $(DESTDIR)$(SBINDIR)/refimapctl
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(MAN5)) \
	      $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(MAN8))
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(EXAMPLES))
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true

clean:
	rm -rf build build-asan build-fuzz

.PHONY: check-fuzz all deps unit protocol check check-asan check-nodeps demo install uninstall clean \
	bench bench-scale

-include $(shell find $(O) -name '*.d' 2>/dev/null)
