/*
 * gelu.c: the GELU spans (gelu.h), per instruction set through glibc's
 * vector math functions (gelu_kernels.h), chosen at first use.
 */
#include "vqaprune/gelu.h"

#include <math.h>
#include <string.h>

#include "vqaprune/isa.h"

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

/*
 * libmvec's functions, named by the x86-64 vector function ABI: _ZGV, the
 * ISA (b SSE2, d AVX2, e AVX-512), N (unmasked), the lanes, v (one vector
 * argument), then the scalar name. Each is an indirect function: glibc
 * picks its implementation for the CPU at load time. (clang, which builds
 * PGXS's bitcode, gets the scalar path: it lacks GCC's ISA level names.)
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
#define GELU_LIBMVEC 1

#define ISA avx512
#define LANES 16
#define ERF _ZGVeN16v_erff
#define EXP _ZGVeN16v_expf
#define ISA_TARGET __attribute__((target("arch=x86-64-v4")))
#include "gelu_kernels.h"
#undef ISA
#undef LANES
#undef ERF
#undef EXP
#undef ISA_TARGET

#define ISA avx2
#define LANES 8
#define ERF _ZGVdN8v_erff
#define EXP _ZGVdN8v_expf
#define ISA_TARGET __attribute__((target("arch=x86-64-v3")))
#include "gelu_kernels.h"
#undef ISA
#undef LANES
#undef ERF
#undef EXP
#undef ISA_TARGET

#define ISA baseline
#define LANES 4
#define ERF _ZGVbN4v_erff
#define EXP _ZGVbN4v_expf
#define ISA_TARGET
#include "gelu_kernels.h"
#undef ISA
#undef LANES
#undef ERF
#undef EXP
#undef ISA_TARGET
#else
static void
gelu_baseline(float *out, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = 0.5f * x[i] * (1.0f + erff(x[i] * INV_SQRT2));
}

static void
gelu_backward_baseline(float *dinp, const float *dout, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		float		cdf = 0.5f * (1.0f + erff(x[i] * INV_SQRT2));
		float		pdf = INV_SQRT_2PI * expf(-0.5f * x[i] * x[i]);

		dinp[i] = dout[i] * (cdf + x[i] * pdf);
	}
}
#endif

typedef struct GeluKernels
{
	const char *name;
	void		(*forward) (float *out, const float *x, size_t n);
	void		(*backward) (float *dinp, const float *dout, const float *x, size_t n);
} GeluKernels;

static const GeluKernels all_kernels[] = {
#ifdef GELU_LIBMVEC
	{"avx512", gelu_avx512, gelu_backward_avx512},
	{"avx2", gelu_avx2, gelu_backward_avx2},
#endif
	{"baseline", gelu_baseline, gelu_backward_baseline},
};

#define N_KERNELS (sizeof(all_kernels) / sizeof(all_kernels[0]))

static const GeluKernels *kernels;

int
vqa_gelu_set_isa(const char *name)
{
	const GeluKernels *k = vqa_isa_choose(all_kernels, N_KERNELS, sizeof(all_kernels[0]), name);

	if (k == NULL)
		return -1;
	kernels = k;
	return 0;
}

static const GeluKernels *
chosen_kernels(void)
{
	if (kernels == NULL)
		vqa_gelu_set_isa(NULL);
	return kernels;
}

const char *
vqa_gelu_isa(void)
{
	return chosen_kernels()->name;
}

void
vqa_gelu_span(float *out, const float *x, size_t n)
{
	chosen_kernels()->forward(out, x, n);
}

void
vqa_gelu_backward_span(float *dinp, const float *dout, const float *x, size_t n)
{
	chosen_kernels()->backward(dinp, dout, x, n);
}
