/* config.c - schema-checked INI configuration; see config.h. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io.h"
#include "log.h"

typedef struct {
  char *section;
  char *key;
  char *value;
} entry;

struct tm_config {
  const tm_config_key *const *schemas;
  int n_schemas;
  entry *entries;
  size_t n, cap;
  /* load state */
  const char *load_name;
  const int *load_line;
  tm_error *load_err;
  int load_rc;
};

tm_config *tm_config_new(const tm_config_key *const *schemas, int n) {
  tm_config *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->schemas = schemas;
  c->n_schemas = n;
  return c;
}

void tm_config_free(tm_config *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) {
    free(c->entries[i].section);
    free(c->entries[i].key);
    free(c->entries[i].value);
  }
  free(c->entries);
  free(c);
}

static int section_matches(const char *pattern, const char *section) {
  size_t pl = strlen(pattern);
  if (pl >= 2 && pattern[pl - 1] == '*' && pattern[pl - 2] == '.')
    return strncmp(pattern, section, pl - 1) == 0 && section[pl - 1] != 0;
  return strcmp(pattern, section) == 0;
}

static const tm_config_key *find_key(const tm_config *c, const char *section, const char *key) {
  for (int s = 0; s < c->n_schemas; s++)
    for (const tm_config_key *k = c->schemas[s]; k->key; k++)
      if (section_matches(k->section, section) && !strcmp(k->key, key)) return k;
  return NULL;
}

int tm_parse_int(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return -TM_EINVAL;
  *out = v;
  return 0;
}

int tm_parse_float(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) return -TM_EINVAL;
  *out = v;
  return 0;
}

int tm_parse_bool(const char *s, int *out) {
  static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                              "off", "0"};
  for (int i = 0; i < 4; i++) {
    if (!strcasecmp(s, yes[i])) return *out = 1, 0;
    if (!strcasecmp(s, no[i])) return *out = 0, 0;
  }
  return -TM_EINVAL;
}

int tm_parse_size(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (*s == '-') return -TM_EINVAL;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0 || !isfinite(v)) return -TM_EINVAL;
  while (*end == ' ') end++;
  double mul = 1;
  if (*end) {
    char u = (char)(*end | 0x20);
    const char *rest = end + 1;
    switch (u) {
    case 'b': mul = 1; rest = end + 1; break;
    case 'k': mul = 1024.0; break;
    case 'm': mul = 1024.0 * 1024; break;
    case 'g': mul = 1024.0 * 1024 * 1024; break;
    case 't': mul = 1024.0 * 1024 * 1024 * 1024; break;
    default: return -TM_EINVAL;
    }
    if (u != 'b') {
      if (!strcasecmp(rest, "ib") || !strcasecmp(rest, "b")) rest += strlen(rest);
    }
    if (*rest) return -TM_EINVAL;
  }
  v *= mul;
  if (v > 1.8e19) return -TM_EINVAL;
  *out = (uint64_t)v;
  return 0;
}

static int validate(const tm_config_key *k, const char *value) {
  int64_t i;
  double d;
  int b;
  uint64_t u;
  switch (k->type) {
  case TM_CFG_STR: return 0;
  case TM_CFG_INT: return tm_parse_int(value, &i);
  case TM_CFG_FLOAT: return tm_parse_float(value, &d);
  case TM_CFG_BOOL: return tm_parse_bool(value, &b);
  case TM_CFG_SIZE: return tm_parse_size(value, &u);
  }
  return -TM_EINVAL;
}

static const char *type_name(tm_cfg_type t) {
  switch (t) {
  case TM_CFG_STR: return "string";
  case TM_CFG_INT: return "integer";
  case TM_CFG_FLOAT: return "number";
  case TM_CFG_BOOL: return "boolean";
  case TM_CFG_SIZE: return "size";
  }
  return "?";
}

static int store(tm_config *c, const char *section, const char *key, const char *value) {
  for (size_t i = 0; i < c->n; i++) {
    entry *e = &c->entries[i];
    if (!strcmp(e->section, section) && !strcmp(e->key, key)) {
      char *v = strdup(value);
      if (!v) return -TM_ENOMEM;
      free(e->value);
      e->value = v;
      return 0;
    }
  }
  if (c->n == c->cap) {
    size_t nc = c->cap ? c->cap * 2 : 32;
    entry *ne = realloc(c->entries, nc * sizeof *ne);
    if (!ne) return -TM_ENOMEM;
    c->entries = ne;
    c->cap = nc;
  }
  entry *e = &c->entries[c->n];
  e->section = strdup(section);
  e->key = strdup(key);
  e->value = strdup(value);
  if (!e->section || !e->key || !e->value) {
    free(e->section), free(e->key), free(e->value);
    return -TM_ENOMEM;
  }
  c->n++;
  return 0;
}

static int set_checked(tm_config *c, const char *where, int line, const char *section,
                       const char *key, const char *value, tm_error *err) {
  const tm_config_key *k = find_key(c, section, key);
  char loc[512];
  if (line > 0) snprintf(loc, sizeof loc, "%s:%d", where, line);
  else snprintf(loc, sizeof loc, "%s", where);
  if (!k) return tm_err(err, TM_EINVAL, "%s: unknown key '%s' in section [%s]", loc, key, section);
  if (validate(k, value) < 0)
    return tm_err(err, TM_EINVAL, "%s: [%s] %s = '%s' is not a valid %s", loc, section, key, value,
                  type_name(k->type));
  if (store(c, section, key, value) < 0) return tm_err(err, TM_ENOMEM, "%s: out of memory", loc);
  return 0;
}

/* inih as Debian builds it does not pass line numbers to the handler; we
 * feed it through ini_parse_stream with a reader that counts lines, and the
 * handler runs right after the line that holds the key was read. */
typedef struct {
  const char *p;
  int line;
} line_reader;

static char *read_line(char *str, int num, void *stream) {
  line_reader *r = stream;
  if (!*r->p || num < 2) return NULL;
  int n = 0;
  while (n < num - 1 && r->p[n] && r->p[n] != '\n') n++;
  if (r->p[n] == '\n' && n < num - 1) n++;
  memcpy(str, r->p, (size_t)n);
  str[n] = 0;
  r->p += n;
  r->line++;
  return str;
}

static int ini_cb(void *user, const char *section, const char *name, const char *value) {
  tm_config *c = user;
  int lineno = c->load_line ? *c->load_line : 0;
  if (c->load_rc < 0) return 0;
  if (!name) return 1; /* section start */
  int rc = set_checked(c, c->load_name, lineno, section, name, value ? value : "", c->load_err);
  if (rc < 0) {
    c->load_rc = rc;
    return 0;
  }
  return 1;
}

static int finish_load(tm_config *c, int ini_rc, const char *name, tm_error *err) {
  if (c->load_rc < 0) return c->load_rc;
  if (ini_rc == -1) return tm_err_sys(err, "%s: cannot open configuration", name);
  if (ini_rc == -2) return tm_err(err, TM_ENOMEM, "%s: out of memory", name);
  if (ini_rc > 0) return tm_err(err, TM_EFORMAT, "%s:%d: syntax error", name, ini_rc);
  return 0;
}

int tm_config_load_string(tm_config *c, const char *name, const char *text, tm_error *err) {
  line_reader r = {text, 0};
  c->load_name = name;
  c->load_line = &r.line;
  c->load_err = err;
  c->load_rc = 0;
  int rc = ini_parse_stream(read_line, &r, ini_cb, c);
  c->load_line = NULL;
  return finish_load(c, rc, name, err);
}

int tm_config_load(tm_config *c, const char *path, tm_error *err) {
  char *text;
  size_t len;
  int rc = tm_io_read_file(path, 16u << 20, &text, &len, err);
  if (rc < 0) return tm_err_prefix(err, "configuration");
  if (memchr(text, 0, len)) {
    free(text);
    return tm_err(err, TM_EFORMAT, "%s: configuration contains a NUL byte", path);
  }
  rc = tm_config_load_string(c, path, text, err);
  free(text);
  return rc;
}

int tm_config_set(tm_config *c, const char *section, const char *key, const char *value,
                  tm_error *err) {
  return set_checked(c, "command line", 0, section, key, value, err);
}

int tm_config_set_arg(tm_config *c, const char *a, tm_error *err) {
  const char *eq = strchr(a, '=');
  const char *dot = eq ? memrchr(a, '.', (size_t)(eq - a)) : NULL;
  if (!eq || !dot || dot == a)
    return tm_err(err, TM_EINVAL, "--set '%s': expected section.key=value", a);
  char section[128], key[128];
  size_t sl = (size_t)(dot - a), kl = (size_t)(eq - dot - 1);
  if (sl >= sizeof section || kl >= sizeof key || kl == 0)
    return tm_err(err, TM_EINVAL, "--set '%s': expected section.key=value", a);
  memcpy(section, a, sl);
  section[sl] = 0;
  memcpy(key, dot + 1, kl);
  key[kl] = 0;
  return tm_config_set(c, section, key, eq + 1, err);
}

static const char *lookup(const tm_config *c, const char *section, const char *key,
                          const tm_config_key **kout) {
  const tm_config_key *k = find_key(c, section, key);
  if (kout) *kout = k;
  for (size_t i = 0; i < c->n; i++)
    if (!strcmp(c->entries[i].section, section) && !strcmp(c->entries[i].key, key))
      return c->entries[i].value;
  if (!k) {
    tm_warn("config_undeclared", "section=%s key=%s", section, key);
    return "";
  }
  return k->def;
}

const char *tm_config_str(const tm_config *c, const char *section, const char *key) {
  return lookup(c, section, key, NULL);
}

int64_t tm_config_int(const tm_config *c, const char *section, const char *key) {
  int64_t v = 0;
  tm_parse_int(lookup(c, section, key, NULL), &v);
  return v;
}

double tm_config_float(const tm_config *c, const char *section, const char *key) {
  double v = 0;
  tm_parse_float(lookup(c, section, key, NULL), &v);
  return v;
}

int tm_config_bool(const tm_config *c, const char *section, const char *key) {
  int v = 0;
  tm_parse_bool(lookup(c, section, key, NULL), &v);
  return v;
}

uint64_t tm_config_size(const tm_config *c, const char *section, const char *key) {
  uint64_t v = 0;
  tm_parse_size(lookup(c, section, key, NULL), &v);
  return v;
}

int tm_config_is_set(const tm_config *c, const char *section, const char *key) {
  for (size_t i = 0; i < c->n; i++)
    if (!strcmp(c->entries[i].section, section) && !strcmp(c->entries[i].key, key)) return 1;
  return 0;
}

void tm_config_write_reference(FILE *f, const tm_config_key *const *schemas, int n) {
  fprintf(f, "; tokenmill configuration reference: every key with its default.\n"
             "; Generated by `tokenmill config --reference`; a test keeps this file in sync.\n"
             "; Sizes take k/M/G suffixes (powers of 1024). Command-line flags override.\n");
  const char *cur = NULL;
  for (int s = 0; s < n; s++) {
    for (const tm_config_key *k = schemas[s]; k->key; k++) {
      if (!cur || strcmp(cur, k->section)) {
        fprintf(f, "\n[%s]\n", k->section);
        cur = k->section;
      }
      fprintf(f, "; %s (%s)\n%s = %s\n", k->help, type_name(k->type), k->key, k->def);
    }
  }
}
