/* The coding window of coding.h: the segments a network-coded protocol
 * has in flight, each slot a decoder or an encoder, with the blocks that
 * arrive decoded in the call or on the work pool.
 *
 * Slots are allocated one by one as they are first used, and each owns
 * its decoder, encoder and message arrays, so that a slot busy on the pool
 * can outlive its window: cr_codewin_free() leaves it to the work's done
 * (the engine runs done before the peer's destroy, with -CR_ECANCELED when
 * the peer died), which frees it.  While busy, the decoder and the `work`
 * array are the pool thread's alone; the worker touches only `pend`,
 * gathering what arrives meanwhile, and the cached rank.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cr_codewin_slot {
	cr_codewin *w; /* NULL once the window was freed: done frees it */
	uint32_t seg, rank;
	bool used, done, busy, loaded;
	int64_t first_ns; /* its first block, for the latency */
	cr_decoder *d;
	cr_encoder *e;
	cr_msg **pend, **work; /* gathered, and being decoded on the pool */
	uint32_t npend, nwork;
	uint32_t wdep; /* dependent blocks of `work` */
	int64_t wns;   /* CPU the work item took */
};

/* The time coding and decoding take, on the thread's wall clock: the
 * thread's CPU clock (CLOCK_THREAD_CPUTIME_ID) is a system call on Linux,
 * two per block (46,000 a second at 500 R2 peers, the CPU of a tenth of a
 * core on a virtual machine), while the monotonic clock is read in user
 * space.  A call is microseconds long, so a preemption inside one is rare;
 * when it happens it counts. */
static int64_t cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * CR_SEC + ts.tv_nsec;
}

static void release_msgs(cr_msg **m, uint32_t *n)
{
	for (uint32_t i = 0; i < *n; i++)
		cr_msg_release(m[i]);
	*n = 0;
}

static void slot_free(struct cr_codewin_slot *g)
{
	release_msgs(g->pend, &g->npend);
	release_msgs(g->work, &g->nwork);
	cr_decoder_free(g->d);
	cr_encoder_free(g->e);
	free(g->pend);
	free(g->work);
	free(g);
}

int cr_codewin_init(cr_codewin *w, const cr_codewin_config *cfg)
{
	memset(w, 0, sizeof(*w));
	if (!cfg || cfg->k < 1 || cfg->k > CR_CODE_MAX_K || cfg->size < 1 ||
	    cfg->size > CR_CODE_MAX_SIZE || !cfg->window)
		return -CR_EINVAL;
	w->cfg = *cfg;
	if (!w->cfg.slots)
		w->cfg.slots = cfg->window;
	if (w->cfg.slots < cfg->window || w->cfg.slots > CR_CODEWIN_MAX)
		return -CR_EINVAL;
	w->slot = calloc(w->cfg.slots, sizeof(*w->slot));
	return w->slot ? 0 : -CR_ENOMEM;
}

void cr_codewin_free(cr_codewin *w)
{
	for (uint32_t i = 0; w->slot && i < w->cfg.slots; i++) {
		struct cr_codewin_slot *g = w->slot[i];
		if (g && g->busy)
			g->w = NULL; /* its done frees it */
		else if (g)
			slot_free(g);
	}
	free(w->slot);
	free(w->data);
	memset(w, 0, sizeof(*w));
}

void cr_codewin_slide(cr_codewin *w, uint32_t base)
{
	w->base = base;
}

static struct cr_codewin_slot *held(const cr_codewin *w, uint32_t s)
{
	struct cr_codewin_slot *g;

	if (!w->slot)
		return NULL;
	g = w->slot[s % w->cfg.slots];
	return g && g->used && g->seg == s ? g : NULL;
}

/* Slot g starts over with segment s. */
static void slot_reset(cr_codewin *w, struct cr_codewin_slot *g, uint32_t s)
{
	release_msgs(g->pend, &g->npend);
	g->w = w;
	g->seg = s;
	g->rank = 0;
	g->used = true;
	g->done = g->busy = g->loaded = false;
	g->first_ns = 0;
}

/* The slot of s, holding s or taken over from the segment it held before
 * (long gone) unless that one is still being decoded (-CR_EAGAIN). */
static int slot_take(cr_codewin *w, cr_peer *p, uint32_t s,
		     struct cr_codewin_slot **out)
{
	struct cr_codewin_slot **at = &w->slot[s % w->cfg.slots], *g = *at;
	uint32_t k = w->cfg.k;
	int err;

	if (g && g->used && g->seg == s)
		goto found;
	if (g && g->busy)
		return -CR_EAGAIN;
	if (!g && !(g = *at = calloc(1, sizeof(*g))))
		return -CR_ENOMEM;
	if (!g->d && (err = cr_decoder_new(k, w->cfg.size, &g->d)))
		return err;
	if (w->cfg.on_pool && !g->pend &&
	    !(g->pend = calloc(k, sizeof(*g->pend))))
		return -CR_ENOMEM;
	if (w->cfg.on_pool && !g->work &&
	    !(g->work = calloc(k, sizeof(*g->work))))
		return -CR_ENOMEM;
	cr_decoder_reset(g->d);
	slot_reset(w, g, s);
	g->first_ns = p ? cr_now(p) : 0;
found:
	*out = g;
	return 0;
}

/* Full rank: counted once. */
static void whole(cr_codewin *w, cr_peer *p, struct cr_codewin_slot *g)
{
	g->done = true;
	w->stats.decoded++;
	if (p)
		w->stats.latency_ns += cr_now(p) - g->first_ns;
}

static void progress(cr_codewin *w, cr_peer *p, struct cr_codewin_slot *g)
{
	if (w->cfg.progress)
		w->cfg.progress(p, g->seg, g->rank, g->done, w->cfg.arg);
}

/* On the pool: the blocks of one work item into the slot's decoder. */
static void decode_work(void *arg)
{
	struct cr_codewin_slot *g = arg;
	int64_t t0 = cpu_now();
	cr_coded_hdr h;

	g->wdep = 0;
	for (uint32_t i = 0; i < g->nwork; i++)
		if (cr_coded_get(cr_msg_payload(g->work[i]),
				 cr_msg_len(g->work[i]), &h) ||
		    cr_decoder_add_coded(g->d, &h) != CR_CODE_INNOVATIVE)
			g->wdep++;
	g->wns = cpu_now() - t0;
}

static void decode_done(cr_peer *p, void *arg, int status);

/* The blocks gathered of a slot go to the pool, one item at a time. */
static void submit(cr_peer *p, struct cr_codewin_slot *g)
{
	cr_msg **t = g->work;

	g->work = g->pend;
	g->nwork = g->npend;
	g->pend = t;
	g->npend = 0;
	g->busy = true;
	g->wns = 0;
	if (cr_work_submit(p, decode_work, decode_done, g, NULL))
		decode_done(p, g, -CR_EIO);
}

static void decode_done(cr_peer *p, void *arg, int status)
{
	struct cr_codewin_slot *g = arg;
	cr_codewin *w = g->w;
	uint32_t n = g->nwork;

	release_msgs(g->work, &g->nwork);
	g->busy = false;
	if (!w) { /* the window was freed meanwhile */
		slot_free(g);
		return;
	}
	w->stats.decode_ns += g->wns;
	if (status == -CR_ECANCELED)
		return; /* the peer's life ended: the free comes */
	w->stats.dependent += status ? n : g->wdep;
	g->rank = cr_decoder_rank(g->d);
	if (cr_decoder_done(g->d)) {
		w->stats.redundant += g->npend; /* gathered too late to help */
		release_msgs(g->pend, &g->npend);
		whole(w, p, g);
	} else if (g->npend) {
		submit(p, g);
	}
	progress(w, p, g);
}

/* With on_pool: gathered, and submitted unless an item is out. */
static int gather(cr_codewin *w, cr_peer *p, struct cr_codewin_slot *g,
		  cr_msg *m)
{
	if (g->npend == w->cfg.k) { /* more than the segment can use */
		w->stats.dependent++;
		return CR_CODEWIN_DEPENDENT;
	}
	g->pend[g->npend++] = cr_msg_retain(m);
	if (!g->busy)
		submit(p, g);
	return CR_CODEWIN_QUEUED;
}

static int decode_here(cr_codewin *w, cr_peer *p, struct cr_codewin_slot *g,
		       const cr_coded_hdr *h)
{
	int64_t t0 = cpu_now();
	int r = cr_decoder_add_coded(g->d, h);

	w->stats.decode_ns += cpu_now() - t0;
	if (r != CR_CODE_INNOVATIVE) {
		w->stats.dependent++;
		return CR_CODEWIN_DEPENDENT;
	}
	g->rank++;
	if (cr_decoder_done(g->d))
		whole(w, p, g);
	progress(w, p, g);
	return CR_CODEWIN_INNOVATIVE;
}

int cr_codewin_put(cr_codewin *w, cr_peer *p, cr_msg *m, uint32_t *segment)
{
	struct cr_codewin_slot *g;
	cr_coded_hdr h;
	int err;

	if (!w->slot || !m ||
	    cr_coded_get(cr_msg_payload(m), cr_msg_len(m), &h) ||
	    h.session != w->cfg.session || h.k != w->cfg.k ||
	    h.size != w->cfg.size) {
		w->stats.malformed++;
		return -CR_EINVAL;
	}
	w->stats.received++;
	if (segment)
		*segment = h.segment;
	if (h.segment - w->base >= w->cfg.window) { /* wraps when before */
		w->stats.late++;
		return CR_CODEWIN_LATE;
	}
	if ((err = slot_take(w, p, h.segment, &g))) {
		w->stats.late++; /* busy with an older segment, or no memory */
		return err == -CR_EAGAIN ? CR_CODEWIN_LATE : err;
	}
	if (g->done) {
		w->stats.redundant++;
		return CR_CODEWIN_REDUNDANT;
	}
	if (w->cfg.on_pool)
		return gather(w, p, g, m);
	return decode_here(w, p, g, &h);
}

int cr_codewin_load(cr_codewin *w, uint32_t s, const void *data, size_t len)
{
	struct cr_codewin_slot **at, *g;
	int err;

	if (!w->slot)
		return -CR_EINVAL;
	at = &w->slot[s % w->cfg.slots];
	g = *at;
	if (g && g->busy)
		return -CR_ESTATE;
	if (!g && !(g = *at = calloc(1, sizeof(*g))))
		return -CR_ENOMEM;
	if (!g->e && (err = cr_encoder_new(w->cfg.k, w->cfg.size, &g->e)))
		return err;
	if ((err = cr_encoder_load(g->e, data, len)))
		return err;
	slot_reset(w, g, s);
	g->rank = w->cfg.k;
	g->done = g->loaded = true;
	return 0;
}

int cr_codewin_code(cr_codewin *w, cr_rand *rng, uint32_t s, void *buf,
		    size_t len)
{
	struct cr_codewin_slot *g = held(w, s);
	uint8_t *coeffs, *payload;
	int64_t t0;
	int n, err;

	if (!g || !g->rank)
		return -CR_ENOENT;
	if (g->busy)
		return -CR_ESTATE;
	n = cr_coded_put(buf, len, w->cfg.session, s, w->cfg.k, w->cfg.size,
			 &coeffs, &payload);
	if (n < 0)
		return n;
	t0 = cpu_now();
	err = g->loaded ? cr_encoder_encode(g->e, rng, coeffs, payload)
			: cr_decoder_recode(g->d, rng, coeffs, payload);
	w->stats.code_ns += cpu_now() - t0;
	return err ? err : n;
}

uint32_t cr_codewin_rank(const cr_codewin *w, uint32_t s)
{
	const struct cr_codewin_slot *g = held(w, s);

	return g ? g->rank : 0;
}

bool cr_codewin_done(const cr_codewin *w, uint32_t s)
{
	const struct cr_codewin_slot *g = held(w, s);

	return g && g->done;
}

bool cr_codewin_busy(const cr_codewin *w, uint32_t s)
{
	const struct cr_codewin_slot *g = held(w, s);

	return g && g->busy;
}

int cr_codewin_read(const cr_codewin *w, uint32_t s, void *out, size_t len)
{
	const struct cr_codewin_slot *g = held(w, s);

	if (!out && len)
		return -CR_EINVAL;
	if (!g || !g->done || g->loaded)
		return -CR_ENOENT;
	return cr_decoder_read(g->d, out, len);
}

const uint8_t *cr_codewin_data(cr_codewin *w, uint32_t s)
{
	size_t len = (size_t)w->cfg.k * w->cfg.size;

	if (!w->slot || (!w->data && !(w->data = malloc(len))))
		return NULL;
	return cr_codewin_read(w, s, w->data, len) ? NULL : w->data;
}

void cr_codewin_stats_add(cr_codewin_stats *sum, const cr_codewin_stats *s)
{
	sum->received += s->received;
	sum->dependent += s->dependent;
	sum->redundant += s->redundant;
	sum->late += s->late;
	sum->malformed += s->malformed;
	sum->decoded += s->decoded;
	sum->latency_ns += s->latency_ns;
	sum->decode_ns += s->decode_ns;
	sum->code_ns += s->code_ns;
}
