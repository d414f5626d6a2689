/* fuzz_config.c - the INI configuration loader (inih + tm_config schemas):
 * the input is loaded as a file of every schema `tokenmill` knows, each of
 * its lines is also tried as a --set override, and the stages that read
 * the result (clean profiles, dedup) parse it. Unknown keys and bad values
 * must be errors naming the line, never a crash. */
#include "clean.h"
#include "dedup.h"
#include "fuzz_util.h"
#include "schemas.h"

static void get_all(const tm_config *c) {
  for (int s = 0; s < tm_n_schemas; s++)
    for (const tm_config_key *k = tm_all_schemas[s]; k->key; k++) {
      char sec[128];
      size_t sl = strlen(k->section);
      if (sl >= 2 && !strcmp(k->section + sl - 2, ".*"))
        snprintf(sec, sizeof sec, "%.*sweb", (int)(sl - 1), k->section);
      else
        snprintf(sec, sizeof sec, "%s", k->section);
      switch (k->type) {
      case TM_CFG_STR: (void)strlen(tm_config_str(c, sec, k->key)); break;
      case TM_CFG_INT: (void)tm_config_int(c, sec, k->key); break;
      case TM_CFG_FLOAT: (void)tm_config_float(c, sec, k->key); break;
      case TM_CFG_BOOL: (void)tm_config_bool(c, sec, k->key); break;
      case TM_CFG_SIZE: (void)tm_config_size(c, sec, k->key); break;
      }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  tm_fuzz_quiet();
  if (n > 1 << 16) return 0;
  char *text = tm_fuzz_cstr(data, n);
  tm_config *c = tm_config_new(tm_all_schemas, tm_n_schemas);
  if (!text || !c) goto out;
  tm_error err = {0};
  if (tm_config_load_string(c, "fuzz.ini", text, &err) < 0 && !err.msg[0]) __builtin_trap();
  for (char *line = text, *next; line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    if (tm_config_set_arg(c, line, &err) < 0 && !err.msg[0]) __builtin_trap();
  }
  get_all(c);
  static const char *const profiles[] = {"web", "books", "social", "fuzz"};
  for (int i = 0; i < 4; i++) {
    tm_clean_params p;
    (void)tm_clean_params_from_config(&p, c, profiles[i], &err);
  }
  tm_dedup_params dp;
  (void)tm_dedup_params_from_config(c, &dp, &err);
out:
  tm_config_free(c);
  free(text);
  return 0;
}
