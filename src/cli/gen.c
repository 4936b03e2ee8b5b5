/* crystal gen-events: writes an events file of peer dynamics drawn from
 * distributions (src/scenario/gen.c does the drawing; this file reads the
 * options and writes the file).  See docs/generating-events.md.
 */
#include "../scenario/gen.h"
#include "../core/units.h"
#include "cli.h"
#include "opt.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CLASSES 64

struct gen_opts {
	struct cr_gen_params p;
	struct cr_gen_class classes[MAX_CLASSES];
	char names[MAX_CLASSES][CR_NAME_MAX];
	const char *experiment;
	const char *out;
	const char *ip;
	uint64_t base_port;
	bool port_given;
};

#define CMD "crystal gen-events"
#define OPT(m) .off = offsetof(struct gen_opts, m)

static int parse_positive(const struct cr__opt *row, const char *arg,
			  void *dst);
static int parse_lifetime(const struct cr__opt *row, const char *arg,
			  void *dst);
static int parse_class(const struct cr__opt *row, const char *arg,
		       void *dst);
static int parse_session(const struct cr__opt *row, const char *arg,
			 void *dst);

enum { R_PEERS, R_DURATION, R_SEED, R_ARRIVAL, R_FLASH, R_JSHAPE, R_JSCALE,
       R_LIFETIME, R_DIE_AFTER, R_CLASS, R_EXPERIMENT, R_SESSION, R_RATE,
       R_IP, R_BASEPORT, R_OUT, R_HELP, R__N };

/* clang-format off */
static const struct cr__opt rows[R__N + 1] = {
    [R_PEERS] = {"peers", 0, CR__OPT_UINT, OPT(p.peers), 1, 1000000,
	"a whole number from 1 to 1000000", .arg = "N", .section = "peers:",
	.help = "peers besides the source, 1 to 1000000\n"
		"(default with --experiment: all its addresses)"},
    [R_DURATION] = {"duration", 0, CR__OPT_TIME, OPT(p.duration_ns), 1000, 0,
	"a time of at least 1us: " CR_TIME_FORMS, .arg = "TIME",
	.help = "the experiment's length: 600, 10.5s, 500ms\n"
		"(default with --experiment: its duration)"},
    [R_SEED] = {"seed", 0, CR__OPT_UINT, OPT(p.seed), 0, UINT64_MAX,
	"a whole number", .arg = "N",
	.help = "seed of every draw (default 1)"},

    [R_ARRIVAL] = {"arrival-rate", 0, CR__OPT_FUNC, OPT(p.arrival_per_s),
	.accepted = "a number of births per second above 0, such as 0.5 or 2",
	.parse = parse_positive, .arg = "R",
	.section = "births (one or the other):",
	.help = "Poisson births, R per second (default\n"
		"peers / (duration / 2): all born in the first half)"},
    [R_FLASH] = {"flash-crowd", 0, CR__OPT_TIME, OPT(p.flash_crowd_ns), 1, 0,
	"a time above 0: " CR_TIME_FORMS, .arg = "TIME",
	.help = "every birth uniform within the first TIME"},

    [R_JSHAPE] = {"join-shape", 0, CR__OPT_FUNC, OPT(p.join_shape),
	.accepted = "a Weibull shape above 0, such as 1.5",
	.parse = parse_positive, .arg = "K",
	.section = "joins, after birth, with a Weibull delay:",
	.help = "its shape, above 0 (default 1.5)"},
    [R_JSCALE] = {"join-scale", 0, CR__OPT_TIME, OPT(p.join_scale_ns), 1, 0,
	"a time above 0: " CR_TIME_FORMS, .arg = "TIME",
	.help = "its scale, above 0 (default 2 s)"},

    [R_LIFETIME] = {"lifetime", 0, CR__OPT_FUNC, .parse = parse_lifetime,
	.arg = "FORM", .section = "lifetimes, from join to leave:",
	.help = "none: stay to the end (default);\n"
		"weibull:K,SCALE: Weibull, shape K, scale SCALE\n"
		"(a time); lognormal:MU,SIGMA: log-normal,\n"
		"ln(seconds) has mean MU and standard deviation SIGMA"},
    [R_DIE_AFTER] = {"die-after", 0, CR__OPT_TIME, OPT(p.die_after_ns),
	.accepted = CR_TIME_FORMS, .arg = "TIME",
	.help = "a peer leaving before the end dies this long\n"
		"after (default 1 s)"},

    [R_CLASS] = {"class", 0, CR__OPT_FUNC, .parse = parse_class,
	.arg = "NAME=FRACTION", .section = "classes and addresses:",
	.help = "peers in class NAME (repeatable; fractions sum\n"
		"to 1); birth lines say class=NAME"},
    [R_EXPERIMENT] = {"experiment", 0, CR__OPT_STR, OPT(experiment),
	.arg = "FILE",
	.help = "take classes, addresses, the session and its\n"
		"source from an experiment file; without --class,\n"
		"classes share peers by their addresses"},
    [R_SESSION] = {"session", 0, CR__OPT_FUNC, .parse = parse_session,
	.arg = "ID",
	.help = "with --experiment: the session (default its\n"
		"first); without: its id (default 1)"},
    [R_RATE] = {"rate", 0, CR__OPT_RATE, OPT(p.rate_Bps),
	.accepted = CR_RATE_FORMS, .arg = "RATE",
	.help = "the deploy's streaming rate: 64000, 64KB/s,\n"
		"512kbit/s (default: left out, the session's own)"},
    [R_IP] = {"ip", 0, CR__OPT_STR, OPT(ip), .arg = "ADDR",
	.help = "without --experiment: every peer's IP address\n"
		"(default 127.0.0.1)"},
    [R_BASEPORT] = {"base-port", 0, CR__OPT_UINT, OPT(base_port), 1, 65534,
	"a port from 1 to 65534 (the peers take the ports after it)",
	.arg = "P",
	.help = "without --experiment: the source's port; the\n"
		"peers take the ports after it (default 20000)"},

    [R_OUT] = {"out", 'o', CR__OPT_STR, OPT(out), .arg = "FILE",
	.section = "output:",
	.help = "where to write; - for standard output (default)"},
    [R_HELP] = {.name = "help", .short_name = 'h', .kind = CR__OPT_HELP},
};

static const struct cr__cmd gen_cmd = {
	.name = CMD,
	.opts = rows,
	.help_col = 25,
	.head =
	"usage: crystal gen-events --peers N --duration TIME [options]\n"
	"       crystal gen-events --experiment FILE [options]\n"
	"\n"
	"Writes an events file: a source that deploys session 1 at 0 and\n"
	"terminates it at the end, and peers born as a Poisson process, joining\n"
	"after a Weibull delay and leaving after a Weibull or log-normal lifetime.\n"
	"The same seed and options give the same file, byte for byte.\n",
	.tail =
	"\n"
	"Exit codes: 0 written, 1 could not write, 2 bad usage or input.\n",
};
/* clang-format on */

static int bad(const char *opt, const char *val, const char *accepted)
{
	return cr__opt_bad(CMD, opt, val, accepted);
}

/* A finite number above 0 (or at least 0 with zero_ok). */
static int positive(const char *text, bool zero_ok, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(*out) ||
	    !(*out > 0 || (zero_ok && *out == 0)))
		return -CR_EINVAL;
	return 0;
}

static int parse_positive(const struct cr__opt *row, const char *arg,
			  void *dst)
{
	char label[40];

	if (!positive(arg, false, (double *)((char *)dst + row->off)))
		return 0;
	return bad(cr__opt_label(row, label, sizeof(label)), arg,
		   row->accepted);
}

static int parse_lifetime(const struct cr__opt *row, const char *arg,
			  void *dst)
{
	struct gen_opts *o = dst;

	if (cr_gen_parse_lifetime(arg, &o->p.lifetime))
		return bad("--lifetime", arg, CR_GEN_LIFETIME_FORMS);
	return 0;
}

static int parse_session(const struct cr__opt *row, const char *arg,
			 void *dst)
{
	struct gen_opts *o = dst;
	uint64_t v;

	if (cr_parse_uint(arg, 65535, &v) || !v)
		return bad("--session", arg, "a session id from 1 to 65535");
	o->p.session = (uint16_t)v;
	return 0;
}

static int parse_class(const struct cr__opt *row, const char *arg,
		       void *dst)
{
	struct gen_opts *o = dst;
	const char *eq = strchr(arg, '=');
	size_t n = o->p.nclasses;
	double f;

	if (n == MAX_CLASSES)
		return bad("--class", arg, "at most 64 classes");
	if (!eq || eq == arg || (size_t)(eq - arg) >= CR_NAME_MAX ||
	    positive(eq + 1, true, &f) || f > 1)
		return bad("--class", arg,
			   "NAME=FRACTION, the name up to 63 characters, the "
			   "fraction from 0 to 1, such as dsl=0.6");
	memcpy(o->names[n], arg, (size_t)(eq - arg));
	o->names[n][eq - arg] = 0;
	o->classes[n] = (struct cr_gen_class){o->names[n], f};
	o->p.nclasses++;
	return 0;
}

/* Checks that need every option seen. */
static int check_opts(struct gen_opts *o)
{
	char text[128];
	const char *ip = o->ip ? o->ip : "127.0.0.1";
	bool v6 = strchr(ip, ':') != NULL;

	if (o->experiment && (o->ip || o->port_given)) {
		fprintf(stderr,
			"crystal gen-events: %s: expected no --ip or "
			"--base-port with --experiment (its addresses are "
			"the peers')\n",
			o->ip ? "--ip" : "--base-port");
		return 2;
	}
	if (!o->experiment && (!o->p.peers || !o->p.duration_ns)) {
		fprintf(stderr,
			"crystal gen-events: %s is needed: expected --peers N "
			"and --duration TIME, or --experiment FILE (see "
			"crystal gen-events --help)\n",
			!o->p.peers ? "--peers" : "--duration");
		return 2;
	}
	if (o->p.flash_crowd_ns && o->p.arrival_per_s > 0) {
		fprintf(stderr,
			"crystal gen-events: --flash-crowd: expected either "
			"--flash-crowd or --arrival-rate, not both\n");
		return 2;
	}
	if (o->experiment)
		return 0;
	snprintf(text, sizeof(text), "%s%s%s:%llu", v6 ? "[" : "", ip,
		 v6 ? "]" : "", (unsigned long long)o->base_port);
	if (cr_addr_parse(&o->p.source, text))
		return bad("--ip", ip,
			   "an IPv4 or IPv6 address such as 127.0.0.1 or ::1");
	return 0;
}

/* 0, 2 for bad usage (said on stderr), or -1 after --help. */
static int parse_opts(int argc, char **argv, struct gen_opts *o)
{
	uint64_t given;
	int rc;

	memset(o, 0, sizeof(*o));
	cr_gen_defaults(&o->p);
	o->p.classes = o->classes;
	o->base_port = 20000;
	o->out = "-";
	rc = cr__opt_parse(&gen_cmd, argc, argv, o, &given);
	if (rc)
		return rc;
	o->port_given = given & (1ull << R_BASEPORT);
	if (optind < argc) {
		fprintf(stderr,
			CMD ": unexpected argument '%s' (see "
			    "crystal gen-events --help)\n",
			argv[optind]);
		return 2;
	}
	return check_opts(o);
}

/* The command line, each argument quoted for a POSIX shell when it needs
 * to be, so that the header can be pasted to make the file again.  Control
 * characters would break the comment line: they are written as \xHH inside
 * $'...', which bash, zsh and ksh read back. */
static char *command_line(int argc, char **argv)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
				   "QRSTUVWXYZ0123456789-_./:=,+@%";
	size_t len = 0;
	char *s;
	FILE *f;

	f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	fputs("crystal", f);
	for (int i = 0; i < argc; i++) {
		const unsigned char *a = (const unsigned char *)argv[i];
		bool ctl = false;

		for (const unsigned char *c = a; *c; c++)
			ctl |= *c < ' ' || *c == 0x7f;
		fputc(' ', f);
		if (*a && strspn(argv[i], safe) == strlen(argv[i])) {
			fputs(argv[i], f);
			continue;
		}
		fputs(ctl ? "$'" : "'", f);
		for (const unsigned char *c = a; *c; c++) {
			if (*c < ' ' || *c == 0x7f)
				fprintf(f, "\\x%02x", *c);
			else if (*c == '\'')
				fputs(ctl ? "\\'" : "'\\''", f);
			else if (*c == '\\' && ctl)
				fputs("\\\\", f);
			else
				fputc(*c, f);
		}
		fputc('\'', f);
	}
	if (fclose(f))
		return NULL;
	return s;
}

static int write_file(const struct gen_opts *o, const struct cr_gen_result *r,
		      const char *command)
{
	char tmp[4200];
	FILE *f;
	int rc;

	if (!strcmp(o->out, "-")) {
		if (cr_gen_write(stdout, &o->p, r, command) || fflush(stdout)) {
			fprintf(stderr,
				"crystal gen-events: cannot write to standard "
				"output: %s\n",
				strerror(errno));
			return 1;
		}
		return 0;
	}
	/* Written aside and renamed, so a failure leaves no half file. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", o->out);
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "crystal gen-events: cannot write %s: %s\n",
			tmp, strerror(errno));
		return 1;
	}
	rc = cr_gen_write(f, &o->p, r, command);
	if (fclose(f))
		rc = -CR_EIO;
	if (rc || rename(tmp, o->out)) {
		fprintf(stderr, "crystal gen-events: cannot write %s: %s\n",
			o->out, strerror(errno));
		remove(tmp);
		return 1;
	}
	return 0;
}

static void warn_counts(const struct cr_gen_result *r)
{
	if (r->born < r->peers)
		fprintf(
		    stderr,
		    "crystal gen-events: warning: %llu of %llu peers would "
		    "be born after the end (%g births per second over %g s) "
		    "and are left out\n",
		    (unsigned long long)(r->peers - r->born),
		    (unsigned long long)r->peers, r->arrival_per_s,
		    (double)r->duration_ns / 1e9);
	if (r->moved)
		fprintf(stderr,
			"crystal gen-events: warning: %llu peers drawn into a "
			"class without free addresses went to the others\n",
			(unsigned long long)r->moved);
}

/* The experiment file may name the very events file this command writes,
 * and its loader wants every file it names to exist: an -o FILE that does
 * not exist yet is created empty for the load, and removed again unless
 * the events are written over it.  Returns whether it was created. */
static bool placeholder(const char *out)
{
	int fd;

	if (!strcmp(out, "-"))
		return false;
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int cr_cli_gen_events(int argc, char **argv)
{
	struct cr_experiment exp;
	struct cr_gen_result r = {0};
	struct gen_opts o;
	char err[1024], *command = NULL;
	bool made = false;
	int rc;

	/* before getopt_long, which may reorder argv */
	command = command_line(argc, argv);
	if (!command) {
		fprintf(stderr, "crystal gen-events: out of memory\n");
		return 1;
	}
	rc = parse_opts(argc, argv, &o);
	if (rc) {
		free(command);
		return rc < 0 ? 0 : rc; /* -1: --help */
	}
	memset(&exp, 0, sizeof(exp));
	if (o.experiment) {
		made = placeholder(o.out);
		if (cr_experiment_load(o.experiment, &exp, err, sizeof(err))) {
			fprintf(stderr, "crystal gen-events: --experiment %s\n",
				err);
			rc = 2;
			goto out;
		}
		o.p.exp = &exp;
	}
	rc = cr_gen_events(&o.p, &r, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "crystal gen-events: %s\n",
			rc == -CR_EINVAL ? err : cr_strerror(rc));
		rc = rc == -CR_EINVAL ? 2 : 1;
		goto out;
	}
	warn_counts(&r);
	rc = write_file(&o, &r, command);
out:
	if (rc && made)
		remove(o.out);
	free(command);
	cr_gen_result_free(&r);
	cr_experiment_free(&exp);
	return rc;
}
