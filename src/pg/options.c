/*
 * options.c: reading a function's jsonb options. Every key must be one the
 * function knows, so a typo cannot silently train something else.
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "vqaprune.h"

JsonbValue *
OptionValue(Jsonb *options, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&options->root, JB_FOBJECT, &k);
}

static double
NumericToDouble(Numeric n)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(n)));
}

double
OptionNumber(Jsonb *options, const char *key, double fallback)
{
	JsonbValue *v = OptionValue(options, key);

	if (v == NULL || v->type == jbvNull)
		return fallback;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a number", key)));
	return NumericToDouble(v->val.numeric);
}

int
OptionInt(Jsonb *options, const char *key, int fallback)
{
	double		d = OptionNumber(options, key, fallback);

	if (d != floor(d) || d < INT_MIN || d > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be an integer", key)));
	return (int) d;
}

char *
OptionText(Jsonb *options, const char *key, const char *fallback)
{
	JsonbValue *v = OptionValue(options, key);

	if (v == NULL || v->type == jbvNull)
		return fallback ? pstrdup(fallback) : NULL;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a string", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

bool
OptionBool(Jsonb *options, const char *key, bool fallback)
{
	JsonbValue *v = OptionValue(options, key);

	if (v == NULL || v->type == jbvNull)
		return fallback;
	if (v->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be true or false", key)));
	return v->val.boolean;
}

/*
 * The numbers of a flat object option by key (NAN where a key is absent);
 * keys must be among names. False when the option is absent.
 */
bool
OptionNumberObject(Jsonb *options, const char *key, const char *const *names, int n_names,
				   double *values)
{
	JsonbValue *v = OptionValue(options, key);
	JsonbIterator *it;
	JsonbValue	item;
	JsonbIteratorToken token;
	char	   *name = NULL;

	for (int i = 0; i < n_names; i++)
		values[i] = NAN;
	if (v == NULL || v->type == jbvNull)
		return false;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a JSON object", key)));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &item, true)) != WJB_DONE)
	{
		int			found = -1;

		if (token == WJB_KEY)
		{
			name = pnstrdup(item.val.string.val, item.val.string.len);
			continue;
		}
		if (token != WJB_VALUE)
			continue;
		for (int i = 0; i < n_names; i++)
			if (strcmp(names[i], name) == 0)
				found = i;
		if (found < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in option \"%s\"", name, key)));
		if (item.type != jbvNumeric)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" in option \"%s\" must be a number", name, key)));
		values[found] = NumericToDouble(item.val.numeric);
	}
	return true;
}

void
RequireKnownOptions(Jsonb *options, const char *const *names, int n_names)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;

	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object")));
	it = JsonbIteratorInit(&options->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		known = false;

		if (token != WJB_KEY)
			continue;
		for (int i = 0; i < n_names; i++)
			known |= strlen(names[i]) == (size_t) v.val.string.len &&
				strncmp(names[i], v.val.string.val, v.val.string.len) == 0;
		if (!known)
		{
			StringInfoData list;

			initStringInfo(&list);
			for (int i = 0; i < n_names; i++)
				appendStringInfo(&list, "%s%s", i ? ", " : "", names[i]);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%.*s\"", v.val.string.len, v.val.string.val),
					 errhint("Options: %s.", list.data)));
		}
	}
}
