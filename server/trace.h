/*
 * trace.h: the protocol trace of one session (`trace_dir`, refimapd -T).
 *
 * Each session writes its exchange to its own file in the trace directory
 * (made 0700 if missing), named YYYYMMDD-HHMMSS-PID.trace (UTC time the
 * session began), mode 0600. The bytes are those the session read and
 * wrote: inside TLS, the decrypted exchange.
 *
 * File format, one record a line, for grep and for programs:
 *
 *   # refimapd trace 1                        header lines start with '#'
 *   HH:MM:SS.mmm D: text    a whole line: text, then CRLF
 *   HH:MM:SS.mmm D- text    bytes without a line end (a line cut into
 *                           pieces, a line ending in a bare LF shown as \n,
 *                           or what was left when the session ended)
 *   HH:MM:SS.mmm D= text    literal data (no line end implied); several in a
 *                           row are one literal
 *   HH:MM:SS.mmm D~ N       N more bytes of that literal, not traced
 *                           (past trace_literal_max)
 *   HH:MM:SS.mmm -- text    a note of the server's (TLS, date change, end)
 *
 * D is C (client to server) or S (server to client); times are UTC. In
 * text, bytes 0x20-0x7e stand for themselves except '\', written "\\";
 * CR, LF and TAB are "\r" "\n" "\t", other bytes "\xNN". "\*" stands for
 * masked bytes: LOGIN's password (atom, quoted string or literal data),
 * AUTHENTICATE's initial response (SASL-IR) and every client line of an
 * AUTHENTICATE exchange. Concatenating the records of one direction in
 * order (C: adding CRLF) gives the bytes as sent, but for masks and
 * left-out literal bytes.
 *
 * Tracing never fails a session: when a write fails, the trace is closed,
 * one line is logged and the session goes on untraced.
 */
#ifndef REFIMAPD_TRACE_H
#define REFIMAPD_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/compat.h"

struct trace;

/*
 * Opens a trace file in dir for session id (peer: its address, for the
 * header). Returns NULL when dir is NULL, or after logging why the file
 * could not be made (the session then runs untraced).
 */
struct trace *trace_open(const char *dir, size_t literal_max, unsigned id,
    const char *peer);
/* Writes what is pending and an end note, closes the file, frees. */
void trace_close(struct trace **t);

/* Client bytes taken by the command parser, in order. */
void trace_client(struct trace *t, const uint8_t *p, size_t n);
/* Client bytes taken as a raw continuation line (AUTHENTICATE's SASL
 * responses, IDLE's DONE); masked during an AUTHENTICATE exchange. */
void trace_client_line(struct trace *t, const uint8_t *p, size_t n);
/* Bytes the server sends (written to the file at once). */
void trace_server(struct trace *t, const uint8_t *p, size_t n);
/* A "--" note (written to the file at once). */
void trace_note(struct trace *t, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* The path of the trace file, or NULL. */
const char *trace_path(const struct trace *t);

#endif
