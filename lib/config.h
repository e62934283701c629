/*
 * config.h: the configuration file, "key = value" lines, '#' comments.
 *
 * Every key has a default; unknown keys, bad values and malformed lines are
 * errors naming the file and line, and a server never starts half
 * configured. Command-line options are applied after the file and win.
 */
#ifndef REFIMAPD_CONFIG_H
#define REFIMAPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

#define CONFIG_DEFAULT_FILE	"/etc/refimapd.conf"
#define CONFIG_DEFAULT_DATA_DIR	"/var/lib/refimapd"

struct config {
	char *data_dir;
	char *listen;		/* address to bind; "*" = all */
	char *port;		/* service or number */
	char *user;		/* drop root to this user; NULL = none */
	char *pid_file;		/* the daemon's pid file; NULL = none */
	unsigned max_sessions;
	unsigned max_sessions_per_ip;
	unsigned idle_timeout;		/* seconds, authenticated */
	unsigned idle_timeout_preauth;	/* seconds, before login */
	unsigned auth_fail_delay_ms;
	unsigned auth_max_failures;
	unsigned bad_commands_max;	/* BADs before BYE */
	/* seconds a session may stay inside one store call before the
	 * daemon takes it for stuck on a dead process's lock (recovery) */
	unsigned store_stuck_timeout;
	size_t line_max;
	size_t line_max_preauth;
	uint64_t literal_max;
	uint64_t literal_max_preauth;
	size_t command_max;	/* bytes one command may make us hold */
	unsigned depth_max;
	unsigned tokens_max;
	/* fsync = no (false), yes (true) or all (true, and fsync_flags) */
	bool fsync;
	/* flag-only commits are fsynced too; with plain "yes" they are only
	 * written to the operating system (store_options.sync_flags) */
	bool fsync_flags;
	bool allow_plaintext;
	/* sessions may run as root (else refused: set user) */
	bool allow_root;
	bool special_use_mailboxes;	/* a new user gets Drafts, Sent, ...
					   (RFC 6154) */
	int log_level;		/* syslog priority */
	/* Not a key: set by the daemon, whose master takes the store's
	 * checkpoints and recovers it when a process dies in it, so that
	 * sessions never do either. */
	bool master_checkpoints;
	char *tls_cert;		/* PEM certificate chain; NULL = no TLS */
	char *tls_key;		/* PEM private key */
	char *tls_listen;	/* implicit TLS address; NULL = as listen */
	char *tls_port;		/* implicit TLS port; "none" = no listener */
	char *trace_dir;	/* protocol traces, one file a session;
				   NULL = none (server/trace.h) */
	size_t trace_literal_max;	/* literal bytes shown in a trace */
	char *capabilities;	/* extensions removed or kept (server/capa.h);
				   NULL = all */
};

/* Fills *cfg with the defaults (strings allocated). */
void config_defaults(struct config *cfg);
void config_free(struct config *cfg);

/*
 * Reads FILE into *cfg (on top of what is there). Returns 0, or -1 with
 * a message "FILE:LINE: what is wrong" in errbuf. A missing file is an
 * error unless missing_ok.
 */
int config_read(struct config *cfg, const char *path, bool missing_ok,
    char *errbuf, size_t errlen) ATTR_WUR;

/*
 * Checks a value of "capabilities" as it is set, so that a bad one is
 * reported with its file and line (the server's parser, server/capa.c,
 * which lib/ cannot call; NULL: any text is taken). 0, or -1 with errbuf.
 */
extern int (*config_capabilities_check)(const char *value, char *errbuf,
    size_t errlen);
/* Sets one key from text, as a config line would. 0 or -1 with errbuf. */
int config_set(struct config *cfg, const char *key, const char *value,
    char *errbuf, size_t errlen) ATTR_WUR;

#endif
