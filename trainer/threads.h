/* threads.h - the one thread setting of the trainer.
 *
 * OpenBLAS (Debian's OpenMP build, linked by trainer/CMakeLists.txt) and the
 * model's element-wise kernels run on the same OpenMP thread pool, so one
 * number sets both: n threads for a big sgemm, the same n threads for the
 * layernorm after it, and never 2n threads spinning on n cores. */
#ifndef TM_THREADS_H
#define TM_THREADS_H

/* Set the thread count (n >= 1) for OpenMP and OpenBLAS. */
void tm_threads_set(int n);
/* The current count. */
int tm_threads_get(void);
/* A short description of the BLAS build: "openblas-openmp" or "openblas". */
const char *tm_threads_blas(void);



/* Environment that must be set before OpenBLAS and libgomp load, fixed by
 * re-executing the program (argv, via /proc/self/exe) once when needed:
 *
 *  - OPENBLAS_CORETYPE: OpenBLAS picks its kernels from the CPU model. In
 *    virtual machines that hide it ("Intel(R) Xeon(R) Processor") it falls
 *    back to the generic Prescott (SSE3) kernels: 4-5x slower sgemm on an
 *    AVX-512 CPU. When unset and the detected core is such a fallback, it is
 *    set from the CPU's features (SKYLAKEX for AVX-512, HASWELL for AVX2).
 *  - OMP_WAIT_POLICY: when unset, PASSIVE. Idle pool threads then sleep
 *    instead of spinning between parallel regions: on a machine whose cores
 *    are shared with other processes (measured on 2 cores under load 3.5:
 *    1758 ms/step spinning, 792 ms passive, config S, 2 threads) a spinning
 *    or descheduled thread stalls every region. Set OMP_WAIT_POLICY=ACTIVE
 *    on a dedicated machine.
 *
 * Returns 0 when nothing needed doing, -1 when the re-exec failed (the
 * program then goes on with the environment it has). Call first in main. */
int tm_threads_fix_env(char **argv);
#endif
