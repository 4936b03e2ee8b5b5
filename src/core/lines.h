/* Files of one record a line: see lines.c. */
#ifndef CRYSTAL_CORE_LINES_H
#define CRYSTAL_CORE_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* How one file format's lines are read.  NULL to cr__lines_open: the
 * rules of events and topology files (cr__lines_default). */
struct cr__lines_format {
	size_t max_len;	      /* the longest line taken, in bytes */
	bool break_counts;    /* whether its line break counts in max_len */
	const char *too_long; /* the message for a longer line */
	const char *blanks;   /* the bytes that separate fields */
	/* The message for a NUL byte; NULL: the line ends at its first NUL,
	 * as a C string does, and a line whose break that hides is taken
	 * for one too long. */
	const char *nul;
	bool errors_end; /* a read error ends the file quietly */
};

extern const struct cr__lines_format cr__lines_default;

/* A file being read, and the fields of its current line. */
struct cr__lines {
	FILE *f;
	const char *path;
	const struct cr__lines_format *fmt;
	unsigned lineno; /* of the current line; 0 before the first */
	char *buf;
	size_t cap;
	char **tok; /* the line's fields */
	size_t ntok, tokcap;
	char *err;
	size_t errlen;
};

/* Opens path for reading with fmt's rules (NULL: the default ones).
 * Returns 0, or -CR_ENOENT with err holding "PATH: why". */
int cr__lines_open(struct cr__lines *l, const char *path,
		   const struct cr__lines_format *fmt, char *err,
		   size_t errlen);
/* The next line with a field: 1; 0 at the end; or a negative error with
 * err holding "PATH:LINE: what is wrong". */
int cr__lines_next(struct cr__lines *l);
/* Closes the file and frees the buffers; safe twice. */
void cr__lines_close(struct cr__lines *l);
/* Writes "PATH:LINE: ..." into the error; returns rc. */
__attribute__((format(printf, 4, 5))) int cr__lines_fail(struct cr__lines *l,
							 unsigned line, int rc,
							 const char *fmt, ...);

#endif
