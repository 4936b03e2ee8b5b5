/* A small JSON writer; see json.h. */
#include "json.h"

#include <math.h>

static void sep(struct cr_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	fprintf(j->f, "\n%*s", 2 * j->depth, "");
	if (key) {
		fputc('"', j->f);
		for (const char *p = key; *p; p++)
			fputc(*p, j->f);
		fputs("\": ", j->f);
	}
}

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void cr_json_begin(struct cr_json *j, FILE *f)
{
	j->f = f;
	j->depth = 1;
	j->first[1] = true;
	j->array[1] = false;
	fputc('{', f);
}

void cr_json_end(struct cr_json *j)
{
	fputs("\n}\n", j->f);
}

static void open_level(struct cr_json *j, const char *key, bool array)
{
	sep(j, key);
	fputc(array ? '[' : '{', j->f);
	if (j->depth < 15)
		j->depth++;
	j->first[j->depth] = true;
	j->array[j->depth] = array;
}

void cr_json_object(struct cr_json *j, const char *key)
{
	open_level(j, key, false);
}

void cr_json_array(struct cr_json *j, const char *key)
{
	open_level(j, key, true);
}

void cr_json_close(struct cr_json *j)
{
	char c = j->array[j->depth] ? ']' : '}';

	j->depth--;
	fprintf(j->f, "\n%*s%c", 2 * j->depth, "", c);
}

void cr_json_str(struct cr_json *j, const char *key, const char *v)
{
	sep(j, key);
	if (v)
		put_string(j->f, v);
	else
		fputs("null", j->f);
}

void cr_json_int(struct cr_json *j, const char *key, int64_t v)
{
	sep(j, key);
	fprintf(j->f, "%lld", (long long)v);
}

void cr_json_uint(struct cr_json *j, const char *key, uint64_t v)
{
	sep(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void cr_json_num(struct cr_json *j, const char *key, double v)
{
	sep(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.10g", v);
	else
		fputs("null", j->f);
}

void cr_json_bool(struct cr_json *j, const char *key, bool v)
{
	sep(j, key);
	fputs(v ? "true" : "false", j->f);
}
