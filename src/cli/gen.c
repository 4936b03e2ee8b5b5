/* crystal gen-events: writes an events file of peer dynamics drawn from
 * distributions (src/scenario/gen.c does the drawing; this file reads the
 * options and writes the file).  See docs/generating-events.md.
 */
#include "../scenario/gen.h"
#include "../core/units.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
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

/* clang-format off */
static void gen_usage(FILE *f)
{
	fputs("usage: crystal gen-events --peers N --duration TIME [options]\n"
	      "       crystal gen-events --experiment FILE [options]\n"
	      "\n"
	      "Writes an events file: a source that deploys session 1 at 0 and\n"
	      "terminates it at the end, and peers born as a Poisson process, joining\n"
	      "after a Weibull delay and leaving after a Weibull or log-normal lifetime.\n"
	      "The same seed and options give the same file, byte for byte.\n"
	      "\n"
	      "peers:\n"
	      "  --peers N              peers besides the source, 1 to 1000000\n"
	      "                         (default with --experiment: all its addresses)\n"
	      "  --duration TIME        the experiment's length: 600, 10.5s, 500ms\n"
	      "                         (default with --experiment: its duration)\n"
	      "  --seed N               seed of every draw (default 1)\n"
	      "\n"
	      "births (one or the other):\n"
	      "  --arrival-rate R       Poisson births, R per second (default\n"
	      "                         peers / (duration / 2): all born in the first half)\n"
	      "  --flash-crowd TIME     every birth uniform within the first TIME\n"
	      "\n"
	      "joins, after birth, with a Weibull delay:\n"
	      "  --join-shape K         its shape, above 0 (default 1.5)\n"
	      "  --join-scale TIME      its scale, above 0 (default 2 s)\n"
	      "\n"
	      "lifetimes, from join to leave:\n"
	      "  --lifetime none        stay to the end (default)\n"
	      "  --lifetime weibull:K,SCALE      Weibull, shape K, scale SCALE (a time)\n"
	      "  --lifetime lognormal:MU,SIGMA   log-normal: ln(seconds) has mean MU\n"
	      "                         and standard deviation SIGMA\n"
	      "  --die-after TIME       a peer leaving before the end dies this long\n"
	      "                         after (default 1 s)\n"
	      "\n"
	      "classes and addresses:\n"
	      "  --class NAME=FRACTION  peers in class NAME (repeatable; fractions sum\n"
	      "                         to 1); birth lines say class=NAME\n"
	      "  --experiment FILE      take classes, addresses, the session and its\n"
	      "                         source from an experiment file; without --class,\n"
	      "                         classes share peers by their addresses\n"
	      "  --session ID           with --experiment: the session (default its\n"
	      "                         first); without: its id (default 1)\n"
	      "  --rate RATE            the deploy's streaming rate: 64000, 64KB/s,\n"
	      "                         512kbit/s (default: left out, the session's own)\n"
	      "  --ip ADDR              without --experiment: every peer's IP address\n"
	      "                         (default 127.0.0.1)\n"
	      "  --base-port P          without --experiment: the source's port; the\n"
	      "                         peers take the ports after it (default 20000)\n"
	      "\n"
	      "output:\n"
	      "  -o, --out FILE         where to write; - for standard output (default)\n"
	      "\n"
	      "Exit codes: 0 written, 1 could not write, 2 bad usage or input.\n",
	      f);
}
/* clang-format on */

static int bad(const char *opt, const char *val, const char *accepted)
{
	fprintf(stderr, "crystal gen-events: %s '%s': expected %s\n", opt, val,
		accepted);
	return 2;
}

enum {
	O_PEERS = 256,
	O_DURATION,
	O_SEED,
	O_ARRIVAL,
	O_FLASH,
	O_JSHAPE,
	O_JSCALE,
	O_LIFETIME,
	O_DIE_AFTER,
	O_CLASS,
	O_EXPERIMENT,
	O_SESSION,
	O_RATE,
	O_IP,
	O_BASEPORT,
	O_HELP,
};

static const struct option long_opts[] = {
    {"peers", required_argument, NULL, O_PEERS},
    {"duration", required_argument, NULL, O_DURATION},
    {"seed", required_argument, NULL, O_SEED},
    {"arrival-rate", required_argument, NULL, O_ARRIVAL},
    {"flash-crowd", required_argument, NULL, O_FLASH},
    {"join-shape", required_argument, NULL, O_JSHAPE},
    {"join-scale", required_argument, NULL, O_JSCALE},
    {"lifetime", required_argument, NULL, O_LIFETIME},
    {"die-after", required_argument, NULL, O_DIE_AFTER},
    {"class", required_argument, NULL, O_CLASS},
    {"experiment", required_argument, NULL, O_EXPERIMENT},
    {"session", required_argument, NULL, O_SESSION},
    {"rate", required_argument, NULL, O_RATE},
    {"ip", required_argument, NULL, O_IP},
    {"base-port", required_argument, NULL, O_BASEPORT},
    {"out", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

/* A finite number above 0 (or at least 0 with zero_ok). */
static int parse_positive(const char *text, bool zero_ok, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(*out) ||
	    !(*out > 0 || (zero_ok && *out == 0)))
		return -CR_EINVAL;
	return 0;
}

static int parse_class(const char *arg, struct gen_opts *o)
{
	const char *eq = strchr(arg, '=');
	size_t n = o->p.nclasses;
	double f;

	if (n == MAX_CLASSES)
		return bad("--class", arg, "at most 64 classes");
	if (!eq || eq == arg || (size_t)(eq - arg) >= CR_NAME_MAX ||
	    parse_positive(eq + 1, true, &f) || f > 1)
		return bad("--class", arg,
			   "NAME=FRACTION, the name up to 63 characters, the "
			   "fraction from 0 to 1, such as dsl=0.6");
	memcpy(o->names[n], arg, (size_t)(eq - arg));
	o->names[n][eq - arg] = 0;
	o->classes[n] = (struct cr_gen_class){o->names[n], f};
	o->p.nclasses++;
	return 0;
}

static int parse_one(int c, const char *arg, struct gen_opts *o)
{
	struct cr_gen_params *p = &o->p;
	uint64_t v;

	switch (c) {
	case O_PEERS:
		if (cr_parse_uint(arg, 1000000, &p->peers) || !p->peers)
			return bad("--peers", arg,
				   "a whole number from 1 to 1000000");
		return 0;
	case O_DURATION:
		if (cr_parse_time(arg, CR_SEC, &p->duration_ns) ||
		    p->duration_ns < 1000)
			return bad("--duration", arg,
				   "a time of at least 1us: " CR_TIME_FORMS);
		return 0;
	case O_SEED:
		if (cr_parse_uint(arg, UINT64_MAX, &p->seed))
			return bad("--seed", arg, "a whole number");
		return 0;
	case O_ARRIVAL:
		if (parse_positive(arg, false, &p->arrival_per_s))
			return bad("--arrival-rate", arg,
				   "a number of births per second above 0, "
				   "such as 0.5 or 2");
		return 0;
	case O_FLASH:
		if (cr_parse_time(arg, CR_SEC, &p->flash_crowd_ns) ||
		    p->flash_crowd_ns <= 0)
			return bad("--flash-crowd", arg,
				   "a time above 0: " CR_TIME_FORMS);
		return 0;
	case O_JSHAPE:
		if (parse_positive(arg, false, &p->join_shape))
			return bad("--join-shape", arg,
				   "a Weibull shape above 0, such as 1.5");
		return 0;
	case O_JSCALE:
		if (cr_parse_time(arg, CR_SEC, &p->join_scale_ns) ||
		    p->join_scale_ns <= 0)
			return bad("--join-scale", arg,
				   "a time above 0: " CR_TIME_FORMS);
		return 0;
	case O_LIFETIME:
		if (cr_gen_parse_lifetime(arg, &p->lifetime))
			return bad("--lifetime", arg, CR_GEN_LIFETIME_FORMS);
		return 0;
	case O_DIE_AFTER:
		if (cr_parse_time(arg, CR_SEC, &p->die_after_ns))
			return bad("--die-after", arg, CR_TIME_FORMS);
		return 0;
	case O_CLASS:
		return parse_class(arg, o);
	case O_EXPERIMENT:
		o->experiment = arg;
		return 0;
	case O_SESSION:
		if (cr_parse_uint(arg, 65535, &v) || !v)
			return bad("--session", arg,
				   "a session id from 1 to 65535");
		p->session = (uint16_t)v;
		return 0;
	case O_RATE:
		if (cr_parse_rate(arg, &p->rate_Bps))
			return bad("--rate", arg, CR_RATE_FORMS);
		return 0;
	case O_IP:
		o->ip = arg;
		return 0;
	case O_BASEPORT:
		if (cr_parse_uint(arg, 65534, &o->base_port) || !o->base_port)
			return bad("--base-port", arg,
				   "a port from 1 to 65534 (the peers take "
				   "the ports after it)");
		o->port_given = true;
		return 0;
	case 'o':
		o->out = arg;
		return 0;
	}
	return 2;
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
	int c, rc;

	memset(o, 0, sizeof(*o));
	cr_gen_defaults(&o->p);
	o->p.classes = o->classes;
	o->base_port = 20000;
	o->out = "-";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'h':
		case O_HELP:
			gen_usage(stdout);
			return -1;
		case ':':
			fprintf(stderr,
				"crystal gen-events: %s needs a value\n",
				argv[optind - 1]);
			return 2;
		case '?':
			fprintf(stderr,
				"crystal gen-events: unknown option '%s' (see "
				"crystal gen-events --help)\n",
				argv[optind - 1]);
			return 2;
		default:
			rc = parse_one(c, optarg, o);
			if (rc)
				return rc;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
			"crystal gen-events: unexpected argument '%s' (see "
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
