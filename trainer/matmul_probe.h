/* matmul_probe.h - the matmuls of one training step, alone.
 *
 * Runs exactly the cblas_sgemm calls tm_gpt_forward + tm_gpt_backward make
 * for a config and batch (same shapes, transposes and leading dimensions,
 * attention per (batch, head) in an OpenMP loop as in the model), on scratch
 * buffers, with nothing else in between. Its time is the floor a step can
 * reach with OpenBLAS; the bench prints it beside the real step. */
#ifndef TM_MATMUL_PROBE_H
#define TM_MATMUL_PROBE_H

#include "error.h"
#include "gpt.h"

typedef struct tm_matmul_probe tm_matmul_probe;

tm_matmul_probe *tm_matmul_probe_create(const tm_gpt_config *cfg, int B, int T, tm_error *err);
/* one step's matmuls */
void tm_matmul_probe_run(tm_matmul_probe *p);
void tm_matmul_probe_free(tm_matmul_probe *p);

#endif
