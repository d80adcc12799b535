/*
 * gelu.h: the exact GELU, x Phi(x), and its derivative over spans of
 * floats. On x86-64 with glibc they evaluate erf and exp through glibc's
 * vector math library (libmvec), 16, 8 or 4 lanes at a time by the CPU's
 * best instruction set; elsewhere through the scalar erff and expf.
 *
 * Why: the scalar erff costs about 15 ns a value, and an LXMERT-base
 * forward pass at batch 32 takes some 60 million of them, a sixth of a
 * 90%-sparse model's evaluation. libmvec's erff is within 2 ulp of erf
 * (the scalar one within 1), about 20 times faster with AVX2.
 */
#ifndef VQAPRUNE_GELU_H
#define VQAPRUNE_GELU_H

#include <stddef.h>

/* out[i] = x[i] Phi(x[i]); out may be x */
void		vqa_gelu_span(float *out, const float *x, size_t n);

/* dinp[i] = dout[i] (Phi(x[i]) + x[i] phi(x[i])); dinp may be dout */
void		vqa_gelu_backward_span(float *dinp, const float *dout, const float *x, size_t n);

/*
 * The path: "avx512", "avx2", "baseline" (SSE2 on x86-64, the scalar
 * functions elsewhere), or NULL for the best this CPU runs. -1, and no
 * change, when the CPU cannot run it. For tests and benchmarks.
 */
int			vqa_gelu_set_isa(const char *name);
const char *vqa_gelu_isa(void);

#endif
