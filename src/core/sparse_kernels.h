/*
 * sparse_kernels.h: the sparse kernels for one instruction set, included
 * by sparse.c once per set with ISA (the names' suffix), ISA_TARGET (the
 * functions' attributes) and LANES (floats per vector register) defined.
 *
 * A block is ROWS = 4 vectors of input rows (GRAD_ROWS = 8 for the weight
 * gradient, whose per-weight horizontal sum then costs less per row). Per
 * column panel the block's inputs are transposed into xt, so that input
 * feature j of the block is ROWS contiguous floats; a kept weight w[o, j]
 * then adds w * xt[j] to output o's ROWS sums: one broadcast and four
 * vector multiply-adds. Two sets of four sums alternate between
 * consecutive kept weights, so eight multiply-adds are in flight. The sums
 * of every output of the block live in ot between panels.
 */

#define KCAT2(a, b) a##_##b
#define KCAT(a, b) KCAT2(a, b)
#define K(name) KCAT(name, ISA)
#define ROWS (4 * LANES)
#define GRAD_ROWS (8 * LANES)

typedef float K(Vec) __attribute__((vector_size(LANES * sizeof(float))));

/* xt[j * rows + k] = src[(m0 + k) * ld + c0 + j], j < pc, k < count; rows past count are zero */
ISA_TARGET static void
K(transpose_in) (const float *src, int ld, int m0, int count, int c0, int pc, int rows, float *xt)
{
	if (count < rows)
		memset(xt, 0, sizeof(float) * rows * pc);
	for (int k = 0; k < count; k++)
	{
		const float *row = src + (size_t) (m0 + k) * ld + c0;

		for (int j = 0; j < pc; j++)
			xt[(size_t) j * rows + k] = row[j];
	}
}

/* ot[o] (+)= the sums of outputs [o0, o1) over panel p's kept weights */
ISA_TARGET static void
K(panel_rows) (const VqaCsr *w, int p, int o0, int o1, const float *xt, float *ot, int first)
{
	const int64_t *start = w->start + (size_t) p * w->rows;

	for (int o = o0; o < o1; o++)
	{
		K(Vec)		a[4],
					c[4];
		float	   *acc = ot + (size_t) o * ROWS;
		int64_t		q = start[o],
					end = start[o + 1];

		for (int i = 0; i < 4; i++)
		{
			if (first)
				a[i] = (K(Vec)) {0};
			else
				memcpy(&a[i], acc + i * LANES, sizeof(a[i]));
			c[i] = (K(Vec)) {0};
		}
		for (; q + 2 <= end; q += 2)
		{
			const float *x = xt + (size_t) w->col[q] * ROWS;
			const float *y = xt + (size_t) w->col[q + 1] * ROWS;
			float		u = w->val[q],
						v = w->val[q + 1];

			for (int i = 0; i < 4; i++)
			{
				K(Vec)		xi,
							yi;

				memcpy(&xi, x + i * LANES, sizeof(xi));
				memcpy(&yi, y + i * LANES, sizeof(yi));
				a[i] += u * xi;
				c[i] += v * yi;
			}
		}
		if (q < end)
		{
			const float *x = xt + (size_t) w->col[q] * ROWS;

			for (int i = 0; i < 4; i++)
			{
				K(Vec)		xi;

				memcpy(&xi, x + i * LANES, sizeof(xi));
				a[i] += w->val[q] * xi;
			}
		}
		for (int i = 0; i < 4; i++)
		{
			a[i] += c[i];
			memcpy(acc + i * LANES, &a[i], sizeof(a[i]));
		}
	}
}

/*
 * out rows [m0, m0 + count) (count <= ROWS), outputs [o0, o1): = or +=
 * inp W^T + b. xt: VQA_CSR_PANEL x ROWS floats, ot: w->rows x ROWS.
 */
ISA_TARGET static void
K(linear_block) (const VqaCsr *w, const float *inp, const float *b, float *out, int m0, int count,
				 int o0, int o1, int accumulate, float *xt, float *ot)
{
	for (int p = 0; p < w->panels; p++)
	{
		int			c0 = p * VQA_CSR_PANEL;
		int			pc = w->cols - c0 < VQA_CSR_PANEL ? w->cols - c0 : VQA_CSR_PANEL;

		K(transpose_in) (inp, w->cols, m0, count, c0, pc, ROWS, xt);
		K(panel_rows) (w, p, o0, o1, xt, ot, p == 0);
	}
	for (int k = 0; k < count; k++)
	{
		float	   *row = out + (size_t) (m0 + k) * w->rows;

		for (int o = o0; o < o1; o++)
		{
			float		v = ot[(size_t) o * ROWS + k] + (b ? b[o] : 0.0f);

			row[o] = accumulate ? row[o] + v : v;
		}
	}
}

/*
 * grad of the kept weights of outputs [o0, o1) += their entries of
 * dout^T inp over rows [m0, m0 + count) (count <= GRAD_ROWS). xt:
 * VQA_CSR_PANEL x GRAD_ROWS floats, dt: (o1 - o0) x GRAD_ROWS.
 */
ISA_TARGET static void
K(grad_block) (VqaCsr *w, const float *dout, const float *inp, int m0, int count, int o0, int o1,
			   float *xt, float *dt)
{
	K(transpose_in) (dout, w->rows, m0, count, o0, o1 - o0, GRAD_ROWS, dt);
	for (int p = 0; p < w->panels; p++)
	{
		const int64_t *start = w->start + (size_t) p * w->rows;
		int			c0 = p * VQA_CSR_PANEL;
		int			pc = w->cols - c0 < VQA_CSR_PANEL ? w->cols - c0 : VQA_CSR_PANEL;

		K(transpose_in) (inp, w->cols, m0, count, c0, pc, GRAD_ROWS, xt);
		for (int o = o0; o < o1; o++)
		{
			K(Vec)		d[8];

			memcpy(d, dt + (size_t) (o - o0) * GRAD_ROWS, sizeof(d));
			for (int64_t q = start[o]; q < start[o + 1]; q++)
			{
				const float *x = xt + (size_t) w->col[q] * GRAD_ROWS;
				K(Vec)		s[2] = {{0}, {0}};
				float		sum = 0.0f;

				for (int i = 0; i < 8; i++)
				{
					K(Vec)		xi;

					memcpy(&xi, x + i * LANES, sizeof(xi));
					s[i & 1] += d[i] * xi;
				}
				s[0] += s[1];
				for (int l = 0; l < LANES; l++)
					sum += s[0][l];
				w->grad[q] += sum;
			}
		}
	}
}

#undef ROWS
#undef GRAD_ROWS
#undef K
#undef KCAT
#undef KCAT2
