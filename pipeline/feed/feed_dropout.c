/* feed_dropout.c - see feed_dropout.h. */
#include "feed_dropout.h"

#include <stdlib.h>
#include <string.h>

#include "feed_perm.h"
#include "tokenizer.h"

struct tm_feed_dropout {
  tm_tokenizer *tok;
  tm_encoder *enc;
  double p;
  uint32_t eot;
  uint32_t *in;
  size_t in_cap;
  uint8_t *text;
  size_t text_len, text_cap;
  tm_ids out;
};

int tm_feed_dropout_open(tm_feed_dropout **out, const char *path, double p, uint64_t expect_hash,
                         uint32_t eot_id, tm_error *err) {
  *out = NULL;
  if (!(p > 0 && p < 1)) return tm_err(err, TM_EINVAL, "dropout %g not in (0, 1)", p);
  tm_feed_dropout *d = calloc(1, sizeof *d);
  if (!d) return tm_err(err, TM_ENOMEM, "out of memory");
  int rc = tm_tokenizer_load(&d->tok, path, err);
  if (rc < 0) {
    free(d);
    return rc;
  }
  if (tm_tokenizer_hash(d->tok) != expect_hash) {
    rc = tm_err(err, TM_EINVAL,
                "%s: tokenizer hash %016llx is not the shards' tokenizer (%016llx)", path,
                (unsigned long long)tm_tokenizer_hash(d->tok), (unsigned long long)expect_hash);
    tm_feed_dropout_free(d);
    return rc;
  }
  d->enc = tm_encoder_new(d->tok);
  if (!d->enc) {
    tm_feed_dropout_free(d);
    return tm_err(err, TM_ENOMEM, "out of memory");
  }
  d->p = p;
  d->eot = eot_id;
  *out = d;
  return 0;
}

void tm_feed_dropout_free(tm_feed_dropout *d) {
  if (!d) return;
  tm_encoder_free(d->enc);
  tm_tokenizer_free(d->tok);
  free(d->in);
  free(d->text);
  tm_ids_free(&d->out);
  free(d);
}

static uint32_t get_tok(const void *w, size_t i, unsigned width) {
  if (width == 2) {
    uint16_t v;
    memcpy(&v, (const char *)w + 2 * i, 2);
    return v;
  }
  uint32_t v;
  memcpy(&v, (const char *)w + 4 * i, 4);
  return v;
}

int tm_feed_dropout_apply(tm_feed_dropout *d, void *window, size_t n, unsigned width,
                          uint64_t key, tm_error *err) {
  if (n > d->in_cap) {
    uint32_t *ni = realloc(d->in, n * sizeof *ni);
    if (!ni) return tm_err(err, TM_ENOMEM, "out of memory");
    d->in = ni;
    d->in_cap = n;
  }
  for (size_t i = 0; i < n; i++) d->in[i] = get_tok(window, i, width);
  d->out.len = 0;
  uint64_t piece = 0;
  int rc = 0;
  for (size_t i = 0; i < n && d->out.len < n && rc == 0;) {
    if (d->in[i] == d->eot) {
      if ((rc = tm_ids_reserve(&d->out, 1)) < 0) break;
      d->out.ids[d->out.len++] = d->eot;
      i++;
      continue;
    }
    size_t j = i;
    while (j < n && d->in[j] != d->eot) j++;
    d->text_len = 0;
    rc = tm_tokenizer_decode(d->tok, d->in + i, j - i, &d->text, &d->text_len, &d->text_cap, err);
    if (rc < 0) break;
    rc = tm_encoder_encode_dropout(d->enc, d->text, d->text_len, 0, d->p,
                                   tm_feed_mix(key ^ tm_feed_mix(piece++)), &d->out, err);
    i = j;
  }
  if (rc < 0) return rc == -TM_ENOMEM ? tm_err(err, TM_ENOMEM, "out of memory") : rc;
  if (d->out.len < n) return 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t v = d->out.ids[i];
    if (width == 2) {
      uint16_t h = (uint16_t)v;
      memcpy((char *)window + 2 * i, &h, 2);
    } else {
      memcpy((char *)window + 4 * i, &v, 4);
    }
  }
  return 1;
}
