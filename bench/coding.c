/* bench/coding.c - network coding throughput (include/crystal/coding.h)
 * beside ISA-L's own encoder.
 *
 * For each block size and k it measures, in MB/s of payload:
 *
 *   isal     ec_encode_data with one parity row, its tables made once: the
 *            plain dot product of k blocks, the blocks back to back as a
 *            segment lies in memory (64-aligned)
 *   isal-odd the same with the blocks an odd multiple of 64 bytes apart,
 *            as the encoder and the decoder lay out their rows (see
 *            cr__gf_stride in src/stream/coding-int.h): ISA-L at its best,
 *            and the baseline of the ratios
 *   encode   cr_encoder_encode: random coefficients, their tables, and the
 *            same dot product (payload bytes produced)
 *   decode   cr_decoder_add of coded blocks into a fresh decoder until it
 *            has all k (payload bytes recovered: k x size per segment),
 *            elimination at every arrival
 *   recode   cr_decoder_recode from a decoder at full rank (payload bytes
 *            produced; from rank r it costs r / k of that)
 *
 * Rates are over the thread's CPU time, not the wall clock, so that other
 * work on a busy machine slows them less; a rep runs each operation for
 * --seconds of CPU, the reps are interleaved (every cell once, then again)
 * and the median is quoted.  bench/run.sh runs it as its `coding` part.
 *
 *   build/bench/coding [--reps N] [--seconds S] [--sizes 1024,4096,16384]
 *                      [--ks 32,64] [--csv FILE]
 *
 * Exit status 0, or 2 on bad arguments; no rate is ever a failure.
 */
#include <crystal/crystal.h>

#include <isa-l/erasure_code.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LIST 16
#define MAX_REPS 101
#define NOPS 5


struct cell {
	uint32_t k, size;
	uint8_t *seg;			/* k blocks, 64 bytes apart at least */
	uint8_t *odd;			/* the same, an odd x 64 bytes apart */
	uint8_t **data, **data_odd, *tbls, *out; /* ISA-L's encoder */
	cr_encoder *enc;
	cr_decoder *dec, *full;		/* one decoded each round; one full */
	uint8_t *coeffs, *payloads;	/* a pool of 2k coded blocks */
	uint32_t next;			/* first pool block of the next round */
	cr_rand rng;
	double rate[NOPS][MAX_REPS];
};

static void die(const char *what)
{
	fprintf(stderr, "bench/coding: %s\n", what);
	exit(1);
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die("out of memory");
	return p;
}

static void cell_init(struct cell *c, uint32_t k, uint32_t size)
{
	uint8_t a[CR_CODE_MAX_K];
	size_t stride = (size + 63) / 64 * 64;
	size_t odd = stride / 64 % 2 ? stride : stride + 64;
	uint32_t i;

	memset(c, 0, sizeof(*c));
	c->k = k;
	c->size = size;
	cr_rand_seed(&c->rng, (uint64_t)k << 32 | size);
	/* 64-aligned blocks: ISA-L at its best (the encoder aligns its own) */
	if (posix_memalign((void **)&c->seg, 64, k * stride))
		die("out of memory");
	if (posix_memalign((void **)&c->odd, 64, k * odd))
		die("out of memory");
	cr_rand_fill(&c->rng, c->seg, k * stride);
	c->data = xmalloc(k * sizeof(*c->data));
	c->data_odd = xmalloc(k * sizeof(*c->data));
	for (i = 0; i < k; i++) {
		c->data[i] = c->seg + i * stride;
		c->data_odd[i] = c->odd + i * odd;
		memcpy(c->data_odd[i], c->data[i], size);
	}
	c->tbls = xmalloc(32 * (size_t)k);
	c->out = xmalloc(size);
	cr_rand_fill(&c->rng, a, k);
	ec_init_tables((int)k, 1, a, c->tbls);
	if (cr_encoder_new(k, size, &c->enc) || cr_decoder_new(k, size, &c->dec) ||
	    cr_decoder_new(k, size, &c->full))
		die("cannot make an encoder or a decoder");
	for (i = 0; i < k; i++)
		cr_encoder_set(c->enc, i, c->data[i], size);
	c->coeffs = xmalloc(2 * (size_t)k * k);
	c->payloads = xmalloc(2 * (size_t)k * size);
	for (i = 0; i < 2 * k; i++)
		cr_encoder_encode(c->enc, &c->rng, c->coeffs + (size_t)i * k,
				  c->payloads + (size_t)i * size);
	for (i = 0; !cr_decoder_done(c->full); i = (i + 1) % (2 * k))
		cr_decoder_add(c->full, c->coeffs + (size_t)i * k,
			       c->payloads + (size_t)i * size);
}

static void cell_free(struct cell *c)
{
	free(c->seg);
	free(c->data);
	free(c->odd);
	free(c->data_odd);
	free(c->tbls);
	free(c->out);
	free(c->coeffs);
	free(c->payloads);
	cr_encoder_free(c->enc);
	cr_decoder_free(c->dec);
	cr_decoder_free(c->full);
}

/* One operation; returns the payload bytes it produced or recovered. */
static size_t run_op(struct cell *c, int op)
{
	uint8_t co[CR_CODE_MAX_K];
	uint32_t i;

	switch (op) {
	case 0:
		ec_encode_data((int)c->size, (int)c->k, 1, c->tbls, c->data, &c->out);
		return c->size;
	case 1:
		ec_encode_data((int)c->size, (int)c->k, 1, c->tbls, c->data_odd, &c->out);
		return c->size;
	case 2:
		cr_encoder_encode(c->enc, &c->rng, co, c->out);
		return c->size;
	case 3:
		/* a different start in the pool each round: blocks 2k apart
		 * in the order they were made */
		cr_decoder_reset(c->dec);
		for (i = c->next; !cr_decoder_done(c->dec); i = (i + 1) % (2 * c->k))
			cr_decoder_add(c->dec, c->coeffs + (size_t)i * c->k,
				       c->payloads + (size_t)i * c->size);
		c->next = (c->next + 1) % (2 * c->k);
		return (size_t)c->k * c->size;
	default:
		cr_decoder_recode(c->full, &c->rng, co, c->out);
		return c->size;
	}
}

/* Bytes per CPU second of one operation, run for secs of CPU. */
static double measure(struct cell *c, int op, double secs)
{
	double t0, t;
	size_t bytes = 0;

	run_op(c, op); /* warm the caches and ISA-L's dispatch */
	t0 = cpu_now();
	do {
		bytes += run_op(c, op);
		t = cpu_now() - t0;
	} while (t < secs);
	return (double)bytes / t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	double s[MAX_REPS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* "1024,4096" -> values in [lo, hi]; the count, or -1. */
static int parse_list(const char *s, uint32_t *out, uint32_t lo, uint32_t hi)
{
	char *end;
	unsigned long v;
	int n = 0;

	while (*s) {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno || end == s || v < lo || v > hi || n == MAX_LIST)
			return -1;
		out[n++] = (uint32_t)v;
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	return n ? n : -1;
}

static void usage(const char *msg)
{
	fprintf(stderr, "bench/coding: %s\n"
		"usage: coding [--reps N (1-%d)] [--seconds S (0.01-60)] [--sizes LIST]"
		" [--ks LIST] [--csv FILE]\n"
		"  LIST: comma-separated; sizes 1-%u bytes, k 1-%d\n",
		msg, MAX_REPS, CR_CODE_MAX_SIZE, CR_CODE_MAX_K);
	exit(2);
}

struct opts {
	int reps, nsizes, nks;
	double secs;
	uint32_t sizes[MAX_LIST], ks[MAX_LIST];
	const char *csv;
};

static void parse_args(int argc, char **argv, struct opts *o)
{
	char *end;
	int i;

	*o = (struct opts){.reps = 5, .secs = 0.3, .nsizes = 3, .nks = 2,
			   .sizes = {1024, 4096, 16384}, .ks = {32, 64}};
	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage("every option takes a value");
		if (!strcmp(argv[i], "--reps")) {
			o->reps = (int)strtol(argv[++i], &end, 10);
			if (*end || o->reps < 1 || o->reps > MAX_REPS)
				usage("--reps takes a whole number from 1 to 101");
		} else if (!strcmp(argv[i], "--seconds")) {
			o->secs = strtod(argv[++i], &end);
			if (*end || !(o->secs >= 0.01 && o->secs <= 60))
				usage("--seconds takes a number from 0.01 to 60");
		} else if (!strcmp(argv[i], "--sizes")) {
			o->nsizes = parse_list(argv[++i], o->sizes, 1, CR_CODE_MAX_SIZE);
			if (o->nsizes < 0)
				usage("--sizes takes up to 16 block sizes, bytes");
		} else if (!strcmp(argv[i], "--ks")) {
			o->nks = parse_list(argv[++i], o->ks, 1, CR_CODE_MAX_K);
			if (o->nks < 0)
				usage("--ks takes up to 16 values of k");
		} else if (!strcmp(argv[i], "--csv")) {
			o->csv = argv[++i];
		} else {
			usage("unknown option");
		}
	}
}

static void report(const struct opts *o, struct cell *cells, FILE *csv)
{
	double m[NOPS];
	int i, op, n = o->nsizes * o->nks;

	printf("%6s %4s %9s %9s %9s %9s %9s %8s %8s %8s\n", "size", "k", "isal",
	       "isal-odd", "encode", "decode", "recode", "enc/isal", "dec/isal",
	       "rec/isal");
	if (csv)
		fprintf(csv, "size,k,reps,isal_MBps,isal_odd_MBps,encode_MBps,decode_MBps,"
			     "recode_MBps,encode_ratio,decode_ratio,recode_ratio\n");
	for (i = 0; i < n; i++) {
		for (op = 0; op < NOPS; op++)
			m[op] = median(cells[i].rate[op], o->reps) / 1e6;
		printf("%6u %4u %9.0f %9.0f %9.0f %9.0f %9.0f %7.0f%% %7.0f%% %7.0f%%\n",
		       cells[i].size, cells[i].k, m[0], m[1], m[2], m[3], m[4],
		       100 * m[2] / m[1], 100 * m[3] / m[1], 100 * m[4] / m[1]);
		if (csv)
			fprintf(csv, "%u,%u,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.3f,%.3f,%.3f\n",
				cells[i].size, cells[i].k, o->reps, m[0], m[1], m[2], m[3],
				m[4], m[2] / m[1], m[3] / m[1], m[4] / m[1]);
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	struct cell *cells;
	FILE *csv = NULL;
	int i, j, r, op, n;

	parse_args(argc, argv, &o);
	n = o.nsizes * o.nks;
	cells = xmalloc(n * sizeof(*cells));
	for (i = 0; i < o.nsizes; i++)
		for (j = 0; j < o.nks; j++)
			cell_init(&cells[i * o.nks + j], o.ks[j], o.sizes[i]);
	if (o.csv && !(csv = fopen(o.csv, "w"))) {
		fprintf(stderr, "bench/coding: %s: %s\n", o.csv, strerror(errno));
		return 2;
	}
	for (r = 0; r < o.reps; r++)
		for (i = 0; i < n; i++)
			for (op = 0; op < NOPS; op++)
				cells[i].rate[op][r] = measure(&cells[i], op, o.secs);
	printf("Network coding, MB/s of payload per CPU second (medians of %d reps of %.2f s);\n"
	       "  ratios against isal-odd, ISA-L's encoder on the same row layout:\n",
	       o.reps, o.secs);
	report(&o, cells, csv);
	for (i = 0; i < n; i++)
		cell_free(&cells[i]);
	free(cells);
	if (csv && fclose(csv)) {
		fprintf(stderr, "bench/coding: %s: %s\n", o.csv, strerror(errno));
		return 1;
	}
	return 0;
}
