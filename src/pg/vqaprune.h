/*
 * vqaprune.h: helpers shared by the SQL-callable functions (the glue).
 */
#ifndef VQAPRUNE_PG_H
#define VQAPRUNE_PG_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "vqaprune/examples.h"
#include "vqaprune/lxmert.h"
#include "vqaprune/train.h"
#include "vqaprune/vqa_json.h"

/* GUC vqaprune.threads: BLAS threads of one backend */
extern int	vqaprune_threads;

/* GUC vqaprune.verbose: a NOTICE per training epoch */
extern bool vqaprune_verbose;

/* GUC vqaprune.eval_batch_size: examples per forward pass of an evaluation */
extern int	vqaprune_eval_batch_size;

/* GUC vqaprune.train_memory: MB of activations a training step may use (0: any) */
extern int	vqaprune_train_memory;

/* GUC vqaprune.feature_memory: MB of region features a split holds in memory */
extern int	vqaprune_feature_memory;

/* GUC vqaprune.max_jobs: background jobs running at once in a database */
extern int	vqaprune_max_jobs;

/* GUC vqaprune.sparse_density: compacted matrices kept up to this run sparse (-1: measured) */
extern double vqaprune_sparse_density;
/* GUC vqaprune.stage3_sparse_sparsity: Stage 3 trains matrices pruned this much in sparse form */
extern double vqaprune_stage3_sparse_sparsity;

/* Rows are inserted through prepared statements, one execution per row. */
typedef struct RowInserter
{
	SPIPlanPtr	plan;
	int			nargs;
	MemoryContext row_context;	/* reset after every row */
} RowInserter;

extern void RequireReadServerFiles(void);
extern void RequireFileExists(const char *path);
extern VqaJsonReader *OpenJsonFile(const char *path, VqaJsonKind kind);
extern char *RequireTextArg(FunctionCallInfo fcinfo, int argno, const char *name);

extern const char *ExtensionSchema(FunctionCallInfo fcinfo);
extern int64 LookupDatasetId(const char *name);
extern int64 RequireDataset(const char *name);
/* benchmark: 'vqa-cp' (VQA-CP v2, VQA v2) or 'vqa-vs': how its answers are scored */
extern int64 CreateDataset(const char *name, const char *source, const char *benchmark,
						   int min_answer_count, const char *options_json);
/* The SQL function, in the extension's schema, that scores an answer of the dataset. */
extern const char *DatasetAccuracyFunction(int64 dataset_id);
extern void RebuildAnswers(int64 dataset_id);	/* answers.c */
/* The answers of an answer-list file as text[]; an error names the file. */
extern ArrayType *ReadAnswerListFile(const char *path);	/* answers.c */

extern bytea *FloatsToBytea(const float *values, size_t n);
extern void ByteaToFloats(float *out, const char *data, size_t n);
/* n little-endian IEEE half values of stored bytes into out, as they are or as floats (features.c) */
extern void HalfBytesToHalfs(uint16 *out, const char *data, size_t n);
extern void HalfBytesToFloats(float *out, const char *data, size_t n);

extern void RowInserterInit(RowInserter *ins, const char *sql, int nargs, Oid *argtypes);
extern uint64 RowInserterExec(RowInserter *ins, Datum *values, const bool *nulls);

/* Rows of one image and of one question; used by the loaders and vqa_synthetic. */
extern void ImageInserterInit(RowInserter *ins);
extern bool InsertImage(RowInserter *ins, int64 dataset_id, int64 image_id,
						int image_w, int image_h, int num_boxes, int feature_dim,
						const float *boxes, const float *features, bool half);
/* A storage argument, 'float32' (the default, for NULL) or 'float16': whether it is half. */
extern bool ParseFeatureStorage(FunctionCallInfo fcinfo, int argno);

typedef struct QuestionRow
{
	int64		question_id;
	int64		image_id;
	const char *split;
	const char *coco_split;		/* may be NULL */
	const char *question;
	const char *question_type;
	const char *answer_type;
	const char *multiple_choice_answer;
	int			n_answers;
	const char *const *answers;
} QuestionRow;

extern void QuestionInserterInit(RowInserter *ins);
extern bool InsertQuestion(RowInserter *ins, int64 dataset_id, const QuestionRow *row);
/* UTF-8 from a file, as text in the server encoding. */
extern Datum Utf8GetTextDatum(const char *s);

/*
 * questions.c: a question file and its annotation file, paired by question
 * id. Each question is handed to fn as its annotation is read; any mismatch
 * (a question twice, without annotation, an annotation without question or
 * with another image) is an error naming the file and the record. Returns
 * the number of questions.
 */
typedef void (*AnnotatedQuestionFn) (const QuestionRow *row, void *arg);
extern int64 ReadQuestionFiles(const char *questions_path, const char *annotations_path,
							   const char *split, AnnotatedQuestionFn fn, void *arg);
/* The questions of the files written as a split of the dataset. */
extern int64 LoadSplitFiles(int64 dataset_id, const char *split, const char *questions_path,
							const char *annotations_path);

/* models.c */
typedef struct StoredModelInfo
{
	const char *name;
	int64		dataset_id;		/* 0: none */
	int64		parent_id;		/* 0: none */
	int			stage;
	const char *loss;			/* NULL: none */
	const char *method;
	const char *options_json;
	const char *tokenizer_vocab;	/* vocab.txt text, or NULL */
	Datum		answer_vocab;	/* text[] of the answer head's labels, or 0 */
	double		sparsity_target;	/* of a pruned model; NAN: the parent's, if masked */
	bool		compact;		/* masked tensors: only the kept values */
} StoredModelInfo;

extern const char *ModuleName(VqaModule module);
extern void SetComputeThreads(void);
extern int64 LookupModel(const char *name, char **config_json);
extern int64 RequireModel(const char *name, char **config_json);
extern void RequireNewModelName(const char *name);
extern VqaModel *NewCoreModel(const VqaModelConfig *config);
extern int64 StoreModel(const VqaModel *model, const StoredModelInfo *info);
extern int64 StoreAndFree(VqaModel *model, const StoredModelInfo *info);
extern VqaModel *LoadModel(int64 model_id, const char *config_json);
extern void PrepareEvaluation(VqaModel *model);

/* answer_head.c */
/* The answer labels of a dataset, in answer id order; an error if it has none. */
extern ArrayType *DatasetAnswerLabels(int64 dataset_id, const char *dataset);
/*
 * A tensor ("weight" or "bias") of the output layer of HuggingFace's answer
 * head, one row per answer; NULL with a simple_classifier head.
 */
extern const VqaTensor *AnswerOutputTensor(const VqaModel *model, const char *which);
/*
 * Copies into the rows of the model's output layer (HuggingFace's head),
 * labelled `labels`, the rows of an old one labelled `old_labels` with the
 * same string; returns how many.
 */
extern int	TransferHeadRows(VqaModel *model, ArrayType *labels, const float *old_weight,
							 const float *old_bias, ArrayType *old_labels);

/* models.c: whether the model has the paper's modules (LXMERT), to give them their own sparsity */
extern bool HasModules(const VqaModel *model);

/* examples_load.c */
extern VqaExamples *LoadExamples(int64 dataset_id, const char *dataset, const char *split,
								 int64 model_id, const char *model, const VqaModelConfig *config,
								 bool with_targets);

/* options.c: a function's jsonb options */
extern JsonbValue *OptionValue(Jsonb *options, const char *key);
extern double OptionNumber(Jsonb *options, const char *key, double fallback);
extern int	OptionInt(Jsonb *options, const char *key, int fallback);
extern char *OptionText(Jsonb *options, const char *key, const char *fallback);
extern bool OptionBool(Jsonb *options, const char *key, bool fallback);
extern bool OptionNumberObject(Jsonb *options, const char *key, const char *const *names,
							   int n_names, double *values);
extern void RequireKnownOptions(Jsonb *options, const char *const *names, int n_names);

/* training.c: what vqa_finetune and vqa_prune share */
typedef struct TrainOptions
{
	VqaTrainConfig train;
	double		dropout;		/* < 0: the model's */
	char	   *eval_split;		/* NULL: none */
	double		checkpoint_minutes; /* in a job, between checkpoints */
} TrainOptions;

typedef struct TrainingRun
{
	const char *function;		/* for progress reports */
	const char *name;			/* of the model being made */
	VqaModel *model;
	VqaTrainer *trainer;
	int			epochs;
	VqaExamples *eval;			/* NULL: no evaluation per epoch */
	const char *eval_split;
	bool		keep_best;		/* keep the weights (and mask) of the best eval epoch */
	double		checkpoint_minutes; /* in a job, between checkpoints */
	int64		model_id;		/* what the run trains from, for vqa_resume's checks */
	int64		dataset_id;
} TrainingRun;

typedef enum TrainingOutcome
{
	TRAINING_ENDED,
	TRAINING_ENDED_AT_BEST,		/* keep_best restored the best epoch's weights */
	TRAINING_SUSPENDED			/* a job's checkpoint was saved: nothing is to be stored now */
} TrainingOutcome;

extern void ParseLoss(const char *loss, VqaTrainConfig *train);
extern void ReadTrainOptions(Jsonb *options, TrainOptions *o, int epochs, int batch_size,
							 const char *optimizer_default, const char *loss_params_default);
extern void AppendTrainOptions(StringInfo buf, const TrainOptions *o, float dropout);
/* With vqaprune.train_memory and no micro_batch_size: the micro-batch that fits it. */
extern void ChooseMicroBatch(TrainOptions *o, const VqaModelConfig *config, const VqaExamples *train);
extern VqaExamples *TrainingExamples(int64 dataset_id, const char *dataset, const char *split,
									 int64 model_id, const char *model, const VqaModelConfig *config);
extern void RequireMatchingAnswers(int64 model_id, const char *model, int64 dataset_id,
								   const char *dataset);
extern void RequirePriorIfNeeded(const VqaTrainConfig *train, const char *loss, int64 dataset_id,
								 const char *dataset);
extern void ReportPhase(const char *function, const char *name, const char *phase);
/*
 * Runs the epochs, with an evaluation after each if run->eval. In mask
 * training the mask is made from the scores before each evaluation, as it
 * would be stored. Says whether it restored the best epoch's weights (and
 * mask) for keep_best, or, in a checkpointing job (checkpoint.c), stopped
 * at a checkpoint: it starts from the job's checkpoint if there is one.
 */
extern TrainingOutcome RunTraining(const TrainingRun *run, StringInfo metrics);
extern int64 StoreTrainedModel(const VqaModel *model, StoredModelInfo *info,
							   const char *metrics_json);

#endif
