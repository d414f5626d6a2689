/* fuzz_ring.c - a consumer attaching to a ring whose shared memory holds a
 * hostile header (a crashed or malicious producer, a foreign object under
 * the ring's name).
 *
 * A real ring is made once by tm_ring_create (2 slots, one batch published,
 * the producer detached): that is the template. Each input patches it:
 *
 *   byte 0      bit 0: truncate/extend the object to a size taken from
 *               bytes 1-2 (in 64-byte units); bit 1: attach with an expected
 *               geometry; bit 2: attach with a resume cursor
 *   then        records [offset u16 LE][len u8 (1..16)][len bytes], written
 *               over the template (offsets wrap at its size)
 *
 * The result is written as the shm object; tm_ring_attach must refuse it
 * with a message or attach, and then acquire (no wait), verify and release
 * must not touch memory outside the mapping. */
#include <fcntl.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "ring.h"

static uint8_t *tmpl;
static size_t tmpl_len;
static char name[64];
static char shm[128];

static void make_template(void) {
  snprintf(name, sizeof name, "fuzz%ld", (long)getpid());
  tm_ring_params p;
  tm_ring_params_for(&p, 1000, 2, 7, 0, 0x1234);
  p.n_slots = 2;
  tm_ring *r = NULL;
  tm_error err = {0};
  (void)tm_ring_unlink_stale(name, 0, &err);
  if (tm_ring_create(&r, name, 0, &p, 0, &err) < 0) {
    fprintf(stderr, "fuzz_ring: %s\n", err.msg);
    abort();
  }
  tm_ring_slot s;
  if (tm_ring_reserve(r, &s, NULL, 0, &err) != 0) abort();
  uint16_t *t = s.tokens;
  for (int i = 0; i < 16; i++) t[i] = (uint16_t)(i * 37 % 1000);
  tm_ring_cursor c = {1, 0, 3, 2};
  if (tm_ring_publish(r, 16, &c, &err) < 0) abort();
  tm_ring_close(r, 0); /* the producer detaches: its owner word is cleared */
  tm_ring_shm_name(shm, sizeof shm, name, 0, &err);
  int fd = shm_open(shm, O_RDONLY, 0);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) abort();
  tmpl_len = (size_t)st.st_size;
  tmpl = malloc(tmpl_len);
  if (!tmpl || pread(fd, tmpl, tmpl_len, 0) != (ssize_t)tmpl_len) abort();
  close(fd);
  shm_unlink(shm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  tm_fuzz_quiet();
  if (!tmpl) make_template();
  if (n < 3) return 0;
  uint8_t ctl = data[0];
  size_t size = tmpl_len;
  if (ctl & 1) size = ((size_t)data[1] | (size_t)data[2] << 8) * 64u;
  uint8_t *img = calloc(1, size > tmpl_len ? size : tmpl_len);
  if (!img) return 0;
  memcpy(img, tmpl, tmpl_len);
  for (size_t i = 3; i + 3 <= n;) {
    size_t off = (size_t)data[i] | (size_t)data[i + 1] << 8;
    size_t len = data[i + 2] % 16 + 1;
    i += 3;
    for (size_t k = 0; k < len && i < n; k++, i++) img[(off + k) % tmpl_len] = data[i];
  }
  int fd = shm_open(shm, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) abort();
  if (ftruncate(fd, (off_t)size) < 0 || (size && pwrite(fd, img, size, 0) != (ssize_t)size)) abort();
  close(fd);
  free(img);
  tm_ring_params want;
  tm_ring_params_for(&want, 1000, 2, 7, 0, 0x1234);
  tm_ring_cursor resume = {1, 0, 3, 1};
  tm_ring *r = NULL;
  tm_error err = {0};
  if (tm_ring_attach(&r, name, 0, (ctl & 2) ? &want : NULL, (ctl & 4) ? &resume : NULL, 0, 0,
                     &err) < 0) {
    if (!err.msg[0]) __builtin_trap();
  } else {
    tm_ring_params have;
    tm_ring_get_params(r, &have);
    tm_ring_slot s;
    for (int i = 0; i < 3; i++) {
      int rc = tm_ring_acquire(r, &s, 0, &err);
      if (rc != 0) break;
      (void)tm_ring_slot_verify(r, &s, &err);
      if (tm_ring_release(r, &err) < 0) break;
    }
    tm_ring_cursor c;
    (void)tm_ring_consumed_cursor(r, &c);
    tm_ring_close(r, 0);
  }
  shm_unlink(shm);
  return 0;
}
