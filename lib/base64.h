/*
 * base64.h: RFC 4648 base64 (standard alphabet, padding required).
 */
#ifndef REFIMAPD_BASE64_H
#define REFIMAPD_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "compat.h"

/* Decodes strictly (no whitespace, '=' only at the end). 0 or -1. */
int base64_decode(const uint8_t *in, size_t n, struct buf *out) ATTR_WUR;
int base64_encode(const uint8_t *in, size_t n, struct buf *out) ATTR_WUR;

#endif
