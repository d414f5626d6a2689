/* config.h - INI configuration with a schema.
 *
 * Each stage declares the keys it reads as a tm_config_key array (ended by
 * an entry with key == NULL): section, key, type, default and a one-line
 * help text. A driver builds a tm_config from the schemas of the stages it
 * runs, loads an INI file (parsed by inih) and applies command-line
 * overrides. Every key has a default, so a missing file section is fine; a
 * key that no schema declares is an error naming the file, line and key, and
 * so is a value that does not parse as the key's type.
 *
 * A schema section ending in ".*" (e.g. "source.*") matches any section with
 * that prefix; getters then take the concrete section name.
 *
 * tm_config_write_reference prints every key with its default and help as a
 * commented INI file: deploy/tokenmill.example.ini is that output, and a
 * test keeps the two identical.
 */
#ifndef TM_CONFIG_H
#define TM_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef enum {
  TM_CFG_STR,
  TM_CFG_INT,   /* signed 64-bit decimal */
  TM_CFG_FLOAT, /* double */
  TM_CFG_BOOL,  /* true/false, yes/no, on/off, 1/0 */
  TM_CFG_SIZE,  /* bytes with optional suffix: 512, 64k, 64KiB, 8M, 1G (powers of 1024) */
} tm_cfg_type;

typedef struct tm_config_key {
  const char *section;
  const char *key;
  tm_cfg_type type;
  const char *def;  /* default, as it would be written in the file */
  const char *help; /* one line */
} tm_config_key;

typedef struct tm_config tm_config;

/* schemas: n arrays of keys, each terminated by {.key = NULL}. The arrays
 * must outlive the config. Returns NULL on allocation failure. */
tm_config *tm_config_new(const tm_config_key *const *schemas, int n);
void tm_config_free(tm_config *c);

/* Load an INI file; later loads and tm_config_set override earlier values. */
int tm_config_load(tm_config *c, const char *path, tm_error *err);
/* Load INI text from memory (name is used in messages). */
int tm_config_load_string(tm_config *c, const char *name, const char *text, tm_error *err);
/* Set one value (command-line override); validated like a file value. */
int tm_config_set(tm_config *c, const char *section, const char *key, const char *value,
                  tm_error *err);
/* "section.key=value" form of tm_config_set (the CLI's --set). */
int tm_config_set_arg(tm_config *c, const char *assignment, tm_error *err);

/* Getters. The key must be declared in a schema (a programming error
 * otherwise: the default-less value "" / 0 is returned and a warning logged).
 */
const char *tm_config_str(const tm_config *c, const char *section, const char *key);
int64_t tm_config_int(const tm_config *c, const char *section, const char *key);
double tm_config_float(const tm_config *c, const char *section, const char *key);
int tm_config_bool(const tm_config *c, const char *section, const char *key);
uint64_t tm_config_size(const tm_config *c, const char *section, const char *key);
/* 1 when the value came from a file or override, 0 when it is the default */
int tm_config_is_set(const tm_config *c, const char *section, const char *key);

/* Parse helpers, shared with CLI flag parsing. Return 0 or -TM_EINVAL. */
int tm_parse_size(const char *s, uint64_t *out);
int tm_parse_bool(const char *s, int *out);
int tm_parse_int(const char *s, int64_t *out);
int tm_parse_float(const char *s, double *out);

/* Print every declared key as a commented INI reference. */
void tm_config_write_reference(FILE *f, const tm_config_key *const *schemas, int n);

#endif
