/*
 * fixture.c: the reference fixtures' readers and the shared checks of the
 * backbones' unit tests (fixture.h).
 */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"

VqaSafetensors *
unit_open_fixture(const char *dir, const char *file)
{
	char		path[1024];
	char		err[256];
	VqaSafetensors *st;

	snprintf(path, sizeof(path), "%s/%s%s%s", unit_fixtures_dir(), dir, *dir ? "/" : "", file);
	st = vqa_st_open(path, err, sizeof(err));
	if (st == NULL)
		print_error("%s: %s\n", path, err);
	assert_non_null(st);
	return st;
}

float *
unit_read_floats(const VqaSafetensors *st, const char *name, int64_t *numel)
{
	const VqaStTensor *t = vqa_st_find(st, name);
	float	   *out;

	if (t == NULL)
		print_error("fixture tensor %s is missing\n", name);
	assert_non_null(t);
	out = malloc(sizeof(float) * (t->numel > 0 ? t->numel : 1));
	vqa_st_read_f32(st, t, out);
	if (numel)
		*numel = t->numel;
	return out;
}

int32_t *
unit_read_ints(const VqaSafetensors *st, const char *name)
{
	int64_t		n;
	float	   *f = unit_read_floats(st, name, &n);
	int32_t    *out = malloc(sizeof(int32_t) * (n > 0 ? n : 1));

	for (int64_t i = 0; i < n; i++)
		out[i] = (int32_t) f[i];
	free(f);
	return out;
}

int
unit_close_enough(const float *a, const float *b, size_t n, double abs_tol, double rel_tol,
				  double *maxdiff)
{
	int			ok = 1;

	*maxdiff = 0.0;
	for (size_t i = 0; i < n; i++)
	{
		double		d = fabs((double) a[i] - b[i]);

		if (d > *maxdiff)
			*maxdiff = d;
		if (d > abs_tol && d > rel_tol * fabs(b[i]))
			ok = 0;
	}
	return ok;
}

VqaModel *
unit_fixture_model(const char *config_dir, VqaAnswerHead head, const char *weights_dir)
{
	char		path[1024];
	char		err[256];
	char	   *json;
	VqaModelConfig config;
	VqaModel   *model;
	VqaSafetensors *st;

	snprintf(path, sizeof(path), "%s/%s/config.json", unit_fixtures_dir(), config_dir);
	json = unit_read_file(path, NULL);
	assert_non_null(json);
	assert_int_equal(vqa_model_config_parse(json, &config, err, sizeof(err)), 0);
	free(json);
	config.answer_head = head;
	model = vqa_model_new(&config, err, sizeof(err));
	assert_non_null(model);

	st = unit_open_fixture(weights_dir, "model.safetensors");
	assert_int_equal(vqa_st_count(st), model->n_tensors);
	for (int i = 0; i < vqa_st_count(st); i++)
	{
		const VqaStTensor *t = vqa_st_tensor(st, i);
		const VqaTensor *mine = vqa_model_find_tensor(model, t->name);

		if (mine == NULL)
			print_error("no tensor %s in the C model\n", t->name);
		assert_non_null(mine);
		assert_int_equal(t->ndim, mine->ndim);
		for (int d = 0; d < t->ndim; d++)
			assert_int_equal(t->shape[d], mine->shape[d]);
		vqa_st_read_f32(st, t, model->params + mine->offset);
	}
	vqa_st_free(st);
	return model;
}

void
unit_check_dropout_is_seeded(VqaModel *model, const VqaBatch *batch)
{
	size_t		n = (size_t) batch->batch * model->config.num_qa_labels;
	float	   *a = malloc(sizeof(float) * 3 * n),
			   *b = a + n,
			   *e = b + n;

	model->config.hidden_dropout_prob = 0.2f;
	model->config.attention_probs_dropout_prob = 0.2f;
	assert_int_equal(vqa_model_forward(model, batch, e, NULL, NULL), 0);
	model->training = 1;
	model->dropout_seed = 5;
	model->dropout_step = 0;
	assert_int_equal(vqa_model_forward(model, batch, a, NULL, NULL), 0);
	model->dropout_step = 0;
	assert_int_equal(vqa_model_forward(model, batch, b, NULL, NULL), 0);
	assert_memory_equal(a, b, sizeof(float) * n);
	assert_memory_not_equal(a, e, sizeof(float) * n);
	model->training = 0;
	assert_int_equal(vqa_model_forward(model, batch, a, NULL, NULL), 0);
	assert_memory_equal(a, e, sizeof(float) * n);
	free(a);
}

int
unit_check_central_difference(VqaModel *model, const VqaTensor *t, size_t j, float eps,
							  UnitLoss loss, void *arg)
{
	float		saved = model->params[j];
	double		analytic = model->grads[j],
				up,
				down,
				numeric;

	model->params[j] = saved + eps;
	up = loss(arg);
	model->params[j] = saved - eps;
	down = loss(arg);
	model->params[j] = saved;
	numeric = (up - down) / (2 * eps);
	if (fabs(numeric - analytic) > 0.05 * fabs(analytic) + 2e-3)
		print_error("%s[%zu]: analytic %.6g, numeric %.6g\n", t->name, j - t->offset, analytic,
					numeric);
	assert_true(fabs(numeric - analytic) <= 0.05 * fabs(analytic) + 2e-3);
	return fabs(numeric - analytic) <= 0.01 * fabs(analytic) + 1e-3;
}
