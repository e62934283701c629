/*
 * config.c: reading refimapd.conf into struct config.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <syslog.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "num.h"
#include "xalloc.h"

enum config_type {
	CT_STR, CT_UINT, CT_SIZE, CT_U64, CT_BOOL, CT_LOGLEVEL, CT_FSYNC
};

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;
	uint64_t min, max;
};

#define K(n, t, f, lo, hi) { n, t, offsetof(struct config, f), lo, hi }
static const struct config_key config_keys[] = {
	K("data_dir", CT_STR, data_dir, 0, 0),
	K("listen", CT_STR, listen, 0, 0),
	K("port", CT_STR, port, 0, 0),
	K("user", CT_STR, user, 0, 0),
	K("pid_file", CT_STR, pid_file, 0, 0),
	K("max_sessions", CT_UINT, max_sessions, 1, 100000),
	K("max_sessions_per_ip", CT_UINT, max_sessions_per_ip, 1, 100000),
	K("idle_timeout", CT_UINT, idle_timeout, 1, 86400),
	K("idle_timeout_preauth", CT_UINT, idle_timeout_preauth, 1, 86400),
	K("auth_fail_delay_ms", CT_UINT, auth_fail_delay_ms, 0, 60000),
	K("auth_max_failures", CT_UINT, auth_max_failures, 1, 100),
	K("bad_commands_max", CT_UINT, bad_commands_max, 1, 10000),
	K("store_stuck_timeout", CT_UINT, store_stuck_timeout, 1, 86400),
	K("line_max", CT_SIZE, line_max, 1024, 1u << 24),
	K("line_max_preauth", CT_SIZE, line_max_preauth, 256, 1u << 20),
	K("literal_max", CT_U64, literal_max, 1024, (uint64_t)1 << 40),
	K("literal_max_preauth", CT_U64, literal_max_preauth, 256, 1u << 20),
	K("command_max", CT_SIZE, command_max, 4096, (size_t)1 << 30),
	K("depth_max", CT_UINT, depth_max, 1, 1000),
	K("tokens_max", CT_UINT, tokens_max, 8, 1000000),
	K("fsync", CT_FSYNC, fsync, 0, 0),
	K("allow_plaintext", CT_BOOL, allow_plaintext, 0, 0),
	K("allow_root", CT_BOOL, allow_root, 0, 0),
	K("special_use_mailboxes", CT_BOOL, special_use_mailboxes, 0, 0),
	K("log_level", CT_LOGLEVEL, log_level, 0, 0),
	K("tls_cert", CT_STR, tls_cert, 0, 0),
	K("tls_key", CT_STR, tls_key, 0, 0),
	K("tls_listen", CT_STR, tls_listen, 0, 0),
	K("tls_port", CT_STR, tls_port, 0, 0),
	K("trace_dir", CT_STR, trace_dir, 0, 0),
	K("trace_literal_max", CT_SIZE, trace_literal_max, 0, (size_t)1 << 30),
	K("capabilities", CT_STR, capabilities, 0, 0),
};
#undef K

static const struct {
	const char *name;
	int prio;
} config_levels[] = {
	{ "error", LOG_ERR }, { "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
};

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->data_dir = xstrdup(CONFIG_DEFAULT_DATA_DIR);
	cfg->listen = xstrdup("*");
	cfg->port = xstrdup("143");
	cfg->user = NULL;
	cfg->max_sessions = 200;
	cfg->max_sessions_per_ip = 20;
	cfg->idle_timeout = 1800;
	cfg->idle_timeout_preauth = 60;
	cfg->auth_fail_delay_ms = 1000;
	cfg->auth_max_failures = 3;
	cfg->bad_commands_max = 20;
	cfg->store_stuck_timeout = 30;
	cfg->line_max = 65536;
	cfg->line_max_preauth = 8192;
	cfg->literal_max = 64u << 20;
	cfg->literal_max_preauth = 8192;
	cfg->command_max = 1u << 20;
	cfg->depth_max = 16;
	cfg->tokens_max = 100000;
	cfg->fsync = true;
	cfg->fsync_flags = false;
	cfg->allow_plaintext = false;
	cfg->special_use_mailboxes = true;
	cfg->log_level = LOG_INFO;
	cfg->tls_port = xstrdup("993");
	cfg->trace_literal_max = 4096;
}

void
config_free(struct config *cfg)
{
	xfree(&cfg->data_dir);
	xfree(&cfg->listen);
	xfree(&cfg->port);
	xfree(&cfg->user);
	xfree(&cfg->pid_file);
	xfree(&cfg->tls_cert);
	xfree(&cfg->tls_key);
	xfree(&cfg->tls_listen);
	xfree(&cfg->tls_port);
	xfree(&cfg->trace_dir);
	xfree(&cfg->capabilities);
}

static int config_err(char *errbuf, size_t errlen, const char *fmt, ...)
    ATTR_PRINTF(3, 4);

static int
config_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int (*config_capabilities_check)(const char *, char *, size_t);

int
config_set(struct config *cfg, const char *key, const char *value,
    char *errbuf, size_t errlen)
{
	const struct config_key *k = NULL;
	uint64_t v = 0;
	size_t i;
	void *field;

	for (i = 0; i < N_ELEMENTS(config_keys); i++) {
		if (strcmp(config_keys[i].name, key) == 0) {
			k = &config_keys[i];
			break;
		}
	}
	if (k == NULL)
		return config_err(errbuf, errlen, "unknown key '%s'", key);
	field = (char *)cfg + k->offset;
	switch (k->type) {
	case CT_STR:
		if (*value == '\0')
			return config_err(errbuf, errlen,
			    "'%s' needs a value", key);
		if (field == &cfg->capabilities &&
		    config_capabilities_check != NULL &&
		    config_capabilities_check(value, errbuf, errlen) < 0)
			return -1;
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case CT_BOOL:
		if (strcasecmp(value, "yes") == 0 ||
		    strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0)
			*(bool *)field = true;
		else if (strcasecmp(value, "no") == 0 ||
		    strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0)
			*(bool *)field = false;
		else
			return config_err(errbuf, errlen,
			    "'%s' must be yes or no, not '%s'", key, value);
		return 0;
	case CT_FSYNC:
		/* "all" also fsyncs commits that change only flags; "yes" and
		 * "no" read as for any yes/no key. */
		if (strcasecmp(value, "all") == 0) {
			cfg->fsync = true;
			cfg->fsync_flags = true;
		} else if (strcasecmp(value, "yes") == 0 ||
		    strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0) {
			cfg->fsync = true;
			cfg->fsync_flags = false;
		} else if (strcasecmp(value, "no") == 0 ||
		    strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0) {
			cfg->fsync = false;
			cfg->fsync_flags = false;
		} else {
			return config_err(errbuf, errlen,
			    "'%s' must be yes, all or no, not '%s'", key,
			    value);
		}
		return 0;
	case CT_LOGLEVEL:
		for (i = 0; i < N_ELEMENTS(config_levels); i++) {
			if (strcasecmp(value, config_levels[i].name) == 0) {
				*(int *)field = config_levels[i].prio;
				return 0;
			}
		}
		return config_err(errbuf, errlen, "'%s': unknown level '%s' "
		    "(error, warning, notice, info, debug)", key, value);
	case CT_UINT:
	case CT_SIZE:
	case CT_U64:
		if (!num_parse_u64((const uint8_t *)value, strlen(value), &v) ||
		    v < k->min || v > k->max) {
			char range[64];

			(void)snprintf(range, sizeof(range), "%llu..%llu",
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
			(void)snprintf(errbuf, errlen,
			    "'%s' must be a number in %s, not '%s'", key,
			    range, value);
			return -1;
		}
		if (k->type == CT_UINT)
			*(unsigned *)field = (unsigned)v;
		else if (k->type == CT_SIZE)
			*(size_t *)field = (size_t)v;
		else
			*(uint64_t *)field = v;
		return 0;
	}
	return -1;
}

static char *
config_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

int
config_read(struct config *cfg, const char *path, bool missing_ok,
    char *errbuf, size_t errlen)
{
	char line[4096], err[512];
	unsigned lineno = 0;
	FILE *f;
	int ret = 0;

	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT && missing_ok)
			return 0;
		(void)snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *key, *value;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			(void)snprintf(errbuf, errlen, "%s:%u: line too long",
			    path, lineno);
			ret = -1;
			break;
		}
		s = config_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			(void)snprintf(errbuf, errlen,
			    "%s:%u: expected 'key = value'", path, lineno);
			ret = -1;
			break;
		}
		*eq = '\0';
		key = config_trim(s);
		value = config_trim(eq + 1);
		if (config_set(cfg, key, value, err, sizeof(err)) < 0) {
			(void)snprintf(errbuf, errlen, "%s:%u: %s", path,
			    lineno, err);
			ret = -1;
			break;
		}
	}
	if (ret == 0 && ferror(f)) {
		(void)snprintf(errbuf, errlen, "%s: read error", path);
		ret = -1;
	}
	fclose(f);
	return ret;
}
