/*
 * gelu_kernels.h: the GELU spans for one instruction set, included by
 * gelu.c once per set with ISA (the names' suffix), ISA_TARGET, LANES and
 * the vector erf and exp of that width (ERF, EXP) defined. Whole vectors
 * go through the vector functions; the last n % LANES values through one
 * zero-padded vector.
 */

#define KCAT2(a, b) a##_##b
#define KCAT(a, b) KCAT2(a, b)
#define K(name) KCAT(name, ISA)

typedef float K(Vec) __attribute__((vector_size(LANES * sizeof(float))));

ISA_TARGET K(Vec) ERF(K(Vec));
ISA_TARGET K(Vec) EXP(K(Vec));

ISA_TARGET static inline K(Vec)
K(gelu_vec) (K(Vec) x)
{
	return 0.5f * x * (1.0f + ERF(x * INV_SQRT2));
}

ISA_TARGET static inline K(Vec)
K(gelu_grad_vec) (K(Vec) x, K(Vec) dout)
{
	K(Vec)		cdf = 0.5f * (1.0f + ERF(x * INV_SQRT2));
	K(Vec)		pdf = INV_SQRT_2PI * EXP(-0.5f * x * x);

	return dout * (cdf + x * pdf);
}

ISA_TARGET static void
K(gelu) (float *out, const float *x, size_t n)
{
	size_t		full = n / LANES * LANES;
	K(Vec)		v = {0};

	for (size_t i = 0; i < full; i += LANES)
	{
		memcpy(&v, x + i, sizeof(v));
		v = K(gelu_vec) (v);
		memcpy(out + i, &v, sizeof(v));
	}
	if (full < n)
	{
		v = (K(Vec)) {0};
		memcpy(&v, x + full, (n - full) * sizeof(float));
		v = K(gelu_vec) (v);
		memcpy(out + full, &v, (n - full) * sizeof(float));
	}
}

ISA_TARGET static void
K(gelu_backward) (float *dinp, const float *dout, const float *x, size_t n)
{
	size_t		full = n / LANES * LANES;
	K(Vec)		v = {0},
				d = {0};

	for (size_t i = 0; i < full; i += LANES)
	{
		memcpy(&v, x + i, sizeof(v));
		memcpy(&d, dout + i, sizeof(d));
		d = K(gelu_grad_vec) (v, d);
		memcpy(dinp + i, &d, sizeof(d));
	}
	if (full < n)
	{
		v = (K(Vec)) {0};
		d = (K(Vec)) {0};
		memcpy(&v, x + full, (n - full) * sizeof(float));
		memcpy(&d, dout + full, (n - full) * sizeof(float));
		d = K(gelu_grad_vec) (v, d);
		memcpy(dinp + full, &d, (n - full) * sizeof(float));
	}
}

#undef K
#undef KCAT
#undef KCAT2
