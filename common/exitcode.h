/* exitcode.h - process exit codes, the same in every tokenmill program.
 *
 *   0  ok
 *   1  runtime error (I/O, corrupt state, a dead peer, ...)
 *   2  usage error (bad flags, bad configuration)
 *   3  finished, but some input records were rejected: they are in
 *      OUT/quarantine/ with the reason, and counted in the stats
 */
#ifndef TM_EXITCODE_H
#define TM_EXITCODE_H

enum { TM_EXIT_OK = 0, TM_EXIT_RUNTIME = 1, TM_EXIT_USAGE = 2, TM_EXIT_REJECTED = 3 };

#endif
