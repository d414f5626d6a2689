/* bench_clean.c - throughput of the clean stage, per core (one thread).
 *
 *   bench_clean [--english FILE]... [--chinese FILE [--chinese-field F --chinese-kind html|text]]
 *               [--html FILE [--html-field F]]... [--dump-html OUT.jsonl] [--reps N]
 *
 * Every input is read with the project's readers into memory first (not
 * timed). Then, single-threaded, the median of N repetitions of:
 *   english   plain English documents through every step of the web profile
 *             (and of the books profile), with the per-step time breakdown
 *   chinese   Chinese plain text (extracted from HTML beforehand when the
 *             input holds HTML) through the web profile
 *   html      HTML -> text (tm_html_to_text) against a bare gumbo parse of
 *             the same documents (the floor), and the whole web profile on HTML
 * MB/s counts input bytes. --dump-html writes the HTML documents as JSONL
 * {"html": ...} for the peers (peers.mjs) to read the very same input.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clean/clean.h"
#include "clean/html_text.h"
#include "readers/reader.h"

#ifdef TM_HAVE_MODEST
#include <myhtml/api.h>

/* A bare single-threaded parse with myhtml (libmodest), the same input. */
static double run_modest(const char **text, const size_t *len, size_t n, int reps, double (*clk)(void));
#endif

typedef struct {
  char **text;
  size_t *len;
  tm_doc_format *fmt;
  size_t n, cap, bytes;
} docset;

static void push(docset *s, const char *t, size_t n, tm_doc_format f) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 256;
    s->text = realloc(s->text, s->cap * sizeof *s->text);
    s->len = realloc(s->len, s->cap * sizeof *s->len);
    s->fmt = realloc(s->fmt, s->cap * sizeof *s->fmt);
  }
  s->text[s->n] = malloc(n + 1);
  memcpy(s->text[s->n], t, n);
  s->text[s->n][n] = 0;
  s->len[s->n] = n;
  s->fmt[s->n] = f;
  s->n++;
  s->bytes += n;
}

static void load(docset *s, const char *path, const char *field, tm_field_kind kind, int to_text) {
  tm_reader_options o;
  tm_reader_options_default(&o);
  if (field) o.text_field = field;
  o.field_kind = kind;
  tm_reader *r;
  tm_error err = {0};
  if (tm_reader_open(&r, path, &o, &err) < 0) {
    fprintf(stderr, "bench_clean: %s\n", err.msg);
    exit(1);
  }
  tm_document d;
  tm_document_init(&d);
  int rc;
  tm_textbuf tb = {0};
  while ((rc = tm_reader_next(r, &d, &err)) != 0) {
    if (rc < 0) continue;
    if (to_text && d.format == TM_DOC_HTML) {
      tb.len = 0;
      tm_html_to_text(d.text, d.len, &tb, NULL);
      push(s, tb.p, tb.len, TM_DOC_TEXT);
    } else {
      push(s, d.text, d.len, d.format);
    }
  }
  tm_tb_free(&tb);
  tm_document_free(&d);
  tm_reader_close(r);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* per core: CPU time, not wall (a shared machine) */
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return v[n / 2];
}

/* The whole stage over a set; returns the median seconds; prints steps. */
static double run_stage(const char *label, const docset *s, const char *profile, int reps) {
  tm_clean_params p;
  tm_error err = {0};
  tm_clean_params_preset(&p, profile, &err);
  double t[16];
  tm_clean_stats last;
  memset(&last, 0, sizeof last);
  for (int k = 0; k < reps; k++) {
    tm_clean *c;
    tm_clean_new(&c, &p, &err);
    tm_clean_set_timing(c, 1);
    tm_document d;
    tm_document_init(&d);
    double t0 = now();
    for (size_t i = 0; i < s->n; i++) {
      tm_document_reset(&d);
      tm_document_set_id(&d, "b");
      tm_document_set_text(&d, s->text[i], s->len[i]);
      d.format = s->fmt[i];
      tm_clean_result r;
      tm_clean_doc(c, &d, &r, NULL, &err);
    }
    t[k] = now() - t0;
    last = *tm_clean_get_stats(c);
    tm_document_free(&d);
    tm_clean_free(c);
  }
  double sec = median(t, reps);
  double mb = (double)s->bytes / 1e6;
  printf("%-8s profile=%-6s docs=%zu MB=%.2f  %.1f MB/s per core  (kept %llu, dropped %llu)\n",
         label, profile, s->n, mb, mb / sec, (unsigned long long)last.docs_kept,
         (unsigned long long)last.docs_dropped);
  uint64_t total = 0;
  for (int i = 0; i < TM_STEP_COUNT; i++) total += last.step_ns[i];
  printf("         steps:");
  for (int i = 0; i < TM_STEP_COUNT; i++)
    if (last.step_ns[i])
      printf(" %s %.0f%%", tm_clean_step_names[i], 100.0 * (double)last.step_ns[i] / (double)total);
  printf("\n");
  return sec;
}

/* HTML -> text with a parser object (or a bare parse), median seconds. */
static double run_html(const docset *s, tm_html_backend backend, int parse_only, int reps) {
  double t[16];
  tm_textbuf tb = {0};
  tm_html_parser *p = NULL;
  if (!parse_only && tm_html_parser_new(&p, backend) < 0) return -1;
  for (int k = 0; k < reps; k++) {
    double t0 = now();
    for (size_t i = 0; i < s->n; i++) {
      if (parse_only) {
        tm_html_parse_only(s->text[i], s->len[i]);
      } else {
        tb.len = 0;
        tm_html_extract(p, s->text[i], s->len[i], &tb, NULL);
      }
    }
    t[k] = now() - t0;
  }
  tm_html_parser_free(p);
  tm_tb_free(&tb);
  return median(t, reps);
}

#ifdef TM_HAVE_MODEST
static double run_modest(const char **text, const size_t *len, size_t n, int reps, double (*clk)(void)) {
  myhtml_t *h = myhtml_create();
  myhtml_init(h, MyHTML_OPTIONS_PARSE_MODE_SINGLE, 1, 0);
  myhtml_tree_t *tree = myhtml_tree_create();
  myhtml_tree_init(tree, h);
  double t[16];
  for (int k = 0; k < reps; k++) {
    double t0 = clk();
    for (size_t i = 0; i < n; i++) myhtml_parse(tree, MyENCODING_UTF_8, text[i], len[i]);
    t[k] = clk() - t0;
  }
  myhtml_tree_destroy(tree);
  myhtml_destroy(h);
  return median(t, reps);
}
#endif

int main(int argc, char **argv) {
  docset en = {0}, zh = {0}, html = {0};
  const char *dump = NULL, *zh_field = NULL, *html_field = "html";
  tm_field_kind zh_kind = TM_FIELD_TEXT;
  int reps = 3;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) break;
    i++;
    if (!strcmp(a, "--english")) load(&en, v, NULL, TM_FIELD_TEXT, 0);
    else if (!strcmp(a, "--chinese-field")) zh_field = v;
    else if (!strcmp(a, "--chinese-kind")) zh_kind = !strcmp(v, "html") ? TM_FIELD_HTML : TM_FIELD_TEXT;
    else if (!strcmp(a, "--chinese")) load(&zh, v, zh_field, zh_kind, 1);
    else if (!strcmp(a, "--html-field")) html_field = v;
    else if (!strcmp(a, "--html")) load(&html, v, html_field, TM_FIELD_HTML, 0);
    else if (!strcmp(a, "--dump-html")) dump = v;
    else if (!strcmp(a, "--reps")) reps = atoi(v) > 0 && atoi(v) <= 15 ? atoi(v) : 3;
    else {
      fprintf(stderr, "bench_clean: unknown option %s\n", a);
      return 2;
    }
  }
  if (en.n) {
    run_stage("english", &en, "web", reps);
    run_stage("english", &en, "books", reps);
  }
  if (zh.n) run_stage("chinese", &zh, "web", reps);
  if (html.n) {
    double mb = (double)html.bytes / 1e6;
    double parse = run_html(&html, TM_HTML_GUMBO, 1, reps), extract = run_html(&html, TM_HTML_GUMBO, 0, reps);
    printf("html     docs=%zu MB=%.2f  gumbo: bare parse %.1f MB/s, html->text %.1f MB/s "
           "(extract/parse time %.2fx)\n",
           html.n, mb, mb / parse, mb / extract, extract / parse);
    double stage_x = extract;
#ifdef TM_HAVE_MODEST
    double mod = run_modest((const char **)html.text, html.len, html.n, reps, now);
    double mx = run_html(&html, TM_HTML_MYHTML, 0, reps);
    printf("html     myhtml: bare parse %.1f MB/s, html->text %.1f MB/s (extract/parse time %.2fx; "
           "parse %.2fx gumbo's)\n",
           mb / mod, mb / mx, mx / mod, parse / mod);
    stage_x = mx;
#endif
    printf("html     html->text (stage parser %s) %.1f MB/s per core\n",
           tm_html_have_myhtml() ? "myhtml" : "gumbo", mb / stage_x);
    run_stage("html", &html, "web", reps);
    if (dump) {
      FILE *f = fopen(dump, "w");
      for (size_t i = 0; f && i < html.n; i++) {
        json_t *j = json_pack("{s:s%}", "html", html.text[i], html.len[i]);
        char *s = json_dumps(j, JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(j);
      }
      if (f) fclose(f);
    }
  }
  return 0;
}
