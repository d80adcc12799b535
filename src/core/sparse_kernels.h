/*
 * sparse_kernels.h: the sparse kernels for one instruction set, included
 * by sparse.c once per set with ISA (the names' suffix), ISA_TARGET (the
 * functions' attributes) and LANES (floats per vector register) defined.
 *
 * A block is ROWS = 4 vectors of input rows (GRAD_ROWS = 8 for the weight
 * gradient, whose per-weight sum across lanes then costs less per row). Per
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

/*
 * A LANES x LANES tile transposed in registers: step s swaps, within every
 * 2s x 2s block, the two off-diagonal s x s blocks (rows i and i + s, lanes
 * split at s), so log2(LANES) steps of one two-source shuffle per row
 * transpose the tile: LANES loads, LANES log2(LANES) shuffles and LANES
 * stores instead of LANES^2 scalar copies (the products at 90% sparsity
 * are 5-13% faster for it, the backward ones 16-32%).
 */
#define SHUFFLE_LO(l, s) (((l) / (s)) % 2 == 0 ? (l) : LANES + (l) - (s))
/* the lanes of a two-source shuffle, as __builtin_shufflevector (GCC and clang) takes them */
#if LANES == 16
#define LANE_LIST(s, d) SHUFFLE_LO(0, s) + (d), SHUFFLE_LO(1, s) + (d), SHUFFLE_LO(2, s) + (d), \
	SHUFFLE_LO(3, s) + (d), SHUFFLE_LO(4, s) + (d), SHUFFLE_LO(5, s) + (d), SHUFFLE_LO(6, s) + (d), \
	SHUFFLE_LO(7, s) + (d), SHUFFLE_LO(8, s) + (d), SHUFFLE_LO(9, s) + (d), SHUFFLE_LO(10, s) + (d), \
	SHUFFLE_LO(11, s) + (d), SHUFFLE_LO(12, s) + (d), SHUFFLE_LO(13, s) + (d), \
	SHUFFLE_LO(14, s) + (d), SHUFFLE_LO(15, s) + (d)
#elif LANES == 8
#define LANE_LIST(s, d) SHUFFLE_LO(0, s) + (d), SHUFFLE_LO(1, s) + (d), SHUFFLE_LO(2, s) + (d), \
	SHUFFLE_LO(3, s) + (d), SHUFFLE_LO(4, s) + (d), SHUFFLE_LO(5, s) + (d), SHUFFLE_LO(6, s) + (d), \
	SHUFFLE_LO(7, s) + (d)
#else
#define LANE_LIST(s, d) SHUFFLE_LO(0, s) + (d), SHUFFLE_LO(1, s) + (d), SHUFFLE_LO(2, s) + (d), \
	SHUFFLE_LO(3, s) + (d)
#endif
#define TRANSPOSE_STEP(s) \
	for (int i = 0; i < LANES; i++) \
		if ((i / (s)) % 2 == 0) \
		{ \
			K(Vec)		a = v[i], b = v[i + (s)]; \
			v[i] = __builtin_shufflevector(a, b, LANE_LIST(s, 0)); \
			v[i + (s)] = __builtin_shufflevector(a, b, LANE_LIST(s, s)); \
		}

ISA_TARGET static inline K(Vec)
K(load) (const float *p)
{
	K(Vec)		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

ISA_TARGET static inline void
K(store) (float *p, K(Vec) v)
{
	memcpy(p, &v, sizeof(v));
}

/* v[j][i] = v[i][j] for i, j < LANES */
ISA_TARGET static inline void
K(transpose_regs) (K(Vec) * v)
{
	/* the steps of this width only: a wider one's lane list would not fit */
#if LANES == 16
	TRANSPOSE_STEP(8);
#endif
#if LANES >= 8
	TRANSPOSE_STEP(4);
#endif
	TRANSPOSE_STEP(2);
	TRANSPOSE_STEP(1);
}

/* dst[j * ld_dst + i] = src[i * ld_src + j] for i, j < LANES */
ISA_TARGET static inline void
K(transpose_tile) (const float *src, size_t ld_src, float *dst, size_t ld_dst)
{
	K(Vec)		v[LANES];

	for (int i = 0; i < LANES; i++)
		v[i] = K(load) (src + i * ld_src);
	K(transpose_regs) (v);
	for (int j = 0; j < LANES; j++)
		K(store) (dst + j * ld_dst, v[j]);
}

/*
 * The same tile with the bias b[i] added (b may be NULL) and, if
 * accumulate, dst's own values: dst[j * ld_dst + i] (+)= src[i * ld_src +
 * j] + b[i].
 */
ISA_TARGET static inline void
K(transpose_tile_out) (const float *src, size_t ld_src, float *dst, size_t ld_dst, const float *b,
					   int accumulate)
{
	K(Vec)		v[LANES];
	K(Vec)		bias = {0};

	for (int i = 0; i < LANES; i++)
		v[i] = K(load) (src + i * ld_src);
	K(transpose_regs) (v);
	if (b)
		bias = K(load) (b);
	for (int j = 0; j < LANES; j++)
		K(store) (dst + j * ld_dst, v[j] + bias + (accumulate ? K(load) (dst + j * ld_dst) : (K(Vec)) {0}));
}

#undef TRANSPOSE_STEP
#undef LANE_LIST
#undef SHUFFLE_LO

/*
 * xt[j * rows + k] = src[(m0 + k) * ld + c0 + j], j < pc, k < count; rows
 * past count are zero. Whole tiles in registers, the edges one by one.
 */
ISA_TARGET static void
K(transpose_in) (const float *src, int ld, int m0, int count, int c0, int pc, int rows, float *xt)
{
	int			full_k = count / LANES * LANES,
				full_j = pc / LANES * LANES;

	if (count < rows)
		memset(xt, 0, sizeof(float) * rows * pc);
	for (int k = 0; k < full_k; k += LANES)
		for (int j = 0; j < full_j; j += LANES)
			K(transpose_tile) (src + (size_t) (m0 + k) * ld + c0 + j, (size_t) ld,
							   xt + (size_t) j * rows + k, (size_t) rows);
	for (int k = 0; k < count; k++)
	{
		const float *row = src + (size_t) (m0 + k) * ld + c0;

		for (int j = k < full_k ? full_j : 0; j < pc; j++)
			xt[(size_t) j * rows + k] = row[j];
	}
}

/*
 * ot[o] (+)= the sums of outputs [o0, o1) over panel p's kept weights. The
 * eight sums are named variables, not arrays: GCC kept arrays of vectors
 * on the stack, a store and a reload of each per output and panel.
 */
ISA_TARGET static void
K(panel_rows) (const VqaCsr *w, int p, int o0, int o1, const float *xt, float *ot, int first)
{
	const int64_t *start = w->start + (size_t) p * w->rows;

	for (int o = o0; o < o1; o++)
	{
		float	   *acc = ot + (size_t) o * ROWS;
		int64_t		q = start[o],
					end = start[o + 1];
		K(Vec)		a0 = {0},
					a1 = {0},
					a2 = {0},
					a3 = {0},
					c0 = {0},
					c1 = {0},
					c2 = {0},
					c3 = {0};

		if (!first)
		{
			a0 = K(load) (acc);
			a1 = K(load) (acc + LANES);
			a2 = K(load) (acc + 2 * LANES);
			a3 = K(load) (acc + 3 * LANES);
		}
		for (; q + 2 <= end; q += 2)
		{
			const float *x = xt + (size_t) w->col[q] * ROWS;
			const float *y = xt + (size_t) w->col[q + 1] * ROWS;
			float		u = w->val[q],
						v = w->val[q + 1];

			a0 += u * K(load) (x);
			a1 += u * K(load) (x + LANES);
			a2 += u * K(load) (x + 2 * LANES);
			a3 += u * K(load) (x + 3 * LANES);
			c0 += v * K(load) (y);
			c1 += v * K(load) (y + LANES);
			c2 += v * K(load) (y + 2 * LANES);
			c3 += v * K(load) (y + 3 * LANES);
		}
		if (q < end)
		{
			const float *x = xt + (size_t) w->col[q] * ROWS;
			float		u = w->val[q];

			a0 += u * K(load) (x);
			a1 += u * K(load) (x + LANES);
			a2 += u * K(load) (x + 2 * LANES);
			a3 += u * K(load) (x + 3 * LANES);
		}
		K(store) (acc, a0 + c0);
		K(store) (acc + LANES, a1 + c1);
		K(store) (acc + 2 * LANES, a2 + c2);
		K(store) (acc + 3 * LANES, a3 + c3);
	}
}

/*
 * out rows [m0, m0 + count) (count <= ROWS), outputs [o0, o1): = or +=
 * inp W^T + b. xt: w->panel x ROWS floats, ot: w->rows x ROWS.
 */
ISA_TARGET static void
K(linear_block) (const VqaCsr *w, const float *inp, const float *b, float *out, int m0, int count,
				 int o0, int o1, int accumulate, float *xt, float *ot)
{
	for (int p = 0; p < w->panels; p++)
	{
		int			c0 = p * w->panel;
		int			pc = w->cols - c0 < w->panel ? w->cols - c0 : w->panel;

		K(transpose_in) (inp, w->cols, m0, count, c0, pc, ROWS, xt);
		K(panel_rows) (w, p, o0, o1, xt, ot, p == 0);
	}
	/* the sums back into rows of out, whole LANES x LANES tiles in registers, the edges one by one */
	{
		int			full_k = count / LANES * LANES,
					full_o = o0 + (o1 - o0) / LANES * LANES;

		for (int k = 0; k < full_k; k += LANES)
			for (int o = o0; o < full_o; o += LANES)
				K(transpose_tile_out) (ot + (size_t) o * ROWS + k, ROWS,
									   out + (size_t) (m0 + k) * w->rows + o, (size_t) w->rows,
									   b ? b + o : NULL, accumulate);
		for (int k = 0; k < count; k++)
		{
			float	   *row = out + (size_t) (m0 + k) * w->rows;

			for (int o = k < full_k ? full_o : o0; o < o1; o++)
			{
				float		v = ot[(size_t) o * ROWS + k] + (b ? b[o] : 0.0f);

				row[o] = accumulate ? row[o] + v : v;
			}
		}
	}
}

/*
 * The partial dot products of LANES kept weights' input columns with the
 * output gradient's column d (GRAD_ROWS rows as 8 vectors), for the n <=
 * LANES weights from q on, summed across lanes: grad[q + k] += the
 * weight's dot product. A LANES x LANES transpose turns LANES horizontal
 * sums into LANES - 1 vector additions.
 */
ISA_TARGET static inline void
K(grad_group) (VqaCsr *w, int64_t q, int n, const K(Vec) * d, const float *xt)
{
	K(Vec)		s[LANES];
	K(Vec)		sum;

	for (int k = 0; k < LANES; k++)
	{
		const float *x = xt + (size_t) w->col[q + (k < n ? k : 0)] * GRAD_ROWS;
		K(Vec)		lo = d[0] * K(load) (x),
					hi = d[1] * K(load) (x + LANES);

		/* two chains of four multiply-adds per weight, LANES weights at once */
		for (int i = 2; i < 8; i += 2)
		{
			lo += d[i] * K(load) (x + i * LANES);
			hi += d[i + 1] * K(load) (x + (i + 1) * LANES);
		}
		s[k] = k < n ? lo + hi : (K(Vec)) {0};
	}
	K(transpose_regs) (s);
	sum = s[0];
	for (int k = 1; k < LANES; k++)
		sum += s[k];
	if (n == LANES)
		K(store) (w->grad + q, K(load) (w->grad + q) + sum);
	else
		for (int k = 0; k < n; k++)
			w->grad[q + k] += sum[k];
}

/*
 * grad of the kept weights of outputs [o0, o1) += their entries of
 * dout^T inp over rows [m0, m0 + count) (count <= GRAD_ROWS). xt:
 * w->panel x GRAD_ROWS floats, dt: (o1 - o0) x GRAD_ROWS.
 */
ISA_TARGET static void
K(grad_block) (VqaCsr *w, const float *dout, const float *inp, int m0, int count, int o0, int o1,
			   float *xt, float *dt)
{
	K(transpose_in) (dout, w->rows, m0, count, o0, o1 - o0, GRAD_ROWS, dt);
	for (int p = 0; p < w->panels; p++)
	{
		const int64_t *start = w->start + (size_t) p * w->rows;
		int			c0 = p * w->panel;
		int			pc = w->cols - c0 < w->panel ? w->cols - c0 : w->panel;

		K(transpose_in) (inp, w->cols, m0, count, c0, pc, GRAD_ROWS, xt);
		for (int o = o0; o < o1; o++)
		{
			K(Vec)		d[8];
			int64_t		q = start[o],
						end = start[o + 1];

			for (int i = 0; i < 8; i++)
				d[i] = K(load) (dt + (size_t) (o - o0) * GRAD_ROWS + i * LANES);
			for (; q + LANES <= end; q += LANES)
				K(grad_group) (w, q, LANES, d, xt);
			if (q < end)
				K(grad_group) (w, q, (int) (end - q), d, xt);
		}
	}
}

#undef ROWS
#undef GRAD_ROWS
#undef K
#undef KCAT
#undef KCAT2
