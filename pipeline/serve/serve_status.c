/* serve_status.c - what the daemon tells about itself: /status (JSON),
 * /metrics (Prometheus text format 0.0.4), the per-second history behind the
 * status page's charts, and the page itself (inline HTML + canvas drawing,
 * no external assets). */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "serve_daemon.h"
#include "clock.h"

void tm_serve_status_sample(tm_serve_daemon *d) {
  tm_serve_pipe_state st;
  tm_serve_pipe_get_state(d->pipe, &st);
  size_t cap = d->history_len ? d->history_len : 600;
  if (cap > TM_SERVE_HISTORY_MAX) cap = TM_SERVE_HISTORY_MAX;
  tm_serve_sample s = {.t = tm_now_s() - d->start,
                       .docs_in = st.c.docs_in,
                       .bytes_in = st.c.bytes_in,
                       .kept = st.c.kept,
                       .dropped = st.c.dropped,
                       .dups = st.c.exact_dups + st.c.near_dups,
                       .tokens = st.c.tokens,
                       .queued_bytes = st.queued_bytes};
  size_t idx = (d->hist_head + d->hist_n) % TM_SERVE_HISTORY_MAX;
  d->hist[idx] = s;
  if (d->hist_n < cap) d->hist_n++;
  else d->hist_head = (d->hist_head + 1) % TM_SERVE_HISTORY_MAX;
}

static const tm_serve_sample *hist_at(const tm_serve_daemon *d, size_t i) {
  return &d->hist[(d->hist_head + i) % TM_SERVE_HISTORY_MAX];
}

/* Input MB/s over the last (up to) 10 seconds of history. */
static double recent_mb_per_s(const tm_serve_daemon *d) {
  if (d->hist_n < 2) return 0;
  const tm_serve_sample *b = hist_at(d, d->hist_n - 1);
  size_t back = d->hist_n - 1 < 10 ? d->hist_n - 1 : 10;
  const tm_serve_sample *a = hist_at(d, d->hist_n - 1 - back);
  double dt = b->t - a->t;
  return dt > 0 ? (double)(b->bytes_in - a->bytes_in) / 1e6 / dt : 0;
}

static double lat_quantile(const tm_serve_daemon *d, double q) {
  if (!d->lat_count) return 0;
  uint64_t want = (uint64_t)((double)d->lat_count * q + 0.5), acc = 0;
  if (want < 1) want = 1;
  for (int b = 0; b <= TM_SERVE_LAT_BUCKETS; b++) {
    acc += d->lat_buckets[b];
    if (acc >= want) return 0.001 * (double)(1u << (b < TM_SERVE_LAT_BUCKETS ? b : TM_SERVE_LAT_BUCKETS));
  }
  return 0.001 * (double)(1u << TM_SERVE_LAT_BUCKETS);
}

static void set_u(json_t *o, const char *k, uint64_t v) { json_object_set_new(o, k, json_integer((json_int_t)v)); }

static json_t *cursor_json(const tm_ring_cursor *c) {
  json_t *o = json_object();
  set_u(o, "seed", c->seed);
  set_u(o, "pass", c->pass);
  set_u(o, "generation", c->generation);
  set_u(o, "window", c->window);
  return o;
}

/* One ring and rank of a feeder, as the trainer's side of it looks. */
static json_t *ring_view_json(const tm_serve_ring_view *v) {
  json_t *o = json_object();
  json_object_set_new(o, "rank", json_integer(v->rank));
  if (!v->ok) {
    json_object_set_new(o, "error", json_string(v->error));
    return o;
  }
  const tm_ring_peek_info *p = &v->info;
  set_u(o, "published_batches", p->published);
  set_u(o, "consumed_batches", p->consumed);
  set_u(o, "lag_batches", p->published - p->consumed);
  json_object_set_new(o, "consumer", json_string(tm_ring_side_name(p->consumer)));
  json_object_set_new(o, "consumer_alive", json_boolean(p->consumer == TM_RING_SIDE_ALIVE));
  set_u(o, "consumer_pid", p->consumer_pid);
  if (p->consumer_heartbeat_age_s >= 0)
    json_object_set_new(o, "consumer_heartbeat_age_s", json_real(p->consumer_heartbeat_age_s));
  json_object_set_new(o, "producer", json_string(tm_ring_side_name(p->producer)));
  json_object_set_new(o, "finished", json_boolean(p->finished));
  /* the data cursor of the last batch the trainer released, and the one it
   * resumed from (its checkpoint's) */
  json_object_set_new(o, "cursor", p->consumed_valid ? cursor_json(&p->consumed_cursor) : json_null());
  json_object_set_new(o, "resume_cursor", p->resume_valid ? cursor_json(&p->resume_cursor) : json_null());
  return o;
}

char *tm_serve_status_json(tm_serve_daemon *d, size_t *len) {
  tm_serve_pipe_state st;
  tm_serve_pipe_get_state(d->pipe, &st);
  json_t *j = json_object();
  json_object_set_new(j, "uptime_s", json_real(tm_now_s() - d->start));
  json_object_set_new(j, "draining", json_boolean(d->draining));
  json_object_set_new(j, "failed", json_boolean(st.failed));
  if (st.failed) json_object_set_new(j, "error", json_string(st.error));
  json_t *c = json_object();
  set_u(c, "documents_in", st.c.docs_in);
  set_u(c, "bytes_in", st.c.bytes_in);
  set_u(c, "kept", st.c.kept);
  set_u(c, "bytes_kept", st.c.bytes_kept);
  set_u(c, "dropped", st.c.dropped);
  set_u(c, "exact_duplicates", st.c.exact_dups);
  set_u(c, "near_duplicates", st.c.near_dups);
  set_u(c, "rejected_records", st.c.rejected);
  set_u(c, "tokens", st.c.tokens);
  set_u(c, "inputs_done", st.c.inputs_done);
  set_u(c, "inputs_failed", st.c.inputs_failed);
  json_object_set_new(j, "counters", c);
  json_t *dr = json_object();
  for (int i = 0; i < st.c.n_rules; i++) set_u(dr, st.c.rules[i].rule, st.c.rules[i].docs);
  json_object_set_new(j, "drops", dr);
  json_t *q = json_object();
  set_u(q, "inputs", st.queued_inputs);
  set_u(q, "bytes", st.queued_bytes);
  set_u(q, "batches_in_flight", st.batches_in_flight);
  set_u(q, "buffered_request_bytes", d->buffered_bytes);
  set_u(q, "limit_bytes", d->lim.queue_bytes);
  json_object_set_new(j, "queue", q);
  json_t *sh = json_object();
  set_u(sh, "count", st.shards);
  set_u(sh, "generation", st.generation);
  set_u(sh, "tokens", st.manifest_tokens);
  set_u(sh, "open_documents", st.open_shard_docs);
  set_u(sh, "committed_next_input", st.committed_next);
  json_object_set_new(j, "shards", sh);
  json_t *ix = json_object();
  set_u(ix, "ram_bytes", st.index_ram);
  set_u(ix, "disk_bytes", st.index_disk);
  json_object_set_new(j, "dedup_index", ix);
  json_t *in = json_object();
  set_u(in, "batches", d->ingest_batches);
  set_u(in, "documents", d->ingest_docs);
  set_u(in, "bytes", d->ingest_bytes);
  set_u(in, "spool_files", d->spool_claimed);
  json_object_set_new(in, "mb_per_s", json_real(recent_mb_per_s(d)));
  json_object_set_new(in, "ack_latency_avg_s", json_real(d->lat_count ? d->lat_sum / (double)d->lat_count : 0));
  json_object_set_new(in, "ack_latency_p99_s", json_real(lat_quantile(d, 0.99)));
  set_u(in, "backpressure_pauses", d->backpressure_pauses);
  json_object_set_new(j, "ingest", in);
  json_t *rf = json_object();
  set_u(rf, "malformed", d->refused_malformed);
  set_u(rf, "too_large", d->refused_too_large);
  set_u(rf, "unauthorized", d->refused_auth);
  set_u(rf, "timeout", d->refused_timeout);
  set_u(rf, "too_many_connections", d->refused_conns);
  set_u(rf, "other", d->refused_other);
  json_object_set_new(j, "refused", rf);
  json_t *cn = json_object();
  set_u(cn, "ingest", (uint64_t)d->n_conns[TM_ROLE_INGEST]);
  set_u(cn, "admin", (uint64_t)d->n_conns[TM_ROLE_ADMIN]);
  json_object_set_new(j, "connections", cn);
  tm_serve_feeder_state fs[TM_SERVE_MAX_FEEDERS];
  int nf = tm_serve_feeders_get(d->feeders, fs, TM_SERVE_MAX_FEEDERS);
  tm_serve_ring_view rv[TM_SERVE_MAX_FEEDERS];
  int nr = tm_serve_feeders_peek(d->feeders, rv, TM_SERVE_MAX_FEEDERS);
  json_t *fa = json_array();
  for (int i = 0; i < nf; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "ring", json_string(fs[i].ring));
    json_object_set_new(o, "running", json_boolean(fs[i].running));
    json_object_set_new(o, "failed", json_boolean(fs[i].failed));
    if (fs[i].failed) json_object_set_new(o, "error", json_string(fs[i].error));
    json_t *ra = json_array();
    for (int k = 0; k < nr; k++)
      if (!strcmp(rv[k].ring, fs[i].ring)) json_array_append_new(ra, ring_view_json(&rv[k]));
    json_object_set_new(o, "ranks", ra);
    json_array_append_new(fa, o);
  }
  json_object_set_new(j, "feeders", fa);
  json_t *h = json_object(), *ht = json_array(), *hd = json_array(), *hb = json_array(), *hk = json_array(),
         *hx = json_array(), *hu = json_array();
  for (size_t i = 0; i < d->hist_n; i++) {
    const tm_serve_sample *s = hist_at(d, i);
    json_array_append_new(ht, json_real(s->t));
    json_array_append_new(hd, json_integer((json_int_t)s->docs_in));
    json_array_append_new(hb, json_integer((json_int_t)s->bytes_in));
    json_array_append_new(hk, json_integer((json_int_t)s->kept));
    json_array_append_new(hx, json_integer((json_int_t)s->dropped));
    json_array_append_new(hu, json_integer((json_int_t)s->dups));
  }
  json_object_set_new(h, "t", ht);
  json_object_set_new(h, "docs_in", hd);
  json_object_set_new(h, "bytes_in", hb);
  json_object_set_new(h, "kept", hk);
  json_object_set_new(h, "dropped", hx);
  json_object_set_new(h, "dups", hu);
  json_object_set_new(j, "history", h);
  char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  *len = s ? strlen(s) : 0;
  return s;
}

/* ---- Prometheus text ------------------------------------------------------------------ */

typedef struct {
  char *s;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < b->cap - b->n) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = (b->cap + (size_t)k + 1) * 2;
    char *ns = realloc(b->s, cap);
    if (!ns) {
      b->oom = 1;
      return;
    }
    b->s = ns;
    b->cap = cap;
  }
}

static void metric(sbuf *b, const char *name, const char *type, const char *help, double v) {
  sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

/* Per ring and rank: the feeder's and the trainer's positions (a peek at
 * the ring header), one metric family at a time as the format wants. */
static void feed_metrics(sbuf *b, const tm_serve_ring_view *rv, int nr) {
  static const struct {
    const char *name, *type, *help;
  } fam[] = {
      {"tokenmill_feed_ring_readable", "gauge", "1 when the ring's header could be read (0: not created yet, or foreign)."},
      {"tokenmill_feed_published_batches", "counter", "Batches the live feeder published into the ring."},
      {"tokenmill_feed_consumed_batches", "counter", "Batches the trainer consumed (released) from the ring."},
      {"tokenmill_feed_lag_batches", "gauge", "Published minus consumed batches."},
      {"tokenmill_feed_consumer_alive", "gauge", "1 while the trainer attached to the ring lives and beats."},
      {"tokenmill_feed_consumer_heartbeat_age_seconds", "gauge", "Age of the trainer's heartbeat."},
      {"tokenmill_feed_cursor_pass", "gauge", "Data cursor of the last consumed batch: pass."},
      {"tokenmill_feed_cursor_generation", "gauge", "Data cursor of the last consumed batch: manifest generation."},
      {"tokenmill_feed_cursor_window", "gauge", "Data cursor of the last consumed batch: global window to continue from."},
  };
  if (!nr) return;
  for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name, fam[f].type);
    for (int k = 0; k < nr; k++) {
      const tm_serve_ring_view *v = &rv[k];
      const tm_ring_peek_info *p = &v->info;
      double val;
      switch (f) {
      case 0: val = v->ok; break;
      case 1: val = (double)p->published; break;
      case 2: val = (double)p->consumed; break;
      case 3: val = (double)(p->published - p->consumed); break;
      case 4: val = p->consumer == TM_RING_SIDE_ALIVE; break;
      case 5: val = p->consumer_heartbeat_age_s; break;
      case 6: val = (double)p->consumed_cursor.pass; break;
      case 7: val = (double)p->consumed_cursor.generation; break;
      default: val = (double)p->consumed_cursor.window; break;
      }
      if (f > 0 && !v->ok) continue;
      if (f == 5 && val < 0) continue;
      if (f >= 6 && !p->consumed_valid) continue;
      sb_printf(b, "%s{ring=\"%s\",rank=\"%u\"} %.17g\n", fam[f].name, v->ring, v->rank, val);
    }
  }
}

char *tm_serve_metrics_text(tm_serve_daemon *d, size_t *len) {
  tm_serve_pipe_state st;
  tm_serve_pipe_get_state(d->pipe, &st);
  sbuf b = {.s = malloc(8192), .cap = 8192};
  if (!b.s) return NULL;
  b.s[0] = 0;
  metric(&b, "tokenmill_documents_in_total", "counter", "Documents read from all inputs (committed).", (double)st.c.docs_in);
  metric(&b, "tokenmill_bytes_in_total", "counter", "Document bytes read (decompressed input).", (double)st.c.bytes_in);
  metric(&b, "tokenmill_documents_kept_total", "counter", "Documents written to shards.", (double)st.c.kept);
  sb_printf(&b, "# HELP tokenmill_documents_dropped_total Documents dropped by a clean rule.\n"
                "# TYPE tokenmill_documents_dropped_total counter\n");
  for (int i = 0; i < st.c.n_rules; i++)
    sb_printf(&b, "tokenmill_documents_dropped_total{rule=\"%s\"} %" PRIu64 "\n", st.c.rules[i].rule, st.c.rules[i].docs);
  sb_printf(&b, "# HELP tokenmill_duplicates_total Documents removed as duplicates.\n"
                "# TYPE tokenmill_duplicates_total counter\n"
                "tokenmill_duplicates_total{kind=\"exact\"} %" PRIu64 "\ntokenmill_duplicates_total{kind=\"near\"} %" PRIu64 "\n",
            st.c.exact_dups, st.c.near_dups);
  metric(&b, "tokenmill_rejected_records_total", "counter", "Unreadable input records (quarantined).", (double)st.c.rejected);
  metric(&b, "tokenmill_tokens_out_total", "counter", "Tokens written to shards (end-of-text included).", (double)st.c.tokens);
  metric(&b, "tokenmill_inputs_done_total", "counter", "Inputs (spool files, socket batches) fully committed.", (double)st.c.inputs_done);
  metric(&b, "tokenmill_inputs_failed_total", "counter", "Spool files that could not be read (moved to failed/).", (double)st.c.inputs_failed);
  metric(&b, "tokenmill_queue_inputs", "gauge", "Inputs accepted and not yet read.", (double)st.queued_inputs);
  metric(&b, "tokenmill_queue_bytes", "gauge", "Bytes of inputs accepted and not yet read.", (double)st.queued_bytes);
  metric(&b, "tokenmill_batches_in_flight", "gauge", "Batches read and not yet committed.", (double)st.batches_in_flight);
  metric(&b, "tokenmill_buffered_request_bytes", "gauge", "Request bodies held in memory.", (double)d->buffered_bytes);
  metric(&b, "tokenmill_ingest_mb_per_second", "gauge", "Input MB/s over the last 10 seconds.", recent_mb_per_s(d));
  metric(&b, "tokenmill_shards", "gauge", "Sealed shards listed in the manifest.", (double)st.shards);
  metric(&b, "tokenmill_manifest_generation", "gauge", "Generation of the published manifest.", (double)st.generation);
  metric(&b, "tokenmill_open_shard_documents", "gauge", "Documents in the shard being written.", (double)st.open_shard_docs);
  metric(&b, "tokenmill_dedup_index_ram_bytes", "gauge", "RAM of the dedup index.", (double)st.index_ram);
  metric(&b, "tokenmill_dedup_index_disk_bytes", "gauge", "Disk size of the dedup index.", (double)st.index_disk);
  metric(&b, "tokenmill_ingest_batches_total", "counter", "Socket batches acknowledged.", (double)d->ingest_batches);
  metric(&b, "tokenmill_spool_files_total", "counter", "Spool files claimed.", (double)d->spool_claimed);
  sb_printf(&b, "# HELP tokenmill_http_refused_total Requests refused, by reason.\n# TYPE tokenmill_http_refused_total counter\n"
                "tokenmill_http_refused_total{reason=\"malformed\"} %" PRIu64 "\n"
                "tokenmill_http_refused_total{reason=\"too_large\"} %" PRIu64 "\n"
                "tokenmill_http_refused_total{reason=\"unauthorized\"} %" PRIu64 "\n"
                "tokenmill_http_refused_total{reason=\"timeout\"} %" PRIu64 "\n"
                "tokenmill_http_refused_total{reason=\"connections\"} %" PRIu64 "\n"
                "tokenmill_http_refused_total{reason=\"other\"} %" PRIu64 "\n",
            d->refused_malformed, d->refused_too_large, d->refused_auth, d->refused_timeout, d->refused_conns, d->refused_other);
  metric(&b, "tokenmill_backpressure_pauses_total", "counter", "Times a connection stopped being read (queue full).",
         (double)d->backpressure_pauses);
  sb_printf(&b, "# HELP tokenmill_connections Open connections by role.\n# TYPE tokenmill_connections gauge\n"
                "tokenmill_connections{role=\"ingest\"} %d\ntokenmill_connections{role=\"admin\"} %d\n",
            d->n_conns[TM_ROLE_INGEST], d->n_conns[TM_ROLE_ADMIN]);
  sb_printf(&b, "# HELP tokenmill_ack_latency_seconds From a batch's last byte to its acknowledgement.\n"
                "# TYPE tokenmill_ack_latency_seconds histogram\n");
  uint64_t acc = 0;
  for (int i = 0; i < TM_SERVE_LAT_BUCKETS; i++) {
    acc += d->lat_buckets[i];
    sb_printf(&b, "tokenmill_ack_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", 0.001 * (double)(1u << i), acc);
  }
  sb_printf(&b, "tokenmill_ack_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\ntokenmill_ack_latency_seconds_sum %.6f\n"
                "tokenmill_ack_latency_seconds_count %" PRIu64 "\n",
            d->lat_count, d->lat_sum, d->lat_count);
  tm_serve_feeder_state fs[TM_SERVE_MAX_FEEDERS];
  int nf = tm_serve_feeders_get(d->feeders, fs, TM_SERVE_MAX_FEEDERS);
  if (nf) sb_printf(&b, "# HELP tokenmill_feeder_running 1 while the live feeder of a ring runs.\n# TYPE tokenmill_feeder_running gauge\n");
  for (int i = 0; i < nf; i++) sb_printf(&b, "tokenmill_feeder_running{ring=\"%s\"} %d\n", fs[i].ring, fs[i].running);
  tm_serve_ring_view rv[TM_SERVE_MAX_FEEDERS];
  int nr = tm_serve_feeders_peek(d->feeders, rv, TM_SERVE_MAX_FEEDERS);
  feed_metrics(&b, rv, nr);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  metric(&b, "tokenmill_peak_rss_bytes", "gauge", "Peak resident memory.", (double)ru.ru_maxrss * 1024.0);
  metric(&b, "tokenmill_config_reloads_total", "counter", "SIGHUP reloads applied.", (double)d->reloads);
  metric(&b, "tokenmill_uptime_seconds", "gauge", "Seconds since the daemon started.", tm_now_s() - d->start);
  metric(&b, "tokenmill_up", "gauge", "1 while the pipeline is healthy.", st.failed ? 0 : 1);
  if (b.oom) {
    free(b.s);
    return NULL;
  }
  *len = b.n;
  return b.s;
}

/* ---- the status page -------------------------------------------------------------------- */

/* The page, in parts (C limits the length of one string literal). */
static const char *const page_parts[] = {
"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>tokenmill serve</title>\n"
    "<style>body{font:14px sans-serif;margin:16px;background:#fafafa;color:#222}"
    "h1{font-size:18px;margin:0 0 8px}.row{display:flex;flex-wrap:wrap;gap:12px}"
    ".card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}"
    "canvas{display:block}table{border-collapse:collapse}td{padding:2px 10px 2px 0}"
    ".k{color:#666}#err{color:#b00}</style></head>\n"
    "<body><h1>tokenmill serve</h1><div id=\"err\"></div>\n"
    "<div class=\"row\"><div class=\"card\"><b>Ingest rate (MB/s, docs/s)</b><canvas id=\"rate\" width=\"520\" height=\"220\"></canvas></div>\n"
    "<div class=\"card\"><b>Drop reasons (documents)</b><canvas id=\"drops\" width=\"520\" height=\"220\"></canvas></div>\n"
    "<div class=\"card\"><b>Duplicate and drop rate (% of documents, per second)</b><canvas id=\"dups\" width=\"520\" height=\"220\"></canvas></div>\n"
    "<div class=\"card\"><b>Now</b><table id=\"now\"></table></div>\n"
    "<div class=\"card\"><b>Feeders (trainers on live rings)</b><table id=\"feeders\"></table></div></div>\n"
    "<script>\n"
    "'use strict';\n"
    "function axes(g,w,h,ymax,label){g.clearRect(0,0,w,h);g.strokeStyle='#999';g.beginPath();g.moveTo(40,10);g.lineTo(40,h-20);"
    "g.lineTo(w-5,h-20);g.stroke();g.fillStyle='#444';g.font='11px sans-serif';g.fillText(ymax.toPrecision(3),2,14);"
    "g.fillText('0',28,h-22);g.textAlign='right';g.fillText(label,w-5,h-5);g.textAlign='left';}\n"
    "function line(g,w,h,xs,ys,ymax,color){if(xs.length<2)return 0;var x0=xs[0],x1=xs[xs.length-1];if(x1<=x0)x1=x0+1;"
    "g.strokeStyle=color;g.lineWidth=2;g.beginPath();for(var i=0;i<xs.length;i++){var x=40+(w-45)*(xs[i]-x0)/(x1-x0);"
    "var y=(h-20)-(h-30)*(ys[i]/ymax);if(i)g.lineTo(x,y);else g.moveTo(x,y);}g.stroke();g.lineWidth=1;return xs.length;}\n"
    "function rates(h,key){var xs=[],ys=[];for(var i=1;i<h.t.length;i++){var dt=h.t[i]-h.t[i-1];if(dt<=0)continue;"
    "xs.push(h.t[i]);ys.push((h[key][i]-h[key][i-1])/dt);}return [xs,ys];}\n"
    "function draw(s){var h=s.history,c,g,n=0;\n"
    " c=document.getElementById('rate');g=c.getContext('2d');var mb=rates(h,'bytes_in'),dc=rates(h,'docs_in');"
    " mb[1]=mb[1].map(function(v){return v/1e6;});var m1=Math.max.apply(null,[1e-9].concat(mb[1])),m2=Math.max.apply(null,[1e-9].concat(dc[1]));"
    " axes(g,c.width,c.height,m1,'MB/s (blue, left scale); docs/s (orange, peak '+m2.toFixed(0)+')');n=line(g,c.width,c.height,mb[0],mb[1],m1*1.05,'#1f6fd0');"
    " line(g,c.width,c.height,dc[0],dc[1],m2*1.05,'#e07b00');c.dataset.points=n;\n"
    " c=document.getElementById('drops');g=c.getContext('2d');g.clearRect(0,0,c.width,c.height);var ks=Object.keys(s.drops);"
    " ks.sort(function(a,b){return s.drops[b]-s.drops[a];});ks=ks.slice(0,9);var dm=1;ks.forEach(function(k){dm=Math.max(dm,s.drops[k]);});"
    " var dup=s.counters.exact_duplicates+s.counters.near_duplicates;var bars=ks.map(function(k){return [k,s.drops[k]];});"
    " if(dup){bars.push(['duplicates',dup]);dm=Math.max(dm,dup);}g.font='11px sans-serif';",
    " bars.forEach(function(b,i){var y=8+i*21,bw=(c.width-230)*b[1]/dm;g.fillStyle=b[0]=='duplicates'?'#8a4fd0':'#d04f4f';"
    " g.fillRect(190,y,Math.max(1,bw),15);g.fillStyle='#333';g.fillText(b[0].slice(0,30),2,y+12);g.fillText(String(b[1]),195+bw,y+12);});"
    " c.dataset.points=bars.length;\n"
    " c=document.getElementById('dups');g=c.getContext('2d');var xs=[],ys=[],zs=[];for(var i=1;i<h.t.length;i++){var dd=h.docs_in[i]-h.docs_in[i-1];"
    " xs.push(h.t[i]);ys.push(dd>0?100*(h.dups[i]-h.dups[i-1])/dd:0);zs.push(dd>0?100*(h.dropped[i]-h.dropped[i-1])/dd:0);}"
    " var m3=Math.max.apply(null,[1].concat(ys,zs));"
    " axes(g,c.width,c.height,m3,'% duplicates (purple), % dropped by rules (red)');line(g,c.width,c.height,xs,zs,m3*1.05,'#d04f4f');"
    " c.dataset.points=line(g,c.width,c.height,xs,ys,m3*1.05,'#8a4fd0');\n"
    " var rows=[['uptime',s.uptime_s.toFixed(0)+' s'],['documents in',s.counters.documents_in],['kept',s.counters.kept],"
    " ['dropped',s.counters.dropped],['duplicates',dup],['tokens',s.counters.tokens],['shards',s.shards.count],"
    " ['queue',s.queue.inputs+' inputs, '+(s.queue.bytes/1e6).toFixed(1)+' MB'],['MB/s (10 s)',s.ingest.mb_per_s.toFixed(2)],"
    " ['ack p99',(1000*s.ingest.ack_latency_p99_s).toFixed(0)+' ms'],['dedup index',(s.dedup_index.ram_bytes/1e6).toFixed(1)+' MB RAM']];"
    " document.getElementById('now').innerHTML=rows.map(function(r){return '<tr><td class=k>'+r[0]+'</td><td>'+r[1]+'</td></tr>';}).join('');\n"
    " var fr=[['ring/rank','published','consumed','lag','trainer','cursor (pass/window)']];(s.feeders||[]).forEach(function(f){"
    " (f.ranks||[]).forEach(function(r){fr.push(r.error?[f.ring+'/'+r.rank,'-','-','-',r.error.slice(0,40),'-']:[f.ring+'/'+r.rank,"
    " r.published_batches,r.consumed_batches,r.lag_batches,r.consumer+(r.consumer_pid?' (pid '+r.consumer_pid+')':''),"
    " r.cursor?(r.cursor.pass+'/'+r.cursor.window):'-']);});});if(fr.length==1)fr.push(['no [feed] rings','','','','','']);"
    " var ft=document.getElementById('feeders');ft.innerHTML=fr.map(function(r,i){return '<tr>'+r.map(function(v){"
    " return (i?'<td>':'<td class=k>')+String(v).replace(/[&<>]/g,'')+'</td>';}).join('')+'</tr>';}).join('');ft.dataset.rows=fr.length-1;\n"
    " document.body.dataset.samples=h.t.length;document.body.dataset.drawn='1';}\n"
    "function poll(){fetch('/status').then(function(r){return r.json();}).then(function(s){draw(s);"
    "document.getElementById('err').textContent=s.failed?('pipeline failed: '+s.error):'';})"
    ".catch(function(e){document.getElementById('err').textContent='status unavailable: '+e;});}\n"
    "poll();setInterval(poll,2000);\n"
    "</script></body></html>\n",
};

const char *tm_serve_page_html(size_t *len) {
  static char *page;
  static size_t n;
  if (!page) { /* the loop thread only */
    size_t total = 0;
    for (size_t i = 0; i < sizeof page_parts / sizeof page_parts[0]; i++) total += strlen(page_parts[i]);
    page = malloc(total + 1);
    if (!page) return NULL;
    for (size_t i = 0; i < sizeof page_parts / sizeof page_parts[0]; i++) {
      size_t k = strlen(page_parts[i]);
      memcpy(page + n, page_parts[i], k);
      n += k;
    }
    page[n] = 0;
  }
  *len = n;
  return page;
}
