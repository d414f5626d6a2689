/* metrics.c - JSONL record and SVG loss curve; see metrics.h. */
#include "metrics.h"

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

typedef struct point {
  double step, value;
} point;

typedef struct series {
  point *v;
  size_t n, cap;
} series;

struct tm_metrics {
  char path[4096], svg[4096];
  int fd;
  series train, val;
};

/* At most SERIES_MAX points per series (the SVG draws <= 1000 anyway): when
 * full, neighbouring pairs are averaged, halving the count, so a run of any
 * length keeps bounded memory. */
#define SERIES_MAX ((size_t)1 << 18)

static int series_add(series *s, double step, double value) {
  if (s->n == SERIES_MAX) {
    for (size_t i = 0; i < s->n / 2; i++)
      s->v[i] = (point){0.5 * (s->v[2 * i].step + s->v[2 * i + 1].step),
                        0.5 * (s->v[2 * i].value + s->v[2 * i + 1].value)};
    s->n /= 2;
  }
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 1024;
    point *v = realloc(s->v, cap * sizeof *v);
    if (!v) return -TM_ENOMEM;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = (point){step, value};
  return 0;
}

/* Keep the lines with step <= keep_upto; returns the kept text (malloc'd). */
static int load_existing(tm_metrics *m, int64_t keep_upto, char **kept, size_t *kept_len,
                         tm_error *err) {
  char *text = NULL;
  size_t len = 0;
  *kept = NULL;
  *kept_len = 0;
  if (access(m->path, F_OK) != 0) return 0;
  int rc = tm_io_read_file(m->path, (size_t)1 << 31, &text, &len, err);
  if (rc < 0) return rc;
  char *out = malloc(len + 1);
  if (!out) {
    free(text);
    return tm_err(err, TM_ENOMEM, "%s: out of memory", m->path);
  }
  size_t o = 0, line_start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && text[i] != '\n') continue;
    size_t ll = i - line_start;
    if (ll) {
      json_error_t je;
      json_t *j = json_loadb(text + line_start, ll, 0, &je);
      json_t *st = j ? json_object_get(j, "step") : NULL;
      if (j && json_is_integer(st) && json_integer_value(st) <= keep_upto) {
        double step = (double)json_integer_value(st);
        json_t *l = json_object_get(j, "loss"), *v = json_object_get(j, "val_loss");
        if (json_is_number(l)) series_add(&m->train, step, json_number_value(l));
        if (json_is_number(v)) series_add(&m->val, step, json_number_value(v));
        memcpy(out + o, text + line_start, ll);
        o += ll;
        out[o++] = '\n';
      }
      /* a torn last line (crash mid-append) or a later step is dropped */
      json_decref(j);
    }
    line_start = i + 1;
  }
  free(text);
  *kept = out;
  *kept_len = o;
  return 0;
}

int tm_metrics_open(tm_metrics **out, const char *dir, int64_t keep_upto, tm_error *err) {
  *out = NULL;
  tm_metrics *m = calloc(1, sizeof *m);
  if (!m) return tm_err(err, TM_ENOMEM, "metrics: out of memory");
  m->fd = -1;
  snprintf(m->path, sizeof m->path, "%s/metrics.jsonl", dir);
  snprintf(m->svg, sizeof m->svg, "%s/loss.svg", dir);
  char *kept = NULL;
  size_t kept_len = 0;
  int rc = 0;
  if (keep_upto >= 0) rc = load_existing(m, keep_upto, &kept, &kept_len, err);
  if (rc == 0) rc = tm_io_write_file_atomic(m->path, kept ? kept : "", kept_len, "metrics", err);
  free(kept);
  if (rc == 0) {
    m->fd = tm_io_open(m->path, O_WRONLY | O_APPEND | O_CLOEXEC, 0644, "metrics", err);
    if (m->fd < 0) rc = m->fd;
  }
  if (rc < 0) {
    tm_metrics_close(m);
    return rc;
  }
  *out = m;
  return 0;
}

void tm_metrics_close(tm_metrics *m) {
  if (!m) return;
  if (m->fd >= 0) tm_io_close(m->fd, m->path, "metrics", NULL);
  free(m->train.v);
  free(m->val.v);
  free(m);
}

static int append(tm_metrics *m, tm_error *err, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof line) return tm_err(err, TM_EINVAL, "metrics line too long");
  return tm_io_write(m->fd, line, (size_t)n, m->path, "metrics", err);
}

/* JSON has no NaN/Infinity: write null */
static const char *num(char *buf, size_t cap, double v, const char *fmt) {
  if (!isfinite(v)) return "null";
  snprintf(buf, cap, fmt, v);
  return buf;
}

int tm_metrics_step(tm_metrics *m, uint64_t step, float loss, double lr, double grad_norm,
                    double tokens_per_s, double wait_s, tm_error *err) {
  char a[48], b[48];
  series_add(&m->train, (double)step, loss);
  return append(m, err,
                "{\"step\":%llu,\"loss\":%s,\"lr\":%.9g,\"grad_norm\":%s,\"tokens_per_s\":%.1f,"
                "\"wait_s\":%.4f}\n",
                (unsigned long long)step, num(a, sizeof a, loss, "%.9g"), lr,
                num(b, sizeof b, grad_norm, "%.9g"), tokens_per_s, wait_s);
}

int tm_metrics_eval(tm_metrics *m, uint64_t step, float val_loss, float best, tm_error *err) {
  char a[48], b[48];
  series_add(&m->val, (double)step, val_loss);
  return append(m, err, "{\"step\":%llu,\"val_loss\":%s,\"best_val_loss\":%s}\n",
                (unsigned long long)step, num(a, sizeof a, val_loss, "%.9g"),
                num(b, sizeof b, best, "%.9g"));
}

/* ---- SVG ------------------------------------------------------------------ */

typedef struct buf {
  char *p;
  size_t n, cap;
  int oom;
} buf;

static void bprintf(buf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < b->cap - b->n) {
      b->n += (size_t)n;
      return;
    }
    size_t cap = b->cap * 2 + (size_t)(n > 0 ? n : 0) + 1024;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

#define W 800
#define H 480
#define ML 70
#define MR 20
#define MT 40
#define MB 50

static void polyline(buf *b, const series *s, double x0, double x1, double y0, double y1,
                     const char *color, size_t max_points) {
  if (!s->n) return;
  bprintf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
  size_t per = s->n > max_points ? (s->n + max_points - 1) / max_points : 1;
  for (size_t i = 0; i < s->n; i += per) {
    double sx = 0, sy = 0;
    size_t k = 0;
    for (size_t j = i; j < i + per && j < s->n; j++, k++) {
      sx += s->v[j].step;
      sy += s->v[j].value;
    }
    double x = ML + (sx / k - x0) / (x1 - x0) * (W - ML - MR);
    double y = MT + (y1 - sy / k) / (y1 - y0) * (H - MT - MB);
    if (isfinite(x) && isfinite(y)) bprintf(b, "%.1f,%.1f ", x, y);
  }
  bprintf(b, "\"/>\n");
}

int tm_metrics_svg(tm_metrics *m, const char *title, tm_error *err) {
  double x0 = 0, x1 = 1, y0 = INFINITY, y1 = -INFINITY;
  const series *all[2] = {&m->train, &m->val};
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < all[k]->n; i++) {
      double v = all[k]->v[i].value;
      if (all[k]->v[i].step > x1) x1 = all[k]->v[i].step;
      if (isfinite(v)) {
        if (v < y0) y0 = v;
        if (v > y1) y1 = v;
      }
    }
  if (!(y0 < y1)) {
    y0 = isfinite(y0) ? y0 - 1 : 0;
    y1 = y0 + 2;
  }
  double pad = 0.05 * (y1 - y0);
  y0 -= pad;
  y1 += pad;
  if (y0 < 0 && y1 > 0) y0 = 0 > y0 ? y0 : 0;
  buf b = {0};
  bprintf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
              "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" "
              "height=\"100%%\" fill=\"white\"/>\n", W, H);
  bprintf(&b, "<text x=\"%d\" y=\"22\" font-size=\"15\">", ML);
  for (const char *t = title; *t; t++) {
    if (*t == '<') bprintf(&b, "&lt;");
    else if (*t == '&') bprintf(&b, "&amp;");
    else bprintf(&b, "%c", *t);
  }
  bprintf(&b, "</text>\n");
  for (int i = 0; i <= 5; i++) { /* grid and tick labels */
    double y = MT + i * (H - MT - MB) / 5.0, v = y1 - i * (y1 - y0) / 5.0;
    double x = ML + i * (W - ML - MR) / 5.0, s = x0 + i * (x1 - x0) / 5.0;
    bprintf(&b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n",
            ML, y, W - MR, y, ML - 6, y + 4, v);
    bprintf(&b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n",
            x, MT, x, H - MB, x, H - MB + 18, s);
  }
  bprintf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
              "stroke=\"black\"/>\n", ML, MT, W - ML - MR, H - MT - MB);
  bprintf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n", (W + ML) / 2, H - 12);
  bprintf(&b, "<text x=\"16\" y=\"%d\" transform=\"rotate(-90 16 %d)\" text-anchor=\"middle\">"
              "loss (nats/token)</text>\n", (H + MT) / 2, (H + MT) / 2);
  polyline(&b, &m->train, x0, x1, y0, y1, "#1f77b4", 1000);
  polyline(&b, &m->val, x0, x1, y0, y1, "#d62728", 1000);
  for (size_t i = 0; i < m->val.n && m->val.n <= 200; i++) {
    double x = ML + (m->val.v[i].step - x0) / (x1 - x0) * (W - ML - MR);
    double y = MT + (y1 - m->val.v[i].value) / (y1 - y0) * (H - MT - MB);
    if (isfinite(y)) bprintf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n", x, y);
  }
  bprintf(&b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#1f77b4\" "
              "stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">train</text>\n",
          W - 170, MT + 15, W - 145, MT + 15, W - 140, MT + 19);
  bprintf(&b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#d62728\" "
              "stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">validation</text>\n",
          W - 170, MT + 32, W - 145, MT + 32, W - 140, MT + 36);
  bprintf(&b, "</svg>\n");
  int rc = b.oom ? tm_err(err, TM_ENOMEM, "%s: out of memory", m->svg)
                 : tm_io_write_file_atomic(m->svg, b.p, b.n, "metrics", err);
  free(b.p);
  return rc;
}
