/*
 * fixture.h: what the unit tests of the backbones share: reading the
 * reference fixtures (test/fixtures: safetensors files, their tensors, a
 * fixture model), comparing against the reference with a stated
 * tolerance, and the checks every backbone passes alike. Every helper
 * asserts (cmocka) what it needs, so a test reads as its checks.
 */
#ifndef VQAPRUNE_UNIT_FIXTURE_H
#define VQAPRUNE_UNIT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "vqaprune/model.h"
#include "vqaprune/safetensors.h"

/* The fixtures' dir/file, opened ("" for dir: the fixtures' top). */
VqaSafetensors *unit_open_fixture(const char *dir, const char *file);

/* Tensor name of st as malloc'd floats; its element count into *numel if not NULL. */
float	   *unit_read_floats(const VqaSafetensors *st, const char *name, int64_t *numel);

/* Tensor name of st (ids, masks: stored as numbers) as malloc'd int32s. */
int32_t    *unit_read_ints(const VqaSafetensors *st, const char *name);

/*
 * max |a - b| into *maxdiff; whether every element is within abs_tol or
 * rel_tol * |b|, b the reference.
 */
int			unit_close_enough(const float *a, const float *b, size_t n, double abs_tol,
							  double rel_tol, double *maxdiff);

/*
 * The model of config_dir/config.json with answer head head, and the
 * weights of weights_dir/model.safetensors: every tensor by name, of the
 * model's shape, and the model has no others.
 */
VqaModel   *unit_fixture_model(const char *config_dir, VqaAnswerHead head,
							   const char *weights_dir);

/*
 * Dropout on (0.2) in training: the same seed and step give the same
 * logits, which differ from evaluation's; evaluation is as before.
 */
void		unit_check_dropout_is_seeded(VqaModel *model, const VqaBatch *batch);

/* A scalar loss of the model's parameters as they are now (arg: the test's setup). */
typedef double (*UnitLoss) (void *arg);

/*
 * The central difference (eps) of loss at parameter j of tensor t against
 * the analytic gradient model->grads[j]: asserted within 5% plus 2e-3
 * (float32 differences are noisy); returns whether within 1% plus 1e-3.
 */
int			unit_check_central_difference(VqaModel *model, const VqaTensor *t, size_t j, float eps,
										  UnitLoss loss, void *arg);

#endif
