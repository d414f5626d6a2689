/* schemas.h - every configuration schema the `tokenmill` program knows.
 * A stage that reads configuration keys exports a tm_config_key array from
 * its header; add it to the list in schemas.c so that config files, `--set`
 * and the reference (deploy/tokenmill.example.ini) know its keys. */
#ifndef TM_CLI_SCHEMAS_H
#define TM_CLI_SCHEMAS_H

#include "config.h"

extern const tm_config_key *const tm_all_schemas[];
extern const int tm_n_schemas;

#endif
