/* log.h - one line per event, to stderr.
 *
 * Text mode (default):
 *   ts=2026-11-28T17:40:00.123Z level=info event=shard_sealed name=s-000001.tms docs=812
 * JSON mode (tm_log_set_json(1), the CLI's --log-json):
 *   {"ts":"2026-11-28T17:40:00.123Z","level":"info","event":"shard_sealed","name":"s-000001.tms","docs":812}
 *
 * The caller formats the fields as `key=value` pairs separated by spaces; a
 * value with spaces is written as key="a value" (use tm_log_quote for
 * arbitrary strings). Values that parse as numbers become JSON numbers.
 * Each line is written with one write(2), so lines from threads never mix.
 */
#ifndef TM_LOG_H
#define TM_LOG_H

#include <stddef.h>

typedef enum { TM_LOG_DEBUG = 0, TM_LOG_INFO = 1, TM_LOG_WARN = 2, TM_LOG_ERROR = 3 } tm_log_level;

void tm_log_set_level(tm_log_level level);
tm_log_level tm_log_get_level(void);
void tm_log_set_json(int on);
/* "debug", "info", "warn", "error" -> level; -1 if unknown */
int tm_log_parse_level(const char *name);

void tm_log(tm_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tm_debug(ev, ...) tm_log(TM_LOG_DEBUG, ev, __VA_ARGS__)
#define tm_info(ev, ...) tm_log(TM_LOG_INFO, ev, __VA_ARGS__)
#define tm_warn(ev, ...) tm_log(TM_LOG_WARN, ev, __VA_ARGS__)
#define tm_error_log(ev, ...) tm_log(TM_LOG_ERROR, ev, __VA_ARGS__)

/* Write s as a double-quoted value (escaping \ and ") into out; returns out. */
char *tm_log_quote(char *out, size_t cap, const char *s);

/* Format one line into out (no trailing newline); used by tm_log and tests. */
size_t tm_log_format(char *out, size_t cap, int json, tm_log_level level, const char *event,
                     const char *fields);

#endif
