/* io.h - the one layer every durable write goes through.
 *
 * Shards, the manifest, journals, the dedup index and checkpoints are all
 * written through these calls, never with raw write()/rename(). Two reasons:
 *
 *  1. The publish protocol is written once: write NAME.tmp, fsync it, rename
 *     it over NAME, fsync the directory. A reader never sees a partial file.
 *  2. Tests can inject failures at each call site. Every call names its
 *     site ("shard", "manifest", "journal", ...). The environment variable
 *
 *        TOKENMILL_FAULT=SITE:OP:N:WHAT[,SITE:OP:N:WHAT...]
 *
 *     makes the N-th (1-based) call of OP (open, write, fsync, rename,
 *     fsyncdir, unlink, close) at SITE (or '*' for any site) fail. WHAT is
 *     ENOSPC, EIO or EDQUOT (the call fails with that errno), SHORT (a write
 *     stores half of its bytes, then fails with ENOSPC), or CRASH (the
 *     process kills itself with SIGKILL before the call: a power cut at that
 *     point). Parsed once, at the first call. Production never sets it.
 *
 * All functions return 0 (or a file descriptor for tm_io_open) on success and
 * a negative TM_E* code with a message naming the path on failure.
 */
#ifndef TM_IO_H
#define TM_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

int tm_io_open(const char *path, int flags, mode_t mode, const char *site, tm_error *err);
/* write all len bytes (retries EINTR and short writes) */
int tm_io_write(int fd, const void *buf, size_t len, const char *path, const char *site,
                tm_error *err);
int tm_io_pwrite(int fd, const void *buf, size_t len, uint64_t off, const char *path,
                 const char *site, tm_error *err);
int tm_io_fsync(int fd, const char *path, const char *site, tm_error *err);
int tm_io_close(int fd, const char *path, const char *site, tm_error *err);
int tm_io_rename(const char *from, const char *to, const char *site, tm_error *err);
/* fsync the directory that holds path (path may be a file or directory) */
int tm_io_fsync_parent(const char *path, const char *site, tm_error *err);
int tm_io_fsync_dir(const char *dir, const char *site, tm_error *err);
int tm_io_unlink(const char *path, const char *site, tm_error *err);

/* Publish a whole file atomically: PATH.tmp is written, fsync'd, renamed over
 * PATH and the directory fsync'd. On failure PATH is unchanged and the
 * temporary file is removed. */
int tm_io_write_file_atomic(const char *path, const void *data, size_t len, const char *site,
                            tm_error *err);

/* Create a directory and its parents (mode 0755); existing ones are fine. */
int tm_io_mkdirs(const char *path, tm_error *err);

/* Read a whole file of at most max_bytes into a malloc'd buffer (NUL
 * terminated, not counted in *len). Larger files are TM_ELIMIT. */
int tm_io_read_file(const char *path, size_t max_bytes, char **out, size_t *len, tm_error *err);

/* Forget the parsed TOKENMILL_FAULT plan and its counters (tests). */
void tm_io_fault_reset(void);

#endif
