/* test_config.c - schema-checked INI loading, overrides, sizes. */
#include <string.h>

#include "config.h"
#include "tm_test.h"

static const tm_config_key keys[] = {
    {"a", "name", TM_CFG_STR, "x", "a string"},
    {"a", "count", TM_CFG_INT, "3", "an int"},
    {"a", "ratio", TM_CFG_FLOAT, "0.5", "a float"},
    {"a", "on", TM_CFG_BOOL, "false", "a bool"},
    {"a", "limit", TM_CFG_SIZE, "64MiB", "a size"},
    {"source.*", "profile", TM_CFG_STR, "web", "per-source profile"},
    {NULL, NULL, 0, NULL, NULL},
};
static const tm_config_key *const schemas[] = {keys};

int main(void) {
  tm_error err = {0};
  tm_config *c = tm_config_new(schemas, 1);
  /* defaults */
  CHECK(!strcmp(tm_config_str(c, "a", "name"), "x"));
  CHECK(tm_config_int(c, "a", "count") == 3);
  CHECK(tm_config_float(c, "a", "ratio") == 0.5);
  CHECK(tm_config_bool(c, "a", "on") == 0);
  CHECK(tm_config_size(c, "a", "limit") == 64ull << 20);
  CHECK(!tm_config_is_set(c, "a", "count"));

  CHECK(tm_config_load_string(c, "t.ini",
                              "[a]\nname = hello world\ncount=-7\non = yes\nlimit = 2k\n"
                              "[source.books]\nprofile = books\n",
                              &err) == 0);
  CHECK(!strcmp(tm_config_str(c, "a", "name"), "hello world"));
  CHECK(tm_config_int(c, "a", "count") == -7);
  CHECK(tm_config_bool(c, "a", "on") == 1);
  CHECK(tm_config_size(c, "a", "limit") == 2048);
  CHECK(!strcmp(tm_config_str(c, "source.books", "profile"), "books"));
  CHECK(!strcmp(tm_config_str(c, "source.web", "profile"), "web"));

  /* unknown key: error names file, line and key */
  tm_error_clear(&err);
  CHECK(tm_config_load_string(c, "bad.ini", "[a]\ncount = 1\nbogus = 2\n", &err) == -TM_EINVAL);
  CHECKF(strstr(err.msg, "bad.ini:3") && strstr(err.msg, "bogus"), "%s", err.msg);
  /* bad type */
  CHECK(tm_config_load_string(c, "bad2.ini", "[a]\ncount = 1.5\n", &err) == -TM_EINVAL);
  CHECKF(strstr(err.msg, "bad2.ini:2") && strstr(err.msg, "integer"), "%s", err.msg);
  CHECK(tm_config_load_string(c, "bad3.ini", "[zzz]\ncount = 1\n", &err) == -TM_EINVAL);
  /* overrides */
  CHECK(tm_config_set_arg(c, "a.count=42", &err) == 0);
  CHECK(tm_config_int(c, "a", "count") == 42);
  CHECK(tm_config_set_arg(c, "a.count", &err) < 0);
  CHECK(tm_config_set_arg(c, "a.nope=1", &err) < 0);

  uint64_t s;
  CHECK(tm_parse_size("1G", &s) == 0 && s == 1ull << 30);
  CHECK(tm_parse_size("512", &s) == 0 && s == 512);
  CHECK(tm_parse_size("1.5KiB", &s) == 0 && s == 1536);
  CHECK(tm_parse_size("12q", &s) < 0);
  CHECK(tm_parse_size("-1", &s) < 0);
  tm_config_free(c);
  return tm_test_finish("test_config");
}
