/* log.c - key=value / JSON line logging; see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_level = TM_LOG_INFO;
static int g_json = 0;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void tm_log_set_level(tm_log_level level) { g_level = (int)level; }
tm_log_level tm_log_get_level(void) { return (tm_log_level)g_level; }
void tm_log_set_json(int on) { g_json = on; }

int tm_log_parse_level(const char *name) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, level_names[i])) return i;
  return -1;
}

char *tm_log_quote(char *out, size_t cap, const char *s) {
  size_t o = 0;
  if (cap < 3) {
    if (cap) out[0] = 0;
    return out;
  }
  out[o++] = '"';
  for (; *s && o + 3 < cap; s++) {
    char c = *s;
    if (c == '"' || c == '\\') out[o++] = '\\';
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    out[o++] = c;
  }
  out[o++] = '"';
  out[o] = 0;
  return out;
}

static size_t put(char *out, size_t cap, size_t o, const char *s, size_t n) {
  if (o >= cap) return o;
  if (n > cap - 1 - o) n = cap - 1 - o;
  memcpy(out + o, s, n);
  out[o + n] = 0;
  return o + n;
}
#define PUTS(s) (o = put(out, cap, o, (s), strlen(s)))

static int looks_numeric(const char *s, size_t n) {
  if (n == 0) return 0;
  char buf[64];
  if (n >= sizeof buf) return 0;
  memcpy(buf, s, n);
  buf[n] = 0;
  char *end;
  strtod(buf, &end);
  if (*end) return 0;
  /* JSON forbids leading zeros, '+', hex, inf, nan */
  if (buf[0] == '+' || strpbrk(buf, "xXnNiI")) return 0;
  const char *d = buf[0] == '-' ? buf + 1 : buf;
  if (d[0] == '0' && d[1] && d[1] != '.' && d[1] != 'e' && d[1] != 'E') return 0;
  if (d[0] == '.') return 0;
  return 1;
}

static size_t put_json_string(char *out, size_t cap, size_t o, const char *s, size_t n) {
  o = put(out, cap, o, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c;
      o = put(out, cap, o, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      o = put(out, cap, o, esc, 6);
    } else {
      o = put(out, cap, o, (const char *)&s[i], 1);
    }
  }
  return put(out, cap, o, "\"", 1);
}

size_t tm_log_format(char *out, size_t cap, int json, tm_log_level level, const char *event,
                     const char *fields) {
  char ts[40];
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tmv;
  gmtime_r(&now.tv_sec, &tmv);
  size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tmv);
  snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", now.tv_nsec / 1000000);
  const char *lv = level_names[level < 0 || level > 3 ? 1 : level];
  size_t o = 0;
  out[0] = 0;
  if (!json) {
    PUTS("ts=");
    PUTS(ts);
    PUTS(" level=");
    PUTS(lv);
    PUTS(" event=");
    PUTS(event);
    if (fields && *fields) {
      PUTS(" ");
      PUTS(fields);
    }
    return o;
  }
  PUTS("{\"ts\":\"");
  PUTS(ts);
  PUTS("\",\"level\":\"");
  PUTS(lv);
  PUTS("\",\"event\":");
  o = put_json_string(out, cap, o, event, strlen(event));
  const char *p = fields ? fields : "";
  while (*p) {
    while (*p == ' ') p++;
    if (!*p) break;
    const char *k = p;
    while (*p && *p != '=' && *p != ' ') p++;
    size_t kl = (size_t)(p - k);
    const char *v = p;
    size_t vl = 0;
    int quoted = 0;
    char unq[1024];
    if (*p == '=') {
      p++;
      if (*p == '"') {
        quoted = 1;
        p++;
        size_t u = 0;
        while (*p && *p != '"') {
          if (*p == '\\' && p[1]) p++;
          if (u + 1 < sizeof unq) unq[u++] = *p;
          p++;
        }
        if (*p == '"') p++;
        v = unq;
        vl = u;
      } else {
        v = p;
        while (*p && *p != ' ') p++;
        vl = (size_t)(p - v);
      }
    }
    PUTS(",");
    o = put_json_string(out, cap, o, k, kl);
    PUTS(":");
    if (!quoted && looks_numeric(v, vl)) o = put(out, cap, o, v, vl);
    else o = put_json_string(out, cap, o, v, vl);
  }
  PUTS("}");
  return o;
}

void tm_log(tm_log_level level, const char *event, const char *fmt, ...) {
  if ((int)level < g_level) return;
  char fields[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(fields, sizeof fields, fmt, ap);
  va_end(ap);
  char line[4096];
  size_t n = tm_log_format(line, sizeof line - 1, g_json, level, event, fields);
  line[n++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, n);
  (void)w;
}
