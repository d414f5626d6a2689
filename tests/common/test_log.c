/* test_log.c - key=value and JSON line formatting. */
#include <string.h>

#include "log.h"
#include "tm_test.h"

int main(void) {
  char line[1024];
  tm_log_format(line, sizeof line, 0, TM_LOG_INFO, "shard_sealed", "name=a.tms docs=3");
  CHECKF(strstr(line, " level=info event=shard_sealed name=a.tms docs=3") && !strncmp(line, "ts=", 3),
         "%s", line);
  tm_log_format(line, sizeof line, 1, TM_LOG_WARN, "ev",
                "name=\"two words\" n=12 neg=-3.5 hex=0x10 lead=007 path=/a/b");
  CHECKF(strstr(line, "\"level\":\"warn\"") && strstr(line, "\"event\":\"ev\"") &&
             strstr(line, "\"name\":\"two words\"") && strstr(line, "\"n\":12") &&
             strstr(line, "\"neg\":-3.5") && strstr(line, "\"hex\":\"0x10\"") &&
             strstr(line, "\"lead\":\"007\"") && strstr(line, "\"path\":\"/a/b\"") &&
             line[strlen(line) - 1] == '}',
         "%s", line);
  char q[64];
  tm_log_quote(q, sizeof q, "say \"hi\"\n");
  CHECKF(!strcmp(q, "\"say \\\"hi\\\" \""), "%s", q);
  tm_log_format(line, sizeof line, 1, TM_LOG_INFO, "ev", q[0] ? "msg=\"a \\\"b\\\"\"" : "");
  CHECKF(strstr(line, "\"msg\":\"a \\\"b\\\"\""), "%s", line);
  CHECK(tm_log_parse_level("debug") == TM_LOG_DEBUG && tm_log_parse_level("x") == -1);
  return tm_test_finish("test_log");
}
