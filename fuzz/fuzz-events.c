/* Fuzz target: events files (src/scenario/events.c).
 *
 * The input is an events file, read against the fixed experiment of
 * fuzz.c.  A failed load returns nothing and names the file; a loaded list
 * keeps the loader's promises:
 *   - it is sorted by time, file order within one time (line numbers
 *     ascend), and holds no more events than the file has lines;
 *   - every peer is in a class, a birth's class is the peer's own, session
 *     events name a session of the experiment, a deploy comes from the
 *     session's source, and a join's source is the session's;
 *   - played back in file order, each peer's events go forward in time,
 *     start with a birth, and nothing but a birth follows a death.
 */
#include "../src/scenario/events.h"
#include "fuzz.h"

#include <string.h>

static struct fz_memfile file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_memfile_open(&file, "fuzz.events");
	fz_experiment();
	return 0;
}

static size_t lines_in(const uint8_t *data, size_t size)
{
	size_t n = 1;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n;
}

static void check_event(const struct cr_experiment *e,
			const struct cr_event *ev)
{
	const struct cr_peer_class *c = cr_experiment_class_of(e, &ev->peer);
	const struct cr_session_cfg *s;

	FZ_CHECK(c);
	FZ_CHECK(ev->time_ns >= 0);
	FZ_CHECK(ev->line >= 1);
	FZ_CHECK(!ev->class_name[0] || !strcmp(ev->class_name, c->name));
	FZ_CHECK(!ev->class_name[0] || ev->type == CR_EV_BIRTH);
	if (ev->type == CR_EV_BIRTH || ev->type == CR_EV_DIE) {
		FZ_CHECK(ev->session == 0);
		return;
	}
	s = cr_experiment_session(e, ev->session);
	FZ_CHECK(s);
	if (ev->type == CR_EV_DEPLOY)
		FZ_CHECK(cr_addr_eq(&ev->peer, &s->source));
	if (ev->has_source)
		FZ_CHECK(ev->type == CR_EV_JOIN &&
			 cr_addr_eq(&ev->source, &s->source));
	FZ_CHECK(!ev->rate_Bps || ev->type == CR_EV_DEPLOY);
}

static int by_line(const void *a, const void *b)
{
	const struct cr_event *x = *(struct cr_event *const *)a;
	const struct cr_event *y = *(struct cr_event *const *)b;

	return (x->line > y->line) - (x->line < y->line);
}

/* Each peer's life, in file order. */
static void check_lives(const struct cr_experiment *e, struct cr_event *ev,
			size_t n)
{
	struct cr_event **order = malloc((n ? n : 1) * sizeof(*order));
	struct life {
		bool alive, born;
		int64_t last_ns;
	} *lives = calloc(e->npeers, sizeof(*lives));

	FZ_CHECK(order && lives);
	for (size_t i = 0; i < n; i++)
		order[i] = &ev[i];
	qsort(order, n, sizeof(*order), by_line);
	for (size_t i = 0; i < n; i++) {
		const struct cr_event *x = order[i];
		struct life *l;
		size_t idx;

		FZ_CHECK(!i || order[i - 1]->line < x->line);
		FZ_CHECK(cr_experiment_peer_index(e, &x->peer, &idx) == 0);
		l = &lives[idx];
		FZ_CHECK(!l->born || x->time_ns >= l->last_ns);
		l->last_ns = x->time_ns;
		if (x->type == CR_EV_BIRTH) {
			FZ_CHECK(!l->alive);
			l->alive = l->born = true;
		} else {
			FZ_CHECK(l->alive);
			if (x->type == CR_EV_DIE)
				l->alive = false;
		}
	}
	free(lives);
	free(order);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cr_experiment *e = fz_experiment();
	struct cr_event *ev = (struct cr_event *)&file;
	char err[1024];
	size_t n = 99;
	int rc;

	fz_memfile_set(&file, data, size);
	rc = cr_events_load(file.path, e, &ev, &n, err, sizeof(err));
	if (rc) {
		FZ_CHECK(rc < 0);
		FZ_CHECK(!ev && n == 0);
		FZ_CHECK(fz_err_names(err, file.path));
		return 0;
	}
	FZ_CHECK(n <= lines_in(data, size));
	FZ_CHECK(!n == !ev);
	for (size_t i = 0; i < n; i++) {
		check_event(e, &ev[i]);
		if (i)
			FZ_CHECK(ev[i - 1].time_ns < ev[i].time_ns ||
				 (ev[i - 1].time_ns == ev[i].time_ns &&
				  ev[i - 1].line < ev[i].line));
	}
	check_lives(e, ev, n);
	free(ev);
	return 0;
}
