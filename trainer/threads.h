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



/* OpenBLAS picks its kernels from the CPU model at load time. In virtual
 * machines that hide the model ("Intel(R) Xeon(R) Processor") it falls back
 * to the generic Prescott (SSE3) kernels: 4-5x slower sgemm on an AVX-512
 * CPU. When OPENBLAS_CORETYPE is unset and the detected core is such a
 * fallback, this sets OPENBLAS_CORETYPE from the CPU's features (SKYLAKEX
 * for AVX-512, HASWELL for AVX2) and re-executes the program (argv, via
 * /proc/self/exe) so the library loads with the right kernels. Returns only
 * when nothing needed doing or the re-exec failed (then 0 / -1). Call at the
 * top of main. */
int tm_blas_fix_coretype(char **argv);
#endif
