/* Command-line options from one table.
 *
 * Every subcommand describes its options as an array of struct cr__opt,
 * one row per option: its names, how its value is read and where it goes,
 * the line of --help that explains it and, for crystal run, what it does
 * to an experiment file and how summary.json's "parameters" reports it.
 * cr__opt_parse() reads argv by that table (getopt_long underneath) and
 * cr__opt_usage() prints --help from it, so an option is added in one
 * place.  opt.c holds the parser; run-opts.c the table of crystal run.
 */
#ifndef CRYSTAL_CLI_OPT_H
#define CRYSTAL_CLI_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cr__opt;
struct cr_json;

/* How a value is read, and the type of the field at .off. */
enum cr__opt_kind {
	CR__OPT_FLAG, /* no value: sets a bool */
	CR__OPT_STR,  /* the text itself: const char * */
	CR__OPT_UINT, /* a whole number in [min, max]: uint64_t */
	CR__OPT_SIZE, /* a size in [min, max], max 0 for none: uint64_t */
	CR__OPT_RATE, /* a rate: uint64_t */
	CR__OPT_TIME, /* a time, bare numbers in seconds, at least min
			 (when min > 0), at most max (when max > 0): int64_t */
	CR__OPT_PROB, /* a probability, 0 to 1: double */
	CR__OPT_NUM,  /* any number: double */
	CR__OPT_FUNC, /* the row's own parser */
	CR__OPT_HELP, /* -h, --help: prints the usage */
};

/* What an option of crystal run does to an experiment file (run.h). */
enum cr__opt_file {
	CR__FILE_SAME,	   /* applies to a file's run as to the built-ins */
	CR__FILE_REFUSED,  /* only for the built-in experiments */
	CR__FILE_TOP,	   /* replaces the key of struct cr_experiment at
			      .exp_off */
	CR__FILE_SESSIONS, /* ... of every session, at .exp_off */
	CR__FILE_CLASSES,  /* ... of every class, at .exp_off */
	CR__FILE_OWN,	   /* handled by the command's own code */
};

/* Where an option appears in summary.json's "parameters" (run.h). */
enum cr__opt_json {
	CR__JSON_NONE,
	CR__JSON_UINT,	/* the uint64_t at .off */
	CR__JSON_STR,	/* the string at .off, null when none */
	CR__JSON_BOOL,	/* the bool at .off */
	CR__JSON_NUM,	/* the double at .off */
	CR__JSON_SEC,	/* the int64_t nanoseconds at .off, in seconds */
	CR__JSON_MS,	/* ... in milliseconds */
	CR__JSON_FUNC,	/* the row's .json function writes it */
};

/* The runs that report it: every run, or only some. */
enum cr__opt_scope {
	CR__SCOPE_ALL,
	CR__SCOPE_BUILTIN, /* chains and mesh, not a file */
	CR__SCOPE_CHAINS,
	CR__SCOPE_MESH,
	CR__SCOPE_FILE,
};

/* A FUNC row's parser: 0, or exit status 2 with the message said. */
typedef int (*cr__opt_parse_fn)(const struct cr__opt *row, const char *arg,
				void *dst);

struct cr__opt {
	const char *name;      /* long name, without "--"; NULL for none */
	char short_name;       /* 'D', or 0 for none */
	enum cr__opt_kind kind;
	size_t off;	       /* the field set, in the command's struct */
	uint64_t min, max;     /* the range, for UINT, SIZE and TIME */
	const char *accepted;  /* "expected ..." when the value is refused */
	cr__opt_parse_fn parse; /* for FUNC */
	bool optional;		/* FUNC: the value may be left out
				   ("--opt" or "--opt=VALUE"): arg NULL */

	/* --help: a heading above the row when it opens a group, the
	 * value's name ("N", "TIME") and what the option does ('\n' starts
	 * another line of it) */
	const char *section;
	const char *arg;
	const char *help;

	/* crystal run only: the experiment-file key it replaces, where that
	 * key lives and its width, and the summary's parameter */
	enum cr__opt_file file;
	const char *exp_key;
	size_t exp_off, exp_width;
	enum cr__opt_json json;
	enum cr__opt_scope scope;
	const char *json_key;
	void (*json_fn)(struct cr_json *j, const struct cr__opt *row,
			const void *ctx);
};

/* A subcommand: its name in messages ("crystal run") and its --help. */
struct cr__cmd {
	const char *name;
	const struct cr__opt *opts; /* ends with a row of neither name */
	const char *head;	    /* usage before the options */
	const char *tail;	    /* and after them, or NULL */
	int help_col;		    /* where the help text of a row begins */
	/* a bad option prints "NAME: bad option 'X'" and the usage on
	 * stderr, rather than a pointer to --help */
	bool usage_on_error;
};

/* Reads the options of argv into dst; the rows given are set in *given
 * by index (1 << row).  Returns 0 with optind at the first operand, 2 for
 * bad usage (said on stderr), or -1 after printing --help. */
int cr__opt_parse(const struct cr__cmd *cmd, int argc, char **argv,
		  void *dst, uint64_t *given);

/* --help, generated from the table. */
void cr__opt_usage(const struct cr__cmd *cmd, FILE *f);

/* "--name", or "-c" for a short-only option. */
const char *cr__opt_label(const struct cr__opt *row, char *buf, size_t len);

/* "CMD: OPTION 'VALUE': expected ACCEPTED"; returns 2. */
int cr__opt_bad(const char *cmd, const char *opt, const char *val,
		const char *accepted);

#endif
