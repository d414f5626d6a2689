/* test_io.c - atomic publish and fault injection of the durable-write layer. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"
#include "tm_test.h"

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

int main(void) {
  char dir[] = "/tmp/tm_test_io_XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256], tmp[300];
  snprintf(path, sizeof path, "%s/sub/dir/file.json", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  tm_error err = {0};
  char sub[256];
  snprintf(sub, sizeof sub, "%s/sub/dir", dir);
  CHECK(tm_io_mkdirs(sub, &err) == 0);
  CHECK(tm_io_mkdirs(sub, &err) == 0);

  CHECK(tm_io_write_file_atomic(path, "v1", 2, "test", &err) == 0);
  char *buf;
  size_t len;
  CHECK(tm_io_read_file(path, 100, &buf, &len, &err) == 0 && len == 2 && !memcmp(buf, "v1", 2));
  free(buf);
  CHECK(tm_io_read_file(path, 1, &buf, &len, &err) == -TM_ELIMIT);

  /* injected ENOSPC on the first write at site "test": old content stays */
  setenv("TOKENMILL_FAULT", "test:write:1:ENOSPC", 1);
  tm_io_fault_reset();
  CHECK(tm_io_write_file_atomic(path, "v2", 2, "test", &err) == -TM_EIO);
  CHECKF(err.sys_errno == ENOSPC && strstr(err.msg, "file.json.tmp"), "%s", err.msg);
  CHECK(!exists(tmp));
  CHECK(tm_io_read_file(path, 100, &buf, &len, &err) == 0 && !memcmp(buf, "v1", 2));
  free(buf);
  /* the second write is not hit */
  CHECK(tm_io_write_file_atomic(path, "v3", 2, "test", &err) == 0);

  /* short write, fsync EIO and rename failure: old content stays each time */
  const char *plans[] = {"test:write:1:SHORT", "*:fsync:1:EIO", "test:rename:1:EIO",
                         "test:open:1:EDQUOT"};
  for (int i = 0; i < 4; i++) {
    setenv("TOKENMILL_FAULT", plans[i], 1);
    tm_io_fault_reset();
    CHECKF(tm_io_write_file_atomic(path, "v4-long-content", 15, "test", &err) < 0, "%s", plans[i]);
    CHECK(!exists(tmp));
    CHECK(tm_io_read_file(path, 100, &buf, &len, &err) == 0 && !memcmp(buf, "v3", 2));
    free(buf);
  }
  /* other sites are untouched by a site-specific plan */
  setenv("TOKENMILL_FAULT", "other:write:1:EIO", 1);
  tm_io_fault_reset();
  CHECK(tm_io_write_file_atomic(path, "v5", 2, "test", &err) == 0);

  /* CRASH before rename: the child dies by SIGKILL, the file keeps v5 */
  pid_t pid = fork();
  if (pid == 0) {
    setenv("TOKENMILL_FAULT", "test:rename:1:CRASH", 1);
    tm_io_fault_reset();
    tm_io_write_file_atomic(path, "v6", 2, "test", NULL);
    _exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  CHECK(tm_io_read_file(path, 100, &buf, &len, &err) == 0 && !memcmp(buf, "v5", 2));
  free(buf);
  unsetenv("TOKENMILL_FAULT");
  tm_io_fault_reset();

  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return tm_test_finish("test_io");
}
