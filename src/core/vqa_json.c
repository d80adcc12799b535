/*
 * vqa_json.c: pull-style streaming readers for the VQA JSON files.
 *
 * The VQA files are big (a 438k-question VQA-CP file is ~60 MB, an annotation
 * file ~400 MB), so they are never turned into a parse tree. yajl is a push
 * parser: we read the input in chunks of 64 KB and feed them to it, and its
 * callbacks drive a small state machine that fills in one record at a time.
 * Every record finished while a chunk is parsed goes into a queue, which
 * vqa_json_next pops from; a new chunk is fed only once the queue is empty.
 * Memory is therefore bounded by one chunk's worth of records.
 *
 * Strings of the queued records live in one arena. It is compacted (not
 * freed) whenever the queue runs dry, keeping only the part of the record
 * still being parsed, so reading a file costs no malloc per record.
 *
 * Two layouts are accepted, told apart by the first value of the file:
 *   [ {...}, ... ]                   VQA-CP v2: a plain list of records
 *   { "info": ..., "questions": [ {...}, ... ], ... }
 *                                    VQA v2: the list under "questions" or
 *                                    "annotations"; every other key skipped
 * Results files are plain lists of {"question_id", "answer"}.
 *
 * Unknown keys of a record are skipped whatever their value. Errors name the
 * record by its 0-based position in the list and its question_id when that
 * was already read, e.g. record 17 (question_id 42): field "image_id" is
 * missing. Records finished before an error are still returned first, so the
 * outcome does not depend on where chunk boundaries fall.
 */
#include "vqaprune/error.h"
#include "vqaprune/vqa_json.h"
#include "vqa_json_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#define ERROR_LEN 512


/* Fields of a record we know about; anything else is skipped. */
typedef enum Field
{
	FIELD_UNKNOWN,
	FIELD_QUESTION_ID,
	FIELD_IMAGE_ID,
	FIELD_QUESTION,
	FIELD_COCO_SPLIT,
	FIELD_QUESTION_TYPE,
	FIELD_ANSWER_TYPE,
	FIELD_MC_ANSWER,
	FIELD_ANSWERS,
	FIELD_ANSWER
} Field;

/* String slots of a pending record, in the order of the Field values. */
typedef enum Slot
{
	SLOT_QUESTION,
	SLOT_COCO_SPLIT,
	SLOT_QUESTION_TYPE,
	SLOT_ANSWER_TYPE,
	SLOT_MC_ANSWER,
	SLOT_ANSWER,
	N_SLOTS
} Slot;

typedef struct FieldName
{
	const char *name;
	size_t		len;
	Field		field;
} FieldName;

#define FN(s, f) {s, sizeof(s) - 1, f}

static const FieldName question_fields[] = {
	FN("question_id", FIELD_QUESTION_ID),
	FN("image_id", FIELD_IMAGE_ID),
	FN("question", FIELD_QUESTION),
	FN("coco_split", FIELD_COCO_SPLIT),
	{NULL, 0, FIELD_UNKNOWN}
};

static const FieldName annotation_fields[] = {
	FN("question_id", FIELD_QUESTION_ID),
	FN("image_id", FIELD_IMAGE_ID),
	FN("question_type", FIELD_QUESTION_TYPE),
	FN("answer_type", FIELD_ANSWER_TYPE),
	FN("multiple_choice_answer", FIELD_MC_ANSWER),
	FN("answers", FIELD_ANSWERS),
	{NULL, 0, FIELD_UNKNOWN}
};

static const FieldName result_fields[] = {
	FN("question_id", FIELD_QUESTION_ID),
	FN("answer", FIELD_ANSWER),
	{NULL, 0, FIELD_UNKNOWN}
};

#undef FN

/* One record, its strings held as offsets into the reader's arena (-1: absent). */
typedef struct PendingRecord
{
	long		index;			/* position in the list */
	int64_t		question_id;
	int64_t		image_id;
	bool		has_question_id;
	bool		has_image_id;
	bool		has_answers;
	int			n_answers;
	ptrdiff_t	str[N_SLOTS];
	ptrdiff_t	answers[VQA_MAX_ANSWERS];
} PendingRecord;

/* Where the parser stands; the comment says which events are expected. */
typedef enum State
{
	ST_TOP,						/* the first value: [ or { */
	ST_WRAPPER,					/* top-level object: a key or } */
	ST_WRAPPER_LIST,			/* value of "questions": [ */
	ST_LIST,					/* list of records: { or ] */
	ST_RECORD_KEY,				/* a record: a key or } */
	ST_RECORD_VALUE,			/* value of a known field */
	ST_ANSWERS,					/* "answers" list: { or ] */
	ST_ANSWER_KEY,				/* one answer object: a key or } */
	ST_ANSWER_VALUE,			/* value of "answer" */
	ST_SKIP,					/* any value, skipped */
	ST_DONE						/* the list is closed */
} State;

/* The events yajl reports, funnelled into one handler. */
typedef enum Event
{
	EV_NULL,
	EV_BOOL,
	EV_NUMBER,
	EV_STRING,
	EV_KEY,
	EV_START_MAP,
	EV_END_MAP,
	EV_START_ARRAY,
	EV_END_ARRAY
} Event;

struct VqaJsonReader
{
	VqaJsonKind kind;
	const FieldName *fields;
	const char *list_key;		/* "questions", "annotations" or NULL */

	/* input */
	FILE	   *file;
	const char *data;			/* buffer mode */
	size_t		data_len;
	char	   *chunk;			/* file mode */
	size_t		chunk_size;
	size_t		bytes_fed;
	bool		seen_content;	/* a non-space byte was fed */
	bool		finished;		/* the whole input was parsed */
	bool		failed;

	yajl_handle yajl;

	/* parser state */
	State		state;
	State		skip_return;
	int			skip_depth;
	bool		wrapped;
	bool		list_seen;
	bool		in_record;
	Field		field;			/* field whose value comes next */
	ptrdiff_t	cur_answer;
	long		n_listed;		/* records begun */
	PendingRecord cur;
	size_t		cur_base;		/* arena offset where cur's strings begin */

	/* finished records waiting to be returned */
	PendingRecord *queue;
	int			q_head;
	int			q_len;
	int			q_cap;
	char	   *arena;
	size_t		arena_len;
	size_t		arena_cap;

	long		n_returned;
	char		error[ERROR_LEN];
};

static const char *
field_name(Field f)
{
	switch (f)
	{
		case FIELD_QUESTION_ID:
			return "question_id";
		case FIELD_IMAGE_ID:
			return "image_id";
		case FIELD_QUESTION:
			return "question";
		case FIELD_COCO_SPLIT:
			return "coco_split";
		case FIELD_QUESTION_TYPE:
			return "question_type";
		case FIELD_ANSWER_TYPE:
			return "answer_type";
		case FIELD_MC_ANSWER:
			return "multiple_choice_answer";
		case FIELD_ANSWERS:
			return "answers";
		case FIELD_ANSWER:
			return "answer";
		case FIELD_UNKNOWN:
			break;
	}
	return "?";
}

static Slot
field_slot(Field f)
{
	switch (f)
	{
		case FIELD_QUESTION:
			return SLOT_QUESTION;
		case FIELD_COCO_SPLIT:
			return SLOT_COCO_SPLIT;
		case FIELD_QUESTION_TYPE:
			return SLOT_QUESTION_TYPE;
		case FIELD_ANSWER_TYPE:
			return SLOT_ANSWER_TYPE;
		case FIELD_MC_ANSWER:
			return SLOT_MC_ANSWER;
		default:
			return SLOT_ANSWER;
	}
}

static int	file_error(VqaJsonReader *r, const char *fmt,...) CHECK_FORMAT(2, 3);
static int	record_error(VqaJsonReader *r, const char *fmt,...) CHECK_FORMAT(2, 3);

/* Sets a message about the whole file and stops the parse. */
static int
file_error(VqaJsonReader *r, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	r->failed = true;
	return 0;
}

/* Sets a message about the current record and stops the parse. */
static int
record_error(VqaJsonReader *r, const char *fmt,...)
{
	va_list		ap;
	int			n;

	if (r->cur.has_question_id)
		n = snprintf(r->error, sizeof(r->error), "record %ld (question_id %lld): ",
					 r->cur.index, (long long) r->cur.question_id);
	else
		n = snprintf(r->error, sizeof(r->error), "record %ld: ", r->cur.index);
	va_start(ap, fmt);
	vsnprintf(r->error + n, sizeof(r->error) - n, fmt, ap);
	va_end(ap);
	r->failed = true;
	return 0;
}

static int
answers_error(VqaJsonReader *r)
{
	return record_error(r, "field \"answers\" must be a list of 1 to %d objects with an \"answer\" string",
						VQA_MAX_ANSWERS);
}

/* Copies a string into the arena, NUL-terminated; its offset, or -1. */
static ptrdiff_t
store_string(VqaJsonReader *r, const unsigned char *s, size_t len)
{
	ptrdiff_t	off;

	if (r->arena_cap - r->arena_len < len + 1)
	{
		size_t		cap = r->arena_cap ? r->arena_cap : 4096;
		char	   *grown;

		while (cap - r->arena_len < len + 1)
			cap *= 2;
		grown = realloc(r->arena, cap);
		if (grown == NULL)
		{
			file_error(r, "out of memory");
			return -1;
		}
		r->arena = grown;
		r->arena_cap = cap;
	}
	off = (ptrdiff_t) r->arena_len;
	memcpy(r->arena + off, s, len);
	r->arena[off + len] = '\0';
	r->arena_len += len + 1;
	return off;
}

/* A string value of the current record, refusing embedded NULs. */
static int
set_string(VqaJsonReader *r, ptrdiff_t *slot, Field f,
		   const unsigned char *s, size_t len)
{
	if (memchr(s, '\0', len) != NULL)
		return record_error(r, "field \"%s\" contains a NUL character", field_name(f));
	*slot = store_string(r, s, len);
	return *slot >= 0;
}

/* A JSON number that must be an integer within int64. */
static int
set_integer(VqaJsonReader *r, int64_t *dst, Field f, const char *s, size_t len)
{
	char		buf[32];
	char	   *end;
	long long	v;

	if (memchr(s, '.', len) || memchr(s, 'e', len) || memchr(s, 'E', len))
		return record_error(r, "field \"%s\" must be an integer", field_name(f));
	if (len >= sizeof(buf))
		return record_error(r, "field \"%s\" is out of the int64 range", field_name(f));
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno == ERANGE)
		return record_error(r, "field \"%s\" is out of the int64 range", field_name(f));
	if (*end != '\0')
		return record_error(r, "field \"%s\" must be an integer", field_name(f));
	*dst = (int64_t) v;
	return 1;
}

static Field
lookup_field(const FieldName *fields, const unsigned char *key, size_t len)
{
	for (; fields->name != NULL; fields++)
	{
		if (fields->len == len && memcmp(fields->name, key, len) == 0)
			return fields->field;
	}
	return FIELD_UNKNOWN;
}

static void
begin_record(VqaJsonReader *r)
{
	int			i;

	r->cur.index = r->n_listed++;
	r->cur.has_question_id = false;
	r->cur.has_image_id = false;
	r->cur.has_answers = false;
	r->cur.n_answers = 0;
	for (i = 0; i < N_SLOTS; i++)
		r->cur.str[i] = -1;
	r->cur_base = r->arena_len;
	r->in_record = true;
}

/* Checks the required fields of the current record and queues it. */
static int
finish_record(VqaJsonReader *r)
{
	PendingRecord *c = &r->cur;

	if (!c->has_question_id)
		return record_error(r, "field \"question_id\" is missing");
	switch (r->kind)
	{
		case VQA_JSON_QUESTIONS:
			if (!c->has_image_id)
				return record_error(r, "field \"image_id\" is missing");
			if (c->str[SLOT_QUESTION] < 0)
				return record_error(r, "field \"question\" is missing");
			break;
		case VQA_JSON_ANNOTATIONS:
			if (!c->has_image_id)
				return record_error(r, "field \"image_id\" is missing");
			if (c->str[SLOT_QUESTION_TYPE] < 0)
				return record_error(r, "field \"question_type\" is missing");
			if (c->str[SLOT_ANSWER_TYPE] < 0)
				return record_error(r, "field \"answer_type\" is missing");
			if (c->str[SLOT_MC_ANSWER] < 0)
				return record_error(r, "field \"multiple_choice_answer\" is missing");
			if (!c->has_answers)
				return record_error(r, "field \"answers\" is missing");
			break;
		case VQA_JSON_RESULTS:
			if (c->str[SLOT_ANSWER] < 0)
				return record_error(r, "field \"answer\" is missing");
			break;
	}

	if (r->q_len == r->q_cap)
	{
		int			cap = r->q_cap ? r->q_cap * 2 : 64;
		PendingRecord *grown = realloc(r->queue, (size_t) cap * sizeof(*grown));

		if (grown == NULL)
			return file_error(r, "out of memory");
		r->queue = grown;
		r->q_cap = cap;
	}
	r->queue[r->q_len++] = *c;
	r->in_record = false;
	r->cur_base = r->arena_len;
	return 1;
}

static void
start_skip(VqaJsonReader *r, State back)
{
	r->state = ST_SKIP;
	r->skip_return = back;
	r->skip_depth = 0;
}

static int
no_list_error(VqaJsonReader *r)
{
	if (r->list_key == NULL)
		return file_error(r, "the file holds no list of results");
	return file_error(r, "the file holds no \"%s\" list", r->list_key);
}

/* The value of a known record field. */
static int
record_value(VqaJsonReader *r, Event ev, const char *s, size_t len)
{
	Field		f = r->field;

	r->state = ST_RECORD_KEY;
	switch (f)
	{
		case FIELD_QUESTION_ID:
		case FIELD_IMAGE_ID:
			if (ev != EV_NUMBER)
				return record_error(r, "field \"%s\" must be an integer", field_name(f));
			if (f == FIELD_QUESTION_ID)
			{
				if (!set_integer(r, &r->cur.question_id, f, s, len))
					return 0;
				r->cur.has_question_id = true;
			}
			else
			{
				if (!set_integer(r, &r->cur.image_id, f, s, len))
					return 0;
				r->cur.has_image_id = true;
			}
			return 1;
		case FIELD_ANSWERS:
			if (ev != EV_START_ARRAY)
				return answers_error(r);
			r->cur.n_answers = 0;
			r->state = ST_ANSWERS;
			return 1;
		default:
			break;
	}

	/* string fields */
	if (ev == EV_NULL && f == FIELD_COCO_SPLIT)
	{
		r->cur.str[SLOT_COCO_SPLIT] = -1;
		return 1;
	}
	if (ev != EV_STRING)
		return record_error(r, "field \"%s\" must be a string", field_name(f));
	return set_string(r, &r->cur.str[field_slot(f)], f, (const unsigned char *) s, len);
}

/* One parse event; returns 0 to stop the parse (with r->error set). */
static int
on_event(VqaJsonReader *r, Event ev, const char *s, size_t len)
{
	switch (r->state)
	{
		case ST_SKIP:
			if (ev == EV_START_MAP || ev == EV_START_ARRAY)
				r->skip_depth++;
			else if (ev == EV_END_MAP || ev == EV_END_ARRAY)
				r->skip_depth--;
			if (r->skip_depth == 0 && ev != EV_KEY)
				r->state = r->skip_return;
			return 1;

		case ST_TOP:
			if (ev == EV_START_ARRAY)
			{
				r->wrapped = false;
				r->list_seen = true;
				r->state = ST_LIST;
				return 1;
			}
			if (ev == EV_START_MAP && r->list_key != NULL)
			{
				r->wrapped = true;
				r->state = ST_WRAPPER;
				return 1;
			}
			break;

		case ST_WRAPPER:
			if (ev == EV_KEY)
			{
				if (len == strlen(r->list_key) && memcmp(s, r->list_key, len) == 0)
				{
					if (r->list_seen)
						return file_error(r, "the file holds two \"%s\" lists", r->list_key);
					r->state = ST_WRAPPER_LIST;
				}
				else
					start_skip(r, ST_WRAPPER);
				return 1;
			}
			if (ev == EV_END_MAP)
			{
				if (!r->list_seen)
					break;
				r->state = ST_DONE;
				return 1;
			}
			break;

		case ST_WRAPPER_LIST:
			if (ev != EV_START_ARRAY)
				return file_error(r, "field \"%s\" must be a list", r->list_key);
			r->list_seen = true;
			r->state = ST_LIST;
			return 1;

		case ST_LIST:
			if (ev == EV_START_MAP)
			{
				begin_record(r);
				r->state = ST_RECORD_KEY;
				return 1;
			}
			if (ev == EV_END_ARRAY)
			{
				r->state = r->wrapped ? ST_WRAPPER : ST_DONE;
				return 1;
			}
			begin_record(r);
			return record_error(r, "expected an object");

		case ST_RECORD_KEY:
			if (ev == EV_KEY)
			{
				r->field = lookup_field(r->fields, (const unsigned char *) s, len);
				if (r->field == FIELD_UNKNOWN)
					start_skip(r, ST_RECORD_KEY);
				else
					r->state = ST_RECORD_VALUE;
				return 1;
			}
			/* yajl only reports keys and } inside an object */
			if (!finish_record(r))
				return 0;
			r->state = ST_LIST;
			return 1;

		case ST_RECORD_VALUE:
			return record_value(r, ev, s, len);

		case ST_ANSWERS:
			if (ev == EV_START_MAP && r->cur.n_answers < VQA_MAX_ANSWERS)
			{
				r->cur_answer = -1;
				r->state = ST_ANSWER_KEY;
				return 1;
			}
			if (ev == EV_END_ARRAY && r->cur.n_answers > 0)
			{
				r->cur.has_answers = true;
				r->state = ST_RECORD_KEY;
				return 1;
			}
			return answers_error(r);

		case ST_ANSWER_KEY:
			if (ev == EV_KEY)
			{
				if (len == 6 && memcmp(s, "answer", 6) == 0)
					r->state = ST_ANSWER_VALUE;
				else
					start_skip(r, ST_ANSWER_KEY);
				return 1;
			}
			if (r->cur_answer < 0)
				return answers_error(r);
			r->cur.answers[r->cur.n_answers++] = r->cur_answer;
			r->state = ST_ANSWERS;
			return 1;

		case ST_ANSWER_VALUE:
			if (ev != EV_STRING)
				return answers_error(r);
			r->state = ST_ANSWER_KEY;
			return set_string(r, &r->cur_answer, FIELD_ANSWERS,
							  (const unsigned char *) s, len);

		case ST_DONE:
			break;
	}

	return no_list_error(r);
}

/* yajl callbacks */

static int
cb_null(void *ctx)
{
	return on_event(ctx, EV_NULL, NULL, 0);
}

static int
cb_boolean(void *ctx, int value)
{
	(void) value;
	return on_event(ctx, EV_BOOL, NULL, 0);
}

static int
cb_number(void *ctx, const char *s, size_t len)
{
	return on_event(ctx, EV_NUMBER, s, len);
}

static int
cb_string(void *ctx, const unsigned char *s, size_t len)
{
	return on_event(ctx, EV_STRING, (const char *) s, len);
}

static int
cb_map_key(void *ctx, const unsigned char *s, size_t len)
{
	return on_event(ctx, EV_KEY, (const char *) s, len);
}

static int
cb_start_map(void *ctx)
{
	return on_event(ctx, EV_START_MAP, NULL, 0);
}

static int
cb_end_map(void *ctx)
{
	return on_event(ctx, EV_END_MAP, NULL, 0);
}

static int
cb_start_array(void *ctx)
{
	return on_event(ctx, EV_START_ARRAY, NULL, 0);
}

static int
cb_end_array(void *ctx)
{
	return on_event(ctx, EV_END_ARRAY, NULL, 0);
}

static const yajl_callbacks callbacks = {
	cb_null,
	cb_boolean,
	NULL,						/* integers and doubles both come as numbers */
	NULL,
	cb_number,
	cb_string,
	cb_start_map,
	cb_map_key,
	cb_end_map,
	cb_start_array,
	cb_end_array
};

static VqaJsonReader *
reader_new(VqaJsonKind kind, char *errbuf, size_t errlen)
{
	VqaJsonReader *r = calloc(1, sizeof(*r));

	if (r == NULL)
	{
		vqa_set_error(errbuf, errlen, "out of memory");
		return NULL;
	}
	r->kind = kind;
	switch (kind)
	{
		case VQA_JSON_QUESTIONS:
			r->fields = question_fields;
			r->list_key = "questions";
			break;
		case VQA_JSON_ANNOTATIONS:
			r->fields = annotation_fields;
			r->list_key = "annotations";
			break;
		case VQA_JSON_RESULTS:
			r->fields = result_fields;
			r->list_key = NULL;
			break;
	}
	r->chunk_size = VQA_JSON_CHUNK_SIZE;
	r->state = ST_TOP;
	r->yajl = yajl_alloc(&callbacks, NULL, r);
	if (r->yajl == NULL)
	{
		free(r);
		vqa_set_error(errbuf, errlen, "out of memory");
		return NULL;
	}
	/* strings must be valid UTF-8; no comments, nothing after the value */
	yajl_config(r->yajl, yajl_dont_validate_strings, 0);
	yajl_config(r->yajl, yajl_allow_comments, 0);
	return r;
}

VqaJsonReader *
vqa_json_open(const char *path, VqaJsonKind kind, char *errbuf, size_t errlen)
{
	VqaJsonReader *r;

	r = reader_new(kind, errbuf, errlen);
	if (r == NULL)
		return NULL;
	r->file = fopen(path, "rb");
	if (r->file == NULL)
	{
		vqa_set_error(errbuf, errlen, "could not open \"%s\": %s", path, strerror(errno));
		vqa_json_close(r);
		return NULL;
	}
	r->chunk = malloc(VQA_JSON_CHUNK_SIZE);
	if (r->chunk == NULL)
	{
		vqa_set_error(errbuf, errlen, "out of memory");
		vqa_json_close(r);
		return NULL;
	}
	return r;
}

VqaJsonReader *
vqa_json_open_buffer(const char *data, size_t len, VqaJsonKind kind,
					 char *errbuf, size_t errlen)
{
	VqaJsonReader *r;

	r = reader_new(kind, errbuf, errlen);
	if (r == NULL)
		return NULL;
	r->data = data;
	r->data_len = len;
	return r;
}

void
vqa_json_set_chunk_size(VqaJsonReader *reader, size_t chunk_size)
{
	if (chunk_size < 1)
		chunk_size = 1;
	if (chunk_size > VQA_JSON_CHUNK_SIZE)
		chunk_size = VQA_JSON_CHUNK_SIZE;
	reader->chunk_size = chunk_size;
}

/* Once yajl has stopped with an error of its own, names the byte and why. */
static void
syntax_error(VqaJsonReader *r, size_t chunk_start)
{
	unsigned char *msg = yajl_get_error(r->yajl, 0, NULL, 0);
	size_t		n = msg ? strlen((char *) msg) : 0;

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	file_error(r, "invalid JSON at byte %zu: %.*s",
			   chunk_start + yajl_get_bytes_consumed(r->yajl),
			   (int) n, msg ? (char *) msg : "");
	if (msg)
		yajl_free_error(r->yajl, msg);
}

/* At the end of the input: yajl's last checks, then ours. */
static void
finish_input(VqaJsonReader *r)
{
	yajl_status st;

	r->finished = true;
	if (!r->seen_content)
	{
		file_error(r, "the file is empty");
		return;
	}
	st = yajl_complete_parse(r->yajl);
	if (r->failed)
		return;
	if (st != yajl_status_ok)
	{
		syntax_error(r, r->bytes_fed);
		return;
	}
	if (!r->list_seen)
		no_list_error(r);
}

/* Feeds the next chunk of input to yajl (or finishes the parse). */
static void
feed_chunk(VqaJsonReader *r)
{
	const char *p;
	size_t		n;
	size_t		start = r->bytes_fed;
	yajl_status st;

	if (r->file != NULL)
	{
		n = fread(r->chunk, 1, r->chunk_size, r->file);
		if (n == 0 && ferror(r->file))
		{
			r->finished = true;
			file_error(r, "could not read the file: %s", strerror(errno));
			return;
		}
		p = r->chunk;
	}
	else
	{
		n = r->data_len - r->bytes_fed;
		if (n > r->chunk_size)
			n = r->chunk_size;
		p = r->data + r->bytes_fed;
	}
	if (n == 0)
	{
		finish_input(r);
		return;
	}
	if (!r->seen_content)
	{
		size_t		i;

		for (i = 0; i < n; i++)
		{
			if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			{
				r->seen_content = true;
				break;
			}
		}
	}
	r->bytes_fed += n;
	st = yajl_parse(r->yajl, (const unsigned char *) p, n);
	if (st == yajl_status_error && !r->failed)
		syntax_error(r, start);
}

/* Drops the strings of records already returned, keeping the one in progress. */
static void
compact_arena(VqaJsonReader *r)
{
	size_t		shift = r->cur_base;
	int			i;

	r->q_head = 0;
	r->q_len = 0;
	if (shift == 0)
		return;
	memmove(r->arena, r->arena + shift, r->arena_len - shift);
	r->arena_len -= shift;
	r->cur_base = 0;
	if (!r->in_record)
		return;
	for (i = 0; i < N_SLOTS; i++)
		if (r->cur.str[i] >= 0)
			r->cur.str[i] -= shift;
	for (i = 0; i < r->cur.n_answers; i++)
		r->cur.answers[i] -= shift;
	if (r->cur_answer >= 0)
		r->cur_answer -= shift;
}

static const char *
arena_string(const VqaJsonReader *r, ptrdiff_t off)
{
	return off >= 0 ? r->arena + off : NULL;
}

int
vqa_json_next(VqaJsonReader *reader, VqaJsonRecord *out)
{
	VqaJsonReader *r = reader;
	const PendingRecord *p;
	int			i;

	if (r->q_head == r->q_len)
	{
		if (r->failed)
			return -1;
		if (r->finished)
			return 0;
		compact_arena(r);
		while (r->q_len == 0 && !r->failed && !r->finished)
			feed_chunk(r);
		if (r->q_len == 0)
			return r->failed ? -1 : 0;
	}

	p = &r->queue[r->q_head++];
	memset(out, 0, sizeof(*out));
	out->question_id = p->question_id;
	out->image_id = p->image_id;
	out->question = arena_string(r, p->str[SLOT_QUESTION]);
	out->coco_split = arena_string(r, p->str[SLOT_COCO_SPLIT]);
	out->question_type = arena_string(r, p->str[SLOT_QUESTION_TYPE]);
	out->answer_type = arena_string(r, p->str[SLOT_ANSWER_TYPE]);
	out->multiple_choice_answer = arena_string(r, p->str[SLOT_MC_ANSWER]);
	out->answer = arena_string(r, p->str[SLOT_ANSWER]);
	out->n_answers = p->n_answers;
	for (i = 0; i < p->n_answers; i++)
		out->answers[i] = r->arena + p->answers[i];
	r->n_returned++;
	return 1;
}

const char *
vqa_json_error(const VqaJsonReader *reader)
{
	return reader->error;
}

long
vqa_json_records(const VqaJsonReader *reader)
{
	return reader->n_returned;
}

size_t
vqa_json_bytes(const VqaJsonReader *reader)
{
	return reader->bytes_fed;
}

void
vqa_json_close(VqaJsonReader *reader)
{
	if (reader == NULL)
		return;
	if (reader->yajl)
		yajl_free(reader->yajl);
	if (reader->file)
		fclose(reader->file);
	free(reader->chunk);
	free(reader->queue);
	free(reader->arena);
	free(reader);
}
