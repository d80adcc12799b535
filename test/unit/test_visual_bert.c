/*
 * test_visual_bert.c: the C VisualBERT against the PyTorch reference
 * (test/bench/visualbert_ref.py, written from HuggingFace's
 * modeling_visual_bert.py and the paper authors' code), and its gradients
 * against finite differences; its config keys and the prunable set.
 *
 * The fixture visualbert/tiny holds both answer heads (qa/: HuggingFace's
 * VisualBertForQuestionAnswering; simple-classifier/: the authors'), their
 * inputs, outputs, hidden states and the gradient of every parameter.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "vqaprune/visual_bert.h"

static char *
fixture_config_json(void)
{
	char		path[1024];
	char	   *json;

	snprintf(path, sizeof(path), "%s/visualbert/tiny/config.json", unit_fixtures_dir());
	json = unit_read_file(path, NULL);
	assert_non_null(json);
	return json;
}

/* parse must fail with exactly this message */
static void
assert_config_error(const char *json, const char *message)
{
	VqaModelConfig c;
	char		err[256] = "";

	if (vqa_model_config_parse(json, &c, err, sizeof(err)) != -1 || strcmp(err, message) != 0)
		print_error("%s: got \"%s\", expected \"%s\"\n", json, err, message);
	assert_int_equal(vqa_model_config_parse(json, &c, err, sizeof(err)), -1);
	assert_string_equal(err, message);
}

static void
assert_round_trip(const VqaModelConfig *c)
{
	char	   *json = vqa_model_config_to_json(c);
	VqaModelConfig back;
	char		err[256];

	assert_non_null(json);
	if (vqa_model_config_parse(json, &back, err, sizeof(err)) != 0)
		print_error("%s: %s\n", json, err);
	assert_int_equal(vqa_model_config_parse(json, &back, err, sizeof(err)), 0);
	assert_memory_equal(c, &back, sizeof(back));
	free(json);
}

static void
config_from_json(void **state)
{
	VqaModelConfig c;
	char		err[256];
	char	   *json = fixture_config_json();

	/* the fixture's HuggingFace config.json, as it is */
	assert_int_equal(vqa_model_config_parse(json, &c, err, sizeof(err)), 0);
	free(json);
	assert_int_equal(c.model_type, VQA_MODEL_VISUAL_BERT);
	assert_int_equal(c.hidden_size, 32);
	assert_int_equal(c.num_hidden_layers, 2);
	assert_int_equal(c.num_attention_heads, 4);
	assert_int_equal(c.intermediate_size, 64);
	assert_int_equal(c.visual_feat_dim, 24);
	assert_int_equal(c.num_qa_labels, 12);
	assert_int_equal(c.vocab_size, 64);
	assert_int_equal(c.max_position_embeddings, 24);
	assert_int_equal(c.pad_token_id, 1);
	assert_int_equal(c.l_layers + c.r_layers + c.x_layers, 0);
	assert_true(c.layer_norm_eps == 1e-12f && c.hidden_dropout_prob == 0.0f);
	assert_int_equal(c.answer_head, VQA_HEAD_HUGGINGFACE);
	assert_round_trip(&c);

	/* HuggingFace's VisualBertConfig defaults */
	assert_int_equal(vqa_model_config_parse("{\"model_type\": \"visual_bert\"}", &c, err,
											sizeof(err)), 0);
	assert_int_equal(c.hidden_size, 768);
	assert_int_equal(c.num_hidden_layers, 12);
	assert_int_equal(c.num_attention_heads, 12);
	assert_int_equal(c.intermediate_size, 3072);
	assert_int_equal(c.visual_feat_dim, 512);
	assert_int_equal(c.vocab_size, 30522);
	assert_int_equal(c.max_position_embeddings, 512);
	assert_int_equal(c.type_vocab_size, 2);
	assert_int_equal(c.pad_token_id, 1);
	assert_int_equal(c.num_qa_labels, 2);
	assert_true(c.hidden_dropout_prob == 0.1f && c.attention_probs_dropout_prob == 0.1f);
	assert_int_equal(c.question_tokens, 20);
	assert_true(c.special_tokens && c.attention_mask);
	assert_round_trip(&c);

	/* the authors' model: their head and question encoding, their ans_num */
	assert_int_equal(vqa_model_config_parse("{\"model_type\": \"visual_bert\", \"ans_num\": 7, "
											"\"answer_head\": \"simple_classifier\", "
											"\"question_tokens\": 14, \"special_tokens\": false, "
											"\"attention_mask\": false, \"hidden_size\": 64, "
											"\"num_attention_heads\": 4, \"num_hidden_layers\": 0}",
											&c, err, sizeof(err)), 0);
	assert_int_equal(c.answer_head, VQA_HEAD_SIMPLE_CLASSIFIER);
	assert_int_equal(c.num_qa_labels, 7);
	assert_int_equal(c.num_hidden_layers, 0);
	assert_int_equal(c.question_tokens, 14);
	assert_false(c.special_tokens || c.attention_mask);
	assert_round_trip(&c);

	/* the answer count from any of its keys, when they agree */
	assert_int_equal(vqa_model_config_parse("{\"model_type\": \"visual_bert\", \"num_labels\": 3, "
											"\"num_qa_labels\": 3, \"id2label\": {\"0\": \"a\", "
											"\"1\": \"b\", \"2\": \"c\"}}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.num_qa_labels, 3);
	/* a small max_position_embeddings shrinks the default question length */
	assert_int_equal(vqa_model_config_parse("{\"model_type\": \"visual_bert\", "
											"\"max_position_embeddings\": 12}", &c, err,
											sizeof(err)), 0);
	assert_int_equal(c.question_tokens, 12);
}

static void
config_errors(void **state)
{
	assert_config_error("{\"model_type\": \"bert\"}",
						"config key \"model_type\" must be \"lxmert\" or \"visual_bert\"");
	assert_config_error("{\"model_type\": 3}",
						"config key \"model_type\" must be \"lxmert\" or \"visual_bert\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"hidden_size\": 30, "
						"\"num_attention_heads\": 4}",
						"invalid VisualBERT config: hidden_size must be a multiple of "
						"num_attention_heads");
	assert_config_error("{\"model_type\": \"visual_bert\", \"hidden_size\": 0}",
						"invalid VisualBERT config: sizes must be positive");
	assert_config_error("{\"model_type\": \"visual_bert\", \"intermediate_size\": -4}",
						"invalid VisualBERT config: sizes must be positive");
	assert_config_error("{\"model_type\": \"visual_bert\", \"visual_embedding_dim\": 0}",
						"invalid VisualBERT config: sizes must be positive");
	assert_config_error("{\"model_type\": \"visual_bert\", \"num_labels\": 0}",
						"invalid VisualBERT config: sizes must be positive");
	assert_config_error("{\"model_type\": \"visual_bert\", \"num_hidden_layers\": -1}",
						"invalid VisualBERT config: num_hidden_layers must not be negative");
	assert_config_error("{\"model_type\": \"visual_bert\", \"num_hidden_layers\": \"two\"}",
						"config key \"num_hidden_layers\" must be an integer");
	assert_config_error("{\"model_type\": \"visual_bert\", \"vocab_size\": 64, \"pad_token_id\": 64}",
						"invalid VisualBERT config: pad_token_id must be a token id below vocab_size");
	assert_config_error("{\"model_type\": \"visual_bert\", \"pad_token_id\": -1}",
						"invalid VisualBERT config: pad_token_id must be a token id below vocab_size");
	assert_config_error("{\"model_type\": \"visual_bert\", \"type_vocab_size\": 1}",
						"invalid VisualBERT config: type_vocab_size must be at least 2: the regions "
						"have token type 1");
	assert_config_error("{\"model_type\": \"visual_bert\", \"layer_norm_eps\": 0}",
						"invalid VisualBERT config: layer_norm_eps must be positive");
	assert_config_error("{\"model_type\": \"visual_bert\", \"hidden_dropout_prob\": 1}",
						"invalid VisualBERT config: dropout probabilities must be in [0, 1)");
	assert_config_error("{\"model_type\": \"visual_bert\", \"answer_head\": \"lxmert\"}",
						"config key \"answer_head\" must be \"visual_bert\" or \"simple_classifier\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"hidden_act\": \"relu\"}",
						"config key \"hidden_act\" must be \"gelu\": the exact erf GeLU is the only "
						"activation implemented");
	assert_config_error("{\"model_type\": \"visual_bert\", \"bypass_transformer\": true}",
						"config key \"bypass_transformer\" must be false: the bypass is not "
						"implemented");
	assert_config_error("{\"model_type\": \"visual_bert\", \"num_labels\": 12, \"num_qa_labels\": 13}",
						"config keys \"num_labels\" and \"num_qa_labels\" give different numbers of "
						"answers (12 and 13)");
	assert_config_error("{\"model_type\": \"visual_bert\", \"num_labels\": 2, \"id2label\": {\"0\": \"a\"}}",
						"config keys \"num_labels\" and \"id2label\" give different numbers of "
						"answers (2 and 1)");
	assert_config_error("{\"model_type\": \"visual_bert\", \"question_tokens\": 600}",
						"invalid VisualBERT config: question_tokens must be at least 1 (2 with "
						"special tokens) and at most max_position_embeddings");
	assert_config_error("{\"model_type\": \"visual_bert\", \"special_tokens\": 1}",
						"config key \"special_tokens\" must be true or false");

	/* LXMERT's structural keys in a VisualBERT config, and the reverse */
	assert_config_error("{\"model_type\": \"visual_bert\", \"l_layers\": 2}",
						"config key \"l_layers\" is LXMERT's, not VisualBERT's: VisualBERT's is "
						"\"num_hidden_layers\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"r_layers\": 2}",
						"config key \"r_layers\" is LXMERT's, not VisualBERT's: VisualBERT's is "
						"\"num_hidden_layers\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"x_layers\": 2}",
						"config key \"x_layers\" is LXMERT's, not VisualBERT's: VisualBERT's is "
						"\"num_hidden_layers\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"visual_feat_dim\": 2048}",
						"config key \"visual_feat_dim\" is LXMERT's, not VisualBERT's: VisualBERT's "
						"is \"visual_embedding_dim\"");
	assert_config_error("{\"model_type\": \"visual_bert\", \"visual_pos_dim\": 4}",
						"config key \"visual_pos_dim\" is LXMERT's, not VisualBERT's: VisualBERT "
						"does not read boxes");
	assert_config_error("{\"visual_embedding_dim\": 2048}",
						"config key \"visual_embedding_dim\" is VisualBERT's, not LXMERT's: a "
						"VisualBERT config needs \"model_type\": \"visual_bert\"");
	assert_config_error("{\"model_type\": \"lxmert\", \"num_hidden_layers\": 12}",
						"config key \"num_hidden_layers\" is VisualBERT's, not LXMERT's: a "
						"VisualBERT config needs \"model_type\": \"visual_bert\"");
}

/* A config built in C is checked as one parsed from JSON. */
static void
config_check_catches_foreign_fields(void **state)
{
	VqaModelConfig c;
	char		err[256];
	VqaModel   *m;

	visual_bert_config_default(&c);
	c.l_layers = 1;
	assert_string_equal(vqa_model_config_check(&c),
						"LXMERT's layer counts must be 0: VisualBERT's is num_hidden_layers");
	m = vqa_model_new(&c, err, sizeof(err));
	assert_null(m);
	assert_string_equal(err, "invalid VisualBERT config: LXMERT's layer counts must be 0: "
						"VisualBERT's is num_hidden_layers");
	vqa_model_config_default(&c);
	c.num_hidden_layers = 2;
	assert_string_equal(vqa_model_config_check(&c), "num_hidden_layers is VisualBERT's: LXMERT's "
						"layer counts are l_layers, r_layers and x_layers");
}

int
run_visual_bert_tests(int *n_tests)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_from_json),
		cmocka_unit_test(config_errors),
		cmocka_unit_test(config_check_catches_foreign_fields),
	};

	return UNIT_GROUP(visual_bert, tests, n_tests);
}
