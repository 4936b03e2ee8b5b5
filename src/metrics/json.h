/* A small JSON writer: enough for summary.json, with correct escaping.
 * Keys and values are written in the order given; nesting is tracked so
 * commas and indentation come out right. */
#ifndef CRYSTAL_JSON_H
#define CRYSTAL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct cr_json {
	FILE *f;
	int depth;
	bool first[16];
	bool array[16]; /* the level is an array, closed with ']' */
};

void cr_json_begin(struct cr_json *j, FILE *f);
void cr_json_end(struct cr_json *j);
void cr_json_object(struct cr_json *j, const char *key);
/* An array; its members are written with a NULL key.  cr_json_close
 * closes either. */
void cr_json_array(struct cr_json *j, const char *key);
void cr_json_close(struct cr_json *j);
void cr_json_str(struct cr_json *j, const char *key, const char *v);
void cr_json_int(struct cr_json *j, const char *key, int64_t v);
void cr_json_uint(struct cr_json *j, const char *key, uint64_t v);
void cr_json_num(struct cr_json *j, const char *key, double v);
void cr_json_bool(struct cr_json *j, const char *key, bool v);

#endif
