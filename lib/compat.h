/*
 * compat.h: compiler attributes shared by every part of refimapd.
 */
#ifndef REFIMAPD_COMPAT_H
#define REFIMAPD_COMPAT_H

#define ATTR_WUR	__attribute__((warn_unused_result))
#define ATTR_NORETURN	__attribute__((noreturn))
#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_UNUSED	__attribute__((unused))

#define N_ELEMENTS(a)	(sizeof(a) / sizeof((a)[0]))

#endif
