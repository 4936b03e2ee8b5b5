/* The node: creates peers, shards them over workers, starts the common
 * experiment clock, and collects results.
 *
 * Start-up is two-phased so that nothing runs unless everything fits: each
 * worker opens its peers' sockets and reports; only when all succeeded does
 * the node set the clock's origin and let the workers begin (births at
 * time 0, sources at their start times).  A failure on any worker ends all
 * of them before a single peer has been bootstrapped.
 */
#include "engine.h"

#include <dirent.h>
#include <fnmatch.h>
#include <ifaddrs.h>
#include <math.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define FDS_PER_WORKER 5 /* epoll, eventfd, timerfd, log, spare */
#define FDS_FIXED 16	 /* stdio, node log, summary and report files */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h ? h : 1;
}

static uint64_t open_fds(void)
{
	uint64_t n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (!d)
		return 3;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n ? n - 1 : 0; /* the directory's own descriptor */
}

static int default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

static int nworkers_for(const struct cr_node_config *cfg)
{
	int w = cfg->workers > 0 ? cfg->workers : default_workers();

	if ((size_t)w > cfg->npeers && cfg->npeers > 0)
		w = (int)cfg->npeers;
	return w > 0 ? w : 1;
}

void cr_node_fd_budget(const struct cr_node_config *cfg,
		       struct cr_node_fd_budget *b)
{
	struct rlimit rl;
	uint64_t conns = 0;

	/* Each peer: a listener and a UDP socket.  Each connection whose
	 * both ends are local costs two descriptors. */
	uint64_t local = 0;

	for (size_t i = 0; i < cfg->npeers; i++) {
		if (cfg->peers[i].remote)
			continue;
		conns += cfg->peers[i].nboot;
		local++;
	}
	b->needed = 2 * local + 2 * conns + cfg->nplayout +
		    (uint64_t)FDS_PER_WORKER * (uint64_t)nworkers_for(cfg) +
		    FDS_FIXED;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < rl.rlim_max) {
		/* the soft limit may rise to the hard one; try */
		struct rlimit want = {rl.rlim_max, rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	b->limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
	b->available = b->limit - open_fds();
}

uint64_t cr_node_experiment_id(const char *text)
{
	return fnv1a(text);
}

bool cr_node_ip_is_local(const cr_addr *a)
{
	static const uint8_t v6_loop[16] = {[15] = 1};
	struct ifaddrs *ifs, *i;
	bool found = false;

	if (a->family == 4 && a->ip[0] == 127)
		return true;
	if (a->family == 6 && !memcmp(a->ip, v6_loop, 16))
		return true;
	if (getifaddrs(&ifs))
		return false;
	for (i = ifs; i && !found; i = i->ifa_next) {
		cr_addr x;
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
				     i->ifa_addr->sa_family != AF_INET6))
			continue;
		cr__addr_from_sockaddr(&x, i->ifa_addr);
		found = x.family == a->family &&
			!memcmp(x.ip, a->ip, a->family == 6 ? 16 : 4);
	}
	freeifaddrs(ifs);
	return found;
}

const char *cr__node_param(const struct cr__node *n, const char *name)
{
	for (size_t i = 0; i < n->nparams; i++)
		if (!strcmp(n->params[i].name, name))
			return n->params[i].value;
	return NULL;
}

static int set_param(struct cr__node *n, const char *name, const char *value)
{
	for (size_t i = 0; i < n->nparams; i++) {
		if (!strcmp(n->params[i].name, name)) {
			char *v = strdup(value);
			if (!v)
				return -CR_ENOMEM;
			free(n->params[i].value);
			n->params[i].value = v;
			return 0;
		}
	}
	struct cr__param *ps =
		realloc(n->params, (n->nparams + 1) * sizeof(*ps));
	if (!ps)
		return -CR_ENOMEM;
	n->params = ps;
	ps[n->nparams].name = strdup(name);
	ps[n->nparams].value = strdup(value);
	if (!ps[n->nparams].name || !ps[n->nparams].value)
		return -CR_ENOMEM;
	n->nparams++;
	return 0;
}

static int init_params(struct cr__node *n, char *err, size_t errlen)
{
	const cr_param_def *defs = n->cfg.algo->params;

	for (const cr_param_def *d = defs; d && d->name; d++)
		if (d->default_value && set_param(n, d->name, d->default_value))
			return -CR_ENOMEM;
	for (size_t i = 0; i < n->cfg.nparams; i++) {
		const struct cr_node_param *p = &n->cfg.params[i];
		bool known = false;
		for (const cr_param_def *d = defs; d && d->name; d++)
			known |= !strcmp(d->name, p->name);
		if (!known) {
			char names[512] = "";
			for (const cr_param_def *d = defs; d && d->name; d++) {
				strncat(names, d->name,
					sizeof(names) - strlen(names) - 3);
				if (d[1].name)
					strcat(names, ", ");
			}
			snprintf(err, errlen,
				 "-D %s: algorithm '%s' has no parameter "
				 "'%s' (it accepts: %s)",
				 p->name, n->cfg.algo->name, p->name,
				 *names ? names : "none");
			return -CR_EINVAL;
		}
		if (set_param(n, p->name, p->value))
			return -CR_ENOMEM;
	}
	return 0;
}

/* --- peers by address, latency matrix -------------------------------------- */

static int build_addr_index(struct cr__node *n)
{
	size_t cap = 16;

	while (cap < n->npeers * 2)
		cap *= 2;
	n->addr_index = calloc(cap, sizeof(*n->addr_index));
	if (!n->addr_index)
		return -CR_ENOMEM;
	n->addr_cap = cap;
	for (size_t i = 0; i < n->npeers; i++) {
		size_t s = cr_addr_hash(&n->peers[i].addr) & (cap - 1);
		while (n->addr_index[s])
			s = (s + 1) & (cap - 1);
		n->addr_index[s] = (uint32_t)i + 1;
	}
	return 0;
}

static const struct cr_peer *find_peer(const struct cr__node *n,
				       const cr_addr *a)
{
	size_t s;

	if (!n->addr_cap)
		return NULL;
	for (s = cr_addr_hash(a) & (n->addr_cap - 1); n->addr_index[s];
	     s = (s + 1) & (n->addr_cap - 1)) {
		const struct cr_peer *p = &n->peers[n->addr_index[s] - 1];
		if (cr_addr_eq(&p->addr, a))
			return p;
	}
	return NULL;
}

static int64_t access_delay(const struct cr__node *n, const cr_addr *a)
{
	const struct cr_peer *p = find_peer(n, a);

	return p ? p->ep.lim.access_delay_ns : 0;
}

static int addr_cmp(const cr_addr *a, const cr_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	int c = memcmp(a->ip, b->ip, 16);
	if (c)
		return c;
	return a->port < b->port ? -1 : a->port > b->port;
}

static int lat_cmp(const void *x, const void *y)
{
	const struct cr_latency *a = x, *b = y;
	int c = addr_cmp(&a->from, &b->from);

	return c ? c : addr_cmp(&a->to, &b->to);
}

static bool matrix_delay(const struct cr__node *n, const cr_addr *from,
			 const cr_addr *to, int64_t *delay_ns)
{
	struct cr_latency key = {.from = *from, .to = *to};
	const struct cr_latency *hit;

	if (!n->nmatrix)
		return false;
	hit = bsearch(&key, n->matrix, n->nmatrix, sizeof(key), lat_cmp);
	if (!hit)
		return false;
	*delay_ns = hit->delay_ns;
	return true;
}

/* The network's link_delay: a matrix's entry, else the far end's access
 * delay. */
static bool link_delay(const void *ctx, const cr_addr *from,
		       const cr_addr *to, int64_t *delay_ns)
{
	const struct cr__node *n = ctx;

	if (matrix_delay(n, from, to, delay_ns))
		return true;
	*delay_ns = access_delay(n, to);
	return false;
}

/* The play-out files, before any peer plays. */
static int open_playouts(struct cr__node *n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n->cfg.nplayout; i++) {
		const struct cr_node_playout *po = &n->cfg.playout[i];
		struct cr_peer *p = (struct cr_peer *)find_peer(n, &po->addr);
		char a[CR_ADDR_STRLEN];

		cr_addr_format(&po->addr, a, sizeof(a));
		if (!p || p->remote || p->is_tracker_peer) {
			snprintf(err, errlen,
				 "--play-out %s: no peer of this host has that "
				 "address",
				 a);
			return -1;
		}
		if (p->playout_fd >= 0)
			close(p->playout_fd); /* the last one given wins */
		p->playout_fd = open(po->path,
				     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				     0644);
		if (p->playout_fd < 0) {
			snprintf(err, errlen, "--play-out %s: cannot write %s: %s",
				 a, po->path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* The automatic idle and frame times: what an honest remote can take,
 * with room to spare.  Its first frame follows its hello at once (a
 * connection is opened by a send), and a frame's bytes are written
 * together, so what can hold either back is the emulated link: a frame's
 * transmission at the slowest rate limit of the experiment (the largest
 * frame, twice over: one may wait for another ahead of it) and the longest
 * delay of a link. */
static int64_t auto_wait(const struct cr_node_config *cfg, uint32_t max_msg)
{
	uint64_t slowest = 0;
	int64_t delay = 0, wait = CR__WAIT_BASE;

	for (size_t i = 0; i <= cfg->npeers; i++) {
		const cr_link_limits *l = i < cfg->npeers && cfg->peers[i].limits
						  ? cfg->peers[i].limits
						  : &cfg->limits;
		const uint64_t r[] = {l->upload_Bps, l->download_Bps,
				      l->total_Bps, l->link_upload_Bps,
				      l->link_download_Bps};
		for (size_t k = 0; k < sizeof(r) / sizeof(r[0]); k++)
			if (r[k] && (!slowest || r[k] < slowest))
				slowest = r[k];
		if (2 * l->access_delay_ns + l->jitter_ns > delay)
			delay = 2 * l->access_delay_ns + l->jitter_ns;
	}
	for (size_t i = 0; i < cfg->nmatrix; i++)
		if (cfg->matrix[i].delay_ns > delay)
			delay = cfg->matrix[i].delay_ns;
	if (slowest)
		wait += (int64_t)((2.0 * (max_msg + CR__HDR_SIZE) / (double)slowest) *
				  1e9);
	return wait + delay;
}

/* The limits of cfg, defaults resolved, into n. */
static void resolve_limits(struct cr__node *n, const struct cr_node_config *cfg)
{
	uint64_t conns = 2 * (uint64_t)cfg->npeers + 64;

	n->max_conns = cfg->max_conns ? cfg->max_conns
		       : conns > UINT32_MAX ? UINT32_MAX
					    : (uint32_t)conns;
	n->idle_timeout_ns = cfg->idle_timeout_ns > 0
				     ? cfg->idle_timeout_ns
				     : auto_wait(cfg, n->max_msg);
	n->frame_timeout_ns = cfg->frame_timeout_ns > 0
				      ? cfg->frame_timeout_ns
				      : auto_wait(cfg, n->max_msg);
	n->partial_limit = cfg->partial_limit ? cfg->partial_limit
					      : CR__DEFAULT_PARTIAL_LIMIT;
}

/* What the network needs of the node, once n's settings are resolved. */
static void net_cfg_init(struct cr__node *n)
{
	struct cr__net_cfg *c = &n->net_cfg;

	c->exp_id = n->exp_id;
	c->exp_tag = n->exp_tag;
	c->seed = n->seed;
	c->max_msg = n->max_msg;
	c->queue_limit = n->queue_limit;
	c->hello_timeout_ns = n->hello_timeout_ns;
	c->max_conns = n->max_conns;
	c->idle_timeout_ns = n->idle_timeout_ns;
	c->frame_timeout_ns = n->frame_timeout_ns;
	c->partial_limit = n->partial_limit;
	c->link_delay = link_delay;
	c->delay_ctx = n;
}

int cr_node_create(const struct cr_node_config *cfg, cr_node **out,
		   char *err, size_t errlen)
{
	struct cr__node *n;
	int e = -CR_ENOMEM;

	*out = NULL;
	if (!cfg->algo || cfg->algo->api_version < 1 ||
	    cfg->algo->api_version > CR_API_VERSION) {
		snprintf(err, errlen, "algorithm missing or built for another "
				      "API version");
		return -CR_EINVAL;
	}
	if (!cfg->npeers) {
		snprintf(err, errlen, "the experiment has no peers");
		return -CR_EINVAL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		goto fail_alloc;
	n->cfg = *cfg;
	memcpy(&n->algo, cfg->algo,
	       cfg->algo->api_version == 1 ? CR__ALGO_V1_SIZE
					   : sizeof(n->algo));
	n->cfg.algo = &n->algo;
	n->exp_id = cfg->exp_id ? cfg->exp_id
				: fnv1a(cfg->name ? cfg->name : "crystal");
	n->exp_tag = (uint16_t)(n->exp_id ^ n->exp_id >> 16 ^ n->exp_id >> 32 ^
				n->exp_id >> 48);
	n->max_msg = cfg->max_msg_bytes ? cfg->max_msg_bytes : 16u << 20;
	n->queue_limit = cfg->queue_limit ? cfg->queue_limit
					  : CR__DEFAULT_QUEUE_LIMIT;
	n->seed = cfg->seed ? cfg->seed : 1;
	n->hello_timeout_ns = cfg->hello_timeout_ns > 0 ? cfg->hello_timeout_ns
							: CR__HELLO_TIMEOUT;
	resolve_limits(n, cfg);
	net_cfg_init(n);
	cr__clock_init_real(&n->clock);
	pthread_mutex_init(&n->lock, NULL);
	pthread_mutex_init(&n->csv_lock, NULL);
	pthread_mutex_init(&n->values_lock, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&n->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	e = init_params(n, err, errlen);
	if (e)
		goto fail;
	if (!(cfg->spin_budget >= 0 && cfg->spin_budget <= 1)) {
		snprintf(err, errlen,
			 "spin budget %g out of range: 0 (no spinning) to 1 (a "
			 "whole core per worker)",
			 cfg->spin_budget);
		e = -CR_EINVAL;
		goto fail;
	}
	if (cfg->batch_ns < 0 || cfg->batch_ns > CR__SHAPE_BATCH_MAX) {
		snprintf(err, errlen,
			 "batch window %.3f ms out of range: 0 to %d ms",
			 (double)cfg->batch_ns / 1e6,
			 (int)(CR__SHAPE_BATCH_MAX / CR_MS));
		e = -CR_EINVAL;
		goto fail;
	}

	n->npeers = cfg->npeers;
	n->peers = calloc(n->npeers, sizeof(*n->peers));
	n->nworkers = nworkers_for(cfg);
	n->workers = calloc((size_t)n->nworkers, sizeof(*n->workers));
	n->nsources = cfg->nsources;
	n->sources = calloc(n->nsources ? n->nsources : 1, sizeof(*n->sources));
	if (!n->peers || !n->workers || !n->sources)
		goto fail_nomem;
	for (size_t i = 0; i < n->npeers; i++)
		n->peers[i].playout_fd = -1;
	for (int i = 0; i < n->nworkers; i++) {
		struct cr__worker *w = &n->workers[i];
		w->node = n;
		w->id = i;
		w->net.cfg = &n->net_cfg;
		w->net.tp = &cr__transport_sockets;
		w->net.batch_ns = cfg->batch_ns ? cfg->batch_ns : CR__SHAPE_COALESCE;
		w->spin_budget = cfg->spin_budget;
		/* each worker holds its share of the node's unfinished
		 * frames, so that none has to ask the others; never less than
		 * two of the largest, so that one of them can always finish
		 * beside others */
		w->net.partial_share = n->partial_limit / (uint64_t)n->nworkers;
		if (w->net.partial_share < 2 * ((uint64_t)n->max_msg + CR__HDR_SIZE))
			w->net.partial_share =
				2 * ((uint64_t)n->max_msg + CR__HDR_SIZE);
		/* the waits are checked twice within the shorter of them,
		 * every second at most */
		w->sweep_ns = n->idle_timeout_ns < n->frame_timeout_ns
				      ? n->idle_timeout_ns / 2
				      : n->frame_timeout_ns / 2;
		if (w->sweep_ns > CR_SEC)
			w->sweep_ns = CR_SEC;
		if (w->sweep_ns < 10 * CR_MS)
			w->sweep_ns = 10 * CR_MS;
		w->peers = calloc(n->npeers / (size_t)n->nworkers + 2,
				  sizeof(*w->peers));
		if (!w->peers)
			goto fail_nomem;
	}
	size_t nlocal = 0, k_local = 0;

	for (size_t i = 0; i < n->npeers; i++)
		nlocal += !cfg->peers[i].remote;
	if (!nlocal) {
		snprintf(err, errlen,
			 "no peer of the experiment has an IP address of this "
			 "host: each host runs the peers whose addresses are "
			 "its own");
		e = -CR_EINVAL;
		goto fail;
	}
	for (size_t i = 0; i < n->npeers; i++) {
		struct cr_peer *p = &n->peers[i];
		const struct cr_node_peer *pc = &cfg->peers[i];
		/* contiguous blocks: neighbours in address order share a worker,
		 * so most hops do not wake another thread */
		struct cr__worker *w =
			&n->workers[k_local * (size_t)n->nworkers / nlocal];

		p->node = n;
		p->w = w;
		p->index = (uint32_t)i;
		p->addr = pc->addr;
		p->algo = &n->algo;
		p->is_tail = pc->is_tail;
		p->birth_session = pc->session;
		p->cfg_session = pc->session;
		p->register_session = pc->session;
		p->is_tracker_peer = pc->is_tracker;
		if (pc->events) {
			struct cr_node_event *ev =
				malloc((pc->nevents ? pc->nevents : 1) *
				       sizeof(*ev));
			if (!ev)
				goto fail_nomem;
			memcpy(ev, pc->events, pc->nevents * sizeof(*ev));
			p->events = ev;
			p->nevents = pc->nevents;
			/* the tracker is asked for the session it will join
			 * (or, for a source, deploy) */
			for (size_t k = 0; k < pc->nevents; k++)
				if (ev[k].type == CR_NEV_JOIN ||
				    ev[k].type == CR_NEV_DEPLOY) {
					p->register_session = ev[k].session;
					break;
				}
		}
		p->playout_fd = -1;
		cr_addr_format(&p->addr, p->name, sizeof(p->name));
		p->class_name = pc->class_name ? pc->class_name : "peer";
		p->log_level = cfg->log_level;
		for (size_t k = 0; k < cfg->ntrace; k++)
			if (!fnmatch(cfg->trace[k], p->name, 0))
				p->log_level = CR_LOG_TRACE;
		p->nboot = pc->nboot;
		if (pc->nboot) {
			p->boot = malloc(pc->nboot * sizeof(*p->boot));
			if (!p->boot)
				goto fail_nomem;
			memcpy(p->boot, pc->boot, pc->nboot * sizeof(*p->boot));
		}
		if (n->algo.state_size) {
			p->state = calloc(1, n->algo.state_size);
			if (!p->state)
				goto fail_nomem;
		}
		cr__ep_init(&p->ep, &w->net, p, &p->st.net, &p->addr, p->index,
			    pc->limits ? pc->limits : &cfg->limits);
		p->ep.uncapped = pc->is_tracker;
		if (cfg->nmatrix)
			p->ep.shaped = true; /* the matrix is a delay to emulate */
		/* a remote peer is known (its access delay, its session's
		 * end) but runs on its own host */
		p->remote = pc->remote;
		if (pc->remote)
			continue;
		w->peers[w->npeers++] = p;
		k_local++;
	}
	if (build_addr_index(n))
		goto fail_nomem;
	if (cfg->nmatrix) {
		n->matrix = malloc(cfg->nmatrix * sizeof(*n->matrix));
		if (!n->matrix)
			goto fail_nomem;
		memcpy(n->matrix, cfg->matrix,
		       cfg->nmatrix * sizeof(*n->matrix));
		n->nmatrix = cfg->nmatrix;
		qsort(n->matrix, n->nmatrix, sizeof(*n->matrix), lat_cmp);
	}
	if (open_playouts(n, err, errlen)) {
		e = -CR_EINVAL;
		goto fail;
	}
	for (size_t i = 0; i < n->nsources; i++) {
		const struct cr__source_cfg *sc = &cfg->sources[i];
		if (sc->peer_index >= n->npeers || !sc->msg_size ||
		    sc->msg_size > n->max_msg) {
			snprintf(err, errlen,
				 "source %zu: bad peer or message size", i);
			e = -CR_EINVAL;
			goto fail;
		}
		n->sources[i].cfg = *sc;
		n->sources[i].fd = -1;
		atomic_init(&n->sources[i].pub_start_ns, -1);
		n->sources[i].p = &n->peers[sc->peer_index];
		n->peers[sc->peer_index].source = &n->sources[i];
	}
	*out = n;
	return 0;

fail_nomem:
	snprintf(err, errlen, "out of memory creating %zu peers", cfg->npeers);
	e = -CR_ENOMEM;
fail:
	cr_node_destroy(n);
	return e;
fail_alloc:
	snprintf(err, errlen, "out of memory");
	return e;
}

/* --- worker threads ------------------------------------------------------- */

static void join(struct cr_peer *p, uint16_t s);

void cr__peer_bootstrap(struct cr_peer *p)
{
	if (p->algo->bootstrap) {
		int e = p->algo->bootstrap(p);
		if (e)
			cr__plog(p, CR_LOG_WARN, "bootstrap returned %d (%s)", e,
				 cr_strerror(e));
	}
	p->booted = true;
	if (p->birth_session && p->ep.alive)
		join(p, p->birth_session);
}

bool cr__peer_born_at_start(const struct cr_peer *p)
{
	return !p->events ||
	       (p->nevents && p->events[0].type == CR_NEV_BIRTH &&
		p->events[0].time_ns <= 0);
}

static void peer_event(void *ctx, void *arg);

static void birth(void *ctx, void *arg)
{
	struct cr_peer *p = ctx;
	const struct cr_node_tracker *tc = &p->node->cfg.tracker;
	char err[256];

	CR__UNUSED(arg);
	if (p->ep.alive)
		return;
	if (cr__tp_closing(&p->ep)) {
		/* reborn at the instant it died: its old sockets are still
		 * closing; be born a moment later */
		cr__worker_timer(p->w, cr__clock_now(&p->node->clock) + CR_MS,
				 0, birth, p, NULL, p);
		return;
	}
	if (!cr__tp_is_open(&p->ep) && cr__tp_open(&p->ep, err, sizeof(err))) {
		p->st.failed_births++;
		cr__plog(p, CR_LOG_ERROR, "birth failed: %s", err);
		cr__tp_close(&p->ep, false);
		return;
	}
	p->ep.alive = true;
	p->st.births++;
	p->st.born_ns = cr__clock_now(&p->node->clock);
	if (p->is_tracker_peer) {
		if (cr__tracker_start(p))
			cr__plog(p, CR_LOG_ERROR, "tracker: out of memory");
		return;
	}
	cr__plog(p, CR_LOG_INFO, "birth (%s)",
		 p->algo->name);
	/* A peer given no bootstrap peers asks the tracker, if there is one,
	 * and bootstraps when it answers. */
	if (tc->enabled && !p->nboot &&
	    !cr__tracker_register(p, p->register_session))
		return;
	cr__peer_bootstrap(p);
}

static bool in_session(const struct cr_peer *p, uint16_t s)
{
	for (size_t i = 0; i < p->nsessions; i++)
		if (p->sessions[i] == s)
			return true;
	return false;
}

static void join(struct cr_peer *p, uint16_t s)
{
	uint16_t *v;

	if (in_session(p, s))
		return;
	v = realloc(p->sessions, (p->nsessions + 1) * sizeof(*v));
	if (!v)
		return;
	p->sessions = v;
	p->sessions[p->nsessions++] = s;
	if (!p->join_ns)
		p->join_ns = cr__clock_now(&p->node->clock);
	cr__plog(p, CR_LOG_INFO, "join session %u", s);
	if (p->algo->join_session)
		p->algo->join_session(p, s);
}

static void leave(struct cr_peer *p, uint16_t s)
{
	for (size_t i = 0; i < p->nsessions; i++) {
		if (p->sessions[i] != s)
			continue;
		p->sessions[i] = p->sessions[--p->nsessions];
		cr__plog(p, CR_LOG_INFO, "leave session %u", s);
		if (p->algo->leave_session)
			p->algo->leave_session(p, s);
		return;
	}
}

/* Abrupt: sockets reset, no goodbye; neighbours learn it from TCP. */
static void die(struct cr_peer *p)
{
	if (!p->ep.alive)
		return;
	cr__plog(p, CR_LOG_INFO, "die");
	p->st.deaths++;
	p->st.alive_ns += cr__clock_now(&p->node->clock) - p->st.born_ns;
	if (p->source)
		cr__source_stop(p->source);
	if (p->booted && p->algo->destroy)
		p->algo->destroy(p);
	p->ep.alive = false;
	p->booted = false;
	p->tracker_wait = false;
	p->tracker_wait_timer = 0;
	/* a query out gets no answer: its timer goes with the others */
	p->query_wait = false;
	p->query_timer = 0;
	p->query_next_ns = 0;
	/* a new life asks the tracker again, and joins only what its own
	 * events say */
	if (p->boot_from_tracker) {
		free(p->boot);
		p->boot = NULL;
		p->nboot = 0;
		p->boot_from_tracker = false;
	}
	p->birth_session = p->cfg_session;
	cr__timers_cancel_owner(&p->w->net.timers, p);
	cr__tp_close(&p->ep, true);
	/* its events to come stay scheduled: they are owned by the node */
	if (p->algo->state_size)
		memset(p->state, 0, p->algo->state_size);
	free(p->sessions);
	p->sessions = NULL;
	p->nsessions = 0;
}

static void peer_event(void *ctx, void *arg)
{
	struct cr_peer *p = ctx;
	const struct cr_node_event *e = arg;

	switch (e->type) {
	case CR_NEV_BIRTH:
		birth(p, NULL);
		break;
	case CR_NEV_DIE:
		die(p);
		break;
	case CR_NEV_JOIN:
		if (!p->ep.alive)
			break;
		if (!p->booted)
			p->birth_session = e->session; /* joins once booted */
		else
			join(p, e->session);
		break;
	case CR_NEV_LEAVE:
		if (p->ep.alive && p->booted)
			leave(p, e->session);
		break;
	case CR_NEV_DEPLOY:
		if (p->ep.alive && p->source &&
		    p->source->cfg.session == e->session) {
			/* this deploy's rate, or the session's own */
			p->source->rate_Bps = e->rate_Bps ? e->rate_Bps
						 : p->source->cfg.rate_Bps;
			p->source->done = false;
			p->source->produced = 0;
			cr__source_start(p, p->source);
		}
		break;
	case CR_NEV_TERMINATE:
		if (p->source && p->source->cfg.session == e->session)
			cr__source_stop(p->source);
		break;
	}
}

/* A session's source stopped: every local member leaves it. */
static void session_end(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;
	uint16_t s = (uint16_t)(uintptr_t)arg;

	for (size_t i = 0; i < w->npeers; i++)
		if (w->peers[i]->ep.alive && w->peers[i]->booted)
			leave(w->peers[i], s);
}

static void source_begin(void *ctx, void *arg)
{
	struct cr_peer *p = ctx;

	CR__UNUSED(arg);
	if (p->ep.alive && p->source)
		cr__source_start(p, p->source);
}

static void publish_stats(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;
	uint64_t bytes = 0, alive = 0, played = 0, due = 0;

	CR__UNUSED(arg);
	for (size_t i = 0; i < w->npeers; i++) {
		const struct cr_peer *p = w->peers[i];
		bytes += p->st.data_bytes_in;
		if (p->is_tracker_peer)
			continue;
		alive += p->ep.alive;
		if (p->st.play_reported && !p->source) {
			played += p->st.play.played;
			due += p->st.play.played + p->st.play.missed;
		}
	}
	atomic_store_explicit(&w->pub_data_bytes_in, bytes,
			      memory_order_relaxed);
	if (!w->stopping) /* the last sample keeps who was alive at the end */
		atomic_store_explicit(&w->pub_alive, alive,
				      memory_order_relaxed);
	atomic_store_explicit(&w->pub_played, played, memory_order_relaxed);
	atomic_store_explicit(&w->pub_due, due, memory_order_relaxed);
	/* last, so that whoever reads this time reads counters as new */
	atomic_store_explicit(&w->pub_stats_ns, cr__clock_now(w->clock),
			      memory_order_release);
}

static void sample(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;

	CR__UNUSED(arg);
	w->samples++;
	cr__sampler_worker(w, w->samples * w->node->sample_ns);
}

static void warmup_done(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;

	CR__UNUSED(arg);
	for (size_t i = 0; i < w->npeers; i++) {
		struct cr_peer *p = w->peers[i];
		p->warm_data_bytes_in = p->st.data_bytes_in;
		p->warm_data_msgs_in = p->st.data_msgs_in;
		/* fidelity too is judged on the steady state */
		cr__tp_ep_fid_reset(&p->ep);
	}
	cr__hist_reset(&w->net.timers.lag);
	cr__tp_fid_reset(&w->net);
	cr__hist_reset(&w->wake_late);
	cr__hist_reset(&w->lag_mark);
	cr__hist_reset(&w->late_mark);
	cr__hist_reset(&w->rx_late_mark);
}

static void sweep(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;

	CR__UNUSED(arg);
	cr__tp_sweep(&w->net);
}

static void flush_log(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;

	CR__UNUSED(arg);
	cr__log_flush(&w->log);
}

static void *worker_main(void *arg)
{
	struct cr__worker *w = arg;
	struct cr__node *n = w->node;
	int64_t stats = n->cfg.stats_interval_ns ? n->cfg.stats_interval_ns
						 : 250 * CR_MS;
	bool go;

#ifdef __linux__
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* precise wake-ups */
	cr__worker_short_slice();
#endif
	w->setup_err = cr__worker_setup(w);
	pthread_mutex_lock(&n->lock);
	if (w->setup_err)
		n->abort_start = true;
	n->ready++;
	pthread_cond_broadcast(&n->cond);
	while (!n->go && !n->abort_start)
		pthread_cond_wait(&n->cond, &n->lock);
	go = n->go && !n->abort_start;
	pthread_mutex_unlock(&n->lock);

	if (go) {
		/* Every peer's events go into its worker's timers now: no
		 * central server is asked while the experiment runs. */
		for (size_t i = 0; i < w->npeers; i++) {
			struct cr_peer *p = w->peers[i];
			if (!p->events) {
				cr__worker_timer(w, 0, 0, birth, p, NULL, NULL);
				continue;
			}
			for (size_t k = 0; k < p->nevents; k++) {
				const struct cr_node_event *e = &p->events[k];
				cr__worker_timer(w, e->time_ns, 0, peer_event,
						 p, (void *)e, NULL);
			}
		}
		/* a session ends for every member, wherever its source is */
		for (size_t i = 0; i < n->npeers; i++)
			for (size_t k = 0; k < n->peers[i].nevents; k++) {
				const struct cr_node_event *e =
					&n->peers[i].events[k];
				if (e->type == CR_NEV_TERMINATE)
					cr__worker_timer(
						w, e->time_ns, 0, session_end,
						w,
						(void *)(uintptr_t)e->session,
						NULL);
			}
		for (size_t i = 0; i < w->npeers; i++)
			if (w->peers[i]->source && !w->peers[i]->source->cfg.on_deploy)
				cr__worker_timer(w,
						 w->peers[i]->source->cfg.start_ns,
						 0, source_begin, w->peers[i],
						 NULL, w->peers[i]);
		cr__worker_timer(w, stats, stats, publish_stats, w, NULL,
				 NULL);
		cr__worker_timer(w, 200 * CR_MS, 200 * CR_MS, flush_log, w,
				 NULL, NULL);
		cr__worker_timer(w, w->sweep_ns, w->sweep_ns, sweep, w, NULL,
				 NULL);
		if (n->csv_peers) {
			w->sampling = true;
			w->last_sample_ns = -CR_SEC;
			cr__worker_timer(w, n->sample_ns, n->sample_ns, sample,
					 w, NULL, NULL);
		}
		if (n->cfg.warmup_ns > 0)
			cr__worker_timer(w, n->cfg.warmup_ns, 0, warmup_done, w,
					 NULL, NULL);
		if (!atomic_load(&n->ended)) {
			if (n->cfg.busy_poll)
				while (uv_run(&w->net.loop, UV_RUN_NOWAIT))
					; /* every pass polls with a zero timeout */
			else
				uv_run(&w->net.loop, UV_RUN_DEFAULT);
		}
	}
	publish_stats(w, NULL);
	cr__worker_teardown(w);
	return NULL;
}

int cr_node_start(cr_node *n, char *err, size_t errlen)
{
	int created = 0, e = 0;

	if (cr__sampler_open(n, err, errlen))
		return -CR_EIO;
	for (; created < n->nworkers; created++) {
		if (pthread_create(&n->workers[created].thread, NULL,
				   worker_main, &n->workers[created])) {
			snprintf(err, errlen, "cannot start worker thread %d",
				 created);
			e = -CR_EIO;
			break;
		}
	}
	pthread_mutex_lock(&n->lock);
	if (e)
		n->abort_start = true;
	while (n->ready < created)
		pthread_cond_wait(&n->cond, &n->lock);
	if (!n->abort_start) {
		/* every socket is open: time 0 is now */
		cr__clock_init_real(&n->clock);
		n->go = true;
		/* before the workers run: a peer may end the experiment at
		 * once, and cr_node_stop must then wake every worker */
		n->nworkers_started = created;
	}
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	n->started = true;

	if (n->abort_start) {
		for (int i = 0; i < created; i++) {
			pthread_join(n->workers[i].thread, NULL);
			if (!e && n->workers[i].setup_err) {
				e = n->workers[i].setup_err;
				snprintf(err, errlen, "%s",
					 n->workers[i].setup_msg);
			}
		}
		n->joined = true;
		n->nworkers_started = 0;
		return e ? e : -CR_EIO;
	}
	return 0;
}

void cr_node_stop(cr_node *n, bool interrupted)
{
	bool was = false;

	pthread_mutex_lock(&n->lock);
	if (atomic_compare_exchange_strong(&n->ended, &was, true)) {
		n->end_ns = cr__clock_now(&n->clock);
		atomic_store(&n->interrupted, interrupted);
		/* Once, and under the lock: a worker that has seen the end
		 * takes the lock before it closes its wake handle, so no
		 * wake is ever sent to a closed one (a later stop, from a
		 * peer on another worker, sends none). */
		for (int i = 0; i < n->nworkers_started; i++)
			uv_async_send(&n->workers[i].wake);
	}
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

bool cr_node_wait(cr_node *n, int64_t timeout_ns)
{
	int64_t now = cr__clock_now(&n->clock);
	int64_t until = now + timeout_ns;
	bool ended;

	if (n->cfg.duration_ns > 0 && until > n->cfg.duration_ns)
		until = n->cfg.duration_ns;
	pthread_mutex_lock(&n->lock);
	while (!atomic_load(&n->ended) && cr__clock_now(&n->clock) < until) {
		int64_t abs = n->clock.origin_ns + until;
		struct timespec ts = {abs / CR_SEC, abs % CR_SEC};
		pthread_cond_timedwait(&n->cond, &n->lock, &ts);
	}
	ended = atomic_load(&n->ended);
	pthread_mutex_unlock(&n->lock);
	if (!ended && n->cfg.duration_ns > 0 &&
	    cr__clock_now(&n->clock) >= n->cfg.duration_ns) {
		cr_node_stop(n, false);
		ended = true;
	}
	return ended;
}

void cr_node_join(cr_node *n)
{
	if (n->joined)
		return;
	if (!atomic_load(&n->ended))
		cr_node_stop(n, false);
	for (int i = 0; i < n->nworkers_started; i++)
		pthread_join(n->workers[i].thread, NULL);
	n->joined = true;
	cr__sampler_close(n, n->metrics_err, sizeof(n->metrics_err));
}

const char *cr_node_metrics_error(const cr_node *n)
{
	return n->metrics_err[0] ? n->metrics_err : NULL;
}

int cr_node_run(cr_node *n, char *err, size_t errlen)
{
	int e = cr_node_start(n, err, errlen);

	if (e)
		return e;
	while (!cr_node_wait(n, CR_SEC))
		;
	cr_node_join(n);
	return 0;
}

void cr_node_destroy(cr_node *n)
{
	if (!n)
		return;
	if (n->started && !n->joined)
		cr_node_join(n);
	for (size_t i = 0; i < n->npeers && n->peers; i++) {
		if (n->peers[i].playout_fd >= 0)
			close(n->peers[i].playout_fd);
		free(n->peers[i].state);
		free(n->peers[i].boot);
		free((void *)n->peers[i].events);
		free(n->peers[i].sessions);
	}
	if (n->csv_peers) /* a start that failed */
		cr__sampler_close(n, n->metrics_err, sizeof(n->metrics_err));
	for (int i = 0; i < n->nworkers && n->workers; i++) {
		free(n->workers[i].peers);
		free(n->workers[i].rows);
	}
	for (size_t i = 0; i < n->nparams; i++) {
		free(n->params[i].name);
		free(n->params[i].value);
	}
	free(n->params);
	free(n->addr_index);
	free(n->matrix);
	free(n->peers);
	free(n->workers);
	free(n->sources);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->csv_lock);
	pthread_mutex_destroy(&n->values_lock);
	pthread_cond_destroy(&n->cond);
	free(n);
}

/* --- results -------------------------------------------------------------- */

int64_t cr_node_now(const cr_node *n)
{
	return cr__clock_now(&n->clock);
}

void cr_node_live(const cr_node *n, int64_t *now_ns, uint64_t *data_bytes_in,
		  uint64_t *peers_up)
{
	uint64_t bytes = 0;

	for (int i = 0; i < n->nworkers_started; i++)
		bytes += atomic_load_explicit(&n->workers[i].pub_data_bytes_in,
					      memory_order_relaxed);
	*now_ns = cr__clock_now(&n->clock);
	*data_bytes_in = bytes;
	*peers_up = n->npeers;
}

int64_t cr_node_live_since(const cr_node *n)
{
	int64_t oldest = INT64_MAX;

	for (int i = 0; i < n->nworkers_started; i++) {
		int64_t t = atomic_load_explicit(&n->workers[i].pub_stats_ns,
						 memory_order_acquire);
		if (t < oldest)
			oldest = t;
	}
	return oldest == INT64_MAX ? 0 : oldest;
}

int64_t cr_node_live_late_p99(const cr_node *n)
{
	int64_t m = 0;

	for (int i = 0; i < n->nworkers_started; i++) {
		int64_t x = atomic_load_explicit(&n->workers[i].pub_late_p99,
						 memory_order_relaxed);
		if (x > m)
			m = x;
	}
	return m;
}

void cr_node_live_stream(const cr_node *n, uint64_t *peers_alive,
			 double *continuity)
{
	uint64_t alive = 0, played = 0, due = 0;

	for (int i = 0; i < n->nworkers_started; i++) {
		const struct cr__worker *w = &n->workers[i];
		alive += atomic_load_explicit(&w->pub_alive,
					      memory_order_relaxed);
		played += atomic_load_explicit(&w->pub_played,
					       memory_order_relaxed);
		due += atomic_load_explicit(&w->pub_due, memory_order_relaxed);
	}
	*peers_alive = alive;
	*continuity = due ? (double)played / (double)due : -1;
}

const struct cr__peer_stats *cr_node_peer_stats(const cr_node *n, size_t i)
{
	return i < n->npeers ? &n->peers[i].st : NULL;
}

static void wake_results(const cr_node *n, struct cr_node_result *r)
{
	struct cr__hist wake = {0};
	double lead = 0, spin = 0;
	int64_t lead_time = 0;
	uint64_t windows = 0, contended = 0;

	for (int i = 0; i < n->nworkers; i++) {
		const struct cr__worker *w = &n->workers[i];
		cr__hist_merge(&wake, &w->wake_late);
		lead += w->lead_ns_sum;
		lead_time += w->lead_time_ns;
		spin += (double)w->spin_ns;
		windows += w->windows;
		contended += w->contended_windows;
		r->spin_misses += w->spin_misses;
	}
	r->contended_share = windows ? (double)contended / (double)windows : 0;
	r->wakeups = wake.n;
	r->wake_late_p50_ns = cr__hist_quantile(&wake, 0.50);
	r->wake_late_p99_ns = cr__hist_quantile(&wake, 0.99);
	r->wake_late_max_ns = wake.max;
	r->wake_lead_mean_ns = lead_time ? (int64_t)(lead / (double)lead_time) : 0;
	r->spin_cores = r->elapsed_ns > 0 ? spin / (double)r->elapsed_ns : 0;
	r->spin_budget = n->workers[0].spin_budget;
}

/* The receiving side and the waits, over the workers. */
static void fidelity_rx(const cr_node *n, struct cr_node_result *r)
{
	struct cr__hist rx = {0}, q = {0};
	double err_sum = 0;

	for (int i = 0; i < n->nworkers; i++) {
		const struct cr__worker *w = &n->workers[i];
		cr__hist_merge(&rx, &w->net.rx_late);
		cr__hist_merge(&q, &w->net.queueing);
		r->frames_after_full += w->net.frames_after_full;
		err_sum += w->net.fid_rx_err_sum;
		r->fid_rx_links += w->net.fid_rx_links;
		if (w->net.fid_rx_links &&
		    fabs(w->net.fid_rx_err_worst) >= fabs(r->rx_rate_err_worst)) {
			r->rx_rate_err_worst = w->net.fid_rx_err_worst;
			r->rx_rate_worst_configured_Bps = w->net.fid_rx_worst_rate;
			snprintf(r->rx_rate_worst_link,
				 sizeof(r->rx_rate_worst_link), "%s",
				 w->net.fid_rx_worst_link);
		}
		if (w->net.fid_late_worst_ns > (double)r->added_delay_worst_mean_ns) {
			r->added_delay_worst_mean_ns =
				(int64_t)w->net.fid_late_worst_ns;
			snprintf(r->added_delay_worst_link,
				 sizeof(r->added_delay_worst_link), "%s",
				 w->net.fid_late_worst_link);
		}
	}
	r->rx_late_samples = rx.n;
	r->rx_late_p50_ns = cr__hist_quantile(&rx, 0.50);
	r->rx_late_p99_ns = cr__hist_quantile(&rx, 0.99);
	r->rx_late_max_ns = rx.max;
	r->rx_rate_err_mean =
		r->fid_rx_links ? err_sum / (double)r->fid_rx_links : 0;
	r->queueing_samples = q.n;
	r->queueing_p50_ns = cr__hist_quantile(&q, 0.50);
	r->queueing_p99_ns = cr__hist_quantile(&q, 0.99);
	r->queueing_max_ns = q.max;
	r->queueing_mean_ns = cr__hist_mean(&q);
}

static void fidelity(const cr_node *n, struct cr_node_result *r)
{
	struct cr__hist late = {0};
	double err_sum = 0;

	for (size_t i = 0; i < n->npeers; i++) {
		const struct cr_peer *p = &n->peers[i];
		r->shaped |= p->ep.shaped;
		r->udp_lost += p->st.net.udp_lost;
		r->births += p->st.births;
		r->deaths += p->st.deaths;
		r->failed_births += p->st.failed_births;
		r->udp_dropped += p->st.net.udp_dropped;
		r->udp_rx_dropped += p->st.net.udp_rx_dropped;
		r->udp_rx_overflow += p->st.net.udp_rx_overflow;
	}
	for (int i = 0; i < n->nworkers; i++) {
		const struct cr__worker *w = &n->workers[i];
		cr__hist_merge(&late, &w->net.late);
		r->shaped_writes += w->net.shaped_writes;
		if (w->net.early_max > r->early_max_ns)
			r->early_max_ns = w->net.early_max;
		err_sum += w->net.fid_err_sum;
		r->fid_links += w->net.fid_links;
		if (w->net.fid_links &&
		    fabs(w->net.fid_err_worst) >= fabs(r->rate_err_worst)) {
			r->rate_err_worst = w->net.fid_err_worst;
			r->rate_worst_configured_Bps = w->net.fid_worst_rate;
			snprintf(r->rate_worst_link, sizeof(r->rate_worst_link),
				 "%s", w->net.fid_worst_link);
		}
	}
	r->late_samples = late.n;
	for (int i = 0; i < n->nworkers; i++) {
		r->late_over += n->workers[i].net.late_over;
		r->rx_late_over += n->workers[i].net.rx_late_over;
	}
	r->batch_ns = n->workers[0].net.batch_ns;
	wake_results(n, r);
	r->late_p50_ns = cr__hist_quantile(&late, 0.50);
	r->late_p99_ns = cr__hist_quantile(&late, 0.99);
	r->late_max_ns = late.max;
	r->late_mean_ns = cr__hist_mean(&late);
	r->rate_err_mean = r->fid_links ? err_sum / (double)r->fid_links : 0;
	fidelity_rx(n, r);
	cr_fidelity_judge(r);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* mean, min and quantiles (nearest rank) of v[0..n) */
static void dist(double *v, size_t n, struct cr_node_dist *d)
{
	double sum = 0;

	memset(d, 0, sizeof(*d));
	d->n = n;
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	d->mean = sum / (double)n;
	d->min = v[0];
	d->p5 = v[(size_t)(0.05 * (double)(n - 1) + 0.5)];
	d->p50 = v[(size_t)(0.50 * (double)(n - 1) + 0.5)];
	d->p95 = v[(size_t)(0.95 * (double)(n - 1) + 0.5)];
}

/* Stream quality over the peers that played (cr_report_playback), and
 * control overhead over the peers that received data. */
static void stream_quality(const cr_node *n, struct cr_node_result *r)
{
	double *cont = calloc(n->npeers + 1, sizeof(double));
	double *start = calloc(n->npeers + 1, sizeof(double));
	double *dup = calloc(n->npeers + 1, sizeof(double));
	double *over = calloc(n->npeers + 1, sizeof(double));
	double *lat = calloc(n->npeers + 1, sizeof(double));
	size_t nc = 0, ns = 0, nd = 0, no = 0, nl = 0;

	if (!cont || !start || !dup || !over || !lat)
		goto out;
	for (size_t i = 0; i < n->npeers; i++) {
		const struct cr_peer *p = &n->peers[i];
		if (p->remote || p->is_tracker_peer || p->source)
			continue;
		if (p->st.data_bytes_in)
			over[no++] = (double)p->st.ctrl_bytes_in /
				     (double)p->st.data_bytes_in;
		if (!p->st.play_reported)
			continue;
		const cr_playback_report *pl = &p->st.play;
		if (pl->played + pl->missed)
			cont[nc++] = (double)pl->played /
				     (double)(pl->played + pl->missed);
		if (pl->first_played_ns >= 0 && p->join_ns)
			start[ns++] =
				(double)(pl->first_played_ns - p->join_ns) / 1e9;
		if (p->st.data_bytes_in)
			dup[nd++] = (double)pl->duplicate_bytes /
				    (double)p->st.data_bytes_in;
		if (pl->completed)
			lat[nl++] = (double)pl->latency_sum_ns /
				    (double)pl->completed / 1e9;
	}
	dist(lat, nl, &r->segment_latency_s);
	dist(cont, nc, &r->continuity);
	dist(start, ns, &r->startup_delay_s);
	dist(dup, nd, &r->duplicate_ratio);
	dist(over, no, &r->control_overhead);
out:
	free(cont);
	free(start);
	free(dup);
	free(over);
	free(lat);
}

size_t cr__node_value_order(const struct cr__node *n,
			    uint32_t order[CR_REPORT_VALUES_MAX])
{
	size_t k = atomic_load_explicit(&n->nvalues, memory_order_acquire);

	/* insertion sort: sixteen names at most */
	for (size_t i = 0; i < k; i++) {
		size_t j = i;
		for (; j > 0 && strcmp(n->value_names[order[j - 1]],
				       n->value_names[i]) > 0;
		     j--)
			order[j] = order[j - 1];
		order[j] = (uint32_t)i;
	}
	return k;
}

/* Each value the algorithm reported, over the peers that reported it. */
static void values_summary(const cr_node *n, struct cr_node_result *r)
{
	uint32_t order[CR_REPORT_VALUES_MAX];
	double *v = calloc(n->npeers + 1, sizeof(double));

	if (!v)
		return;
	r->nvalues = cr__node_value_order(n, order);
	for (size_t i = 0; i < r->nvalues; i++) {
		uint32_t k = order[i], bit = 1u << k;
		size_t nv = 0;

		for (size_t j = 0; j < n->npeers; j++) {
			const struct cr_peer *p = &n->peers[j];
			if (!p->remote && !p->is_tracker_peer &&
			    p->st.values_set & bit)
				v[nv++] = p->st.values[k];
		}
		snprintf(r->values[i].name, sizeof(r->values[i].name), "%s",
			 n->value_names[k]);
		dist(v, nv, &r->values[i].dist);
	}
	free(v);
}

/* What the tracker of this node did, if it ran one. */
static void tracker_summary(const cr_node *n, struct cr_node_result *r)
{
	for (size_t i = 0; i < n->npeers; i++) {
		const struct cr_peer *p = &n->peers[i];
		const struct cr__tracker_stats *s = &p->st.tracker;
		if (p->remote || !p->is_tracker_peer)
			continue;
		r->tracker_ran = true;
		r->tracker.registrations += s->registrations;
		r->tracker.queries += s->queries;
		r->tracker.replies += s->replies;
		r->tracker.timed_out += s->timed_out;
		r->tracker.departed += s->departed;
		r->tracker.refused_sessions_per_peer +=
			s->refused_sessions_per_peer;
		r->tracker.refused_peers_per_session +=
			s->refused_peers_per_session;
		if (s->entries_max > r->tracker.entries_max)
			r->tracker.entries_max = s->entries_max;
	}
}

/* The limits as used and what they closed, the tracker's included. */
static void limits(const cr_node *n, struct cr_node_result *r)
{
	r->max_conns = n->max_conns;
	r->idle_timeout_ns = n->idle_timeout_ns;
	r->frame_timeout_ns = n->frame_timeout_ns;
	r->partial_limit = n->partial_limit;
	r->partial_peak = atomic_load(&n->net_cfg.partial_peak);
	for (size_t i = 0; i < n->npeers; i++)
		for (int k = 0; k < CR__LIMIT_N; k++)
			r->limit_hits[k] += n->peers[i].st.net.limit_hits[k];
}

void cr_node_result(const cr_node *n, struct cr_node_result *r)
{
	double secs, sum = 0, tails = 0, tails_wire = 0;
	uint64_t receivers = 0, ntails = 0, measured_bytes = 0;
	int64_t warm = n->cfg.warmup_ns;
	struct cr__hist lag = {0};

	memset(r, 0, sizeof(*r));
	r->elapsed_ns = n->end_ns > 0 ? n->end_ns : cr_node_now(n);
	r->interrupted = atomic_load(&n->interrupted);
	r->peers = 0;
	for (size_t i = 0; i < n->npeers; i++)
		r->peers += !n->peers[i].remote && !n->peers[i].is_tracker_peer;
	r->workers = n->nworkers;
	/* rates count after the warm-up, when the run got that far */
	if (warm <= 0 || warm >= r->elapsed_ns)
		warm = 0;
	r->measured_ns = r->elapsed_ns - warm;
	secs = (double)r->measured_ns / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	r->min_peer_rate_Bps = -1;
	for (size_t i = 0; i < n->npeers; i++) {
		const struct cr_peer *p = &n->peers[i];
		if (p->remote || p->is_tracker_peer)
			continue;
		uint64_t bytes = p->st.data_bytes_in -
				 (warm ? p->warm_data_bytes_in : 0);
		double rate = (double)bytes / secs;

		r->data_bytes_in += p->st.data_bytes_in;
		measured_bytes += bytes;
		r->bad_frames += p->st.net.bad_frames;
		r->bad_datagrams += p->st.net.bad_datagrams;
		if (p->source)
			continue; /* a source receives its own stream */
		receivers++;
		sum += rate;
		if (r->min_peer_rate_Bps < 0 || rate < r->min_peer_rate_Bps)
			r->min_peer_rate_Bps = rate;
		if (p->is_tail) {
			uint64_t msgs = p->st.data_msgs_in -
					(warm ? p->warm_data_msgs_in : 0);
			tails += rate;
			tails_wire += (double)(bytes + msgs * CR__HDR_SIZE) / secs;
			ntails++;
		}
	}
	if (r->min_peer_rate_Bps < 0)
		r->min_peer_rate_Bps = 0;
	r->cumulative_rate_Bps = (double)measured_bytes / secs;
	r->per_peer_rate_Bps = receivers ? sum / (double)receivers : 0;
	r->tail_rate_Bps = ntails ? tails / (double)ntails : 0;
	r->tail_wire_rate_Bps = ntails ? tails_wire / (double)ntails : 0;
	for (int i = 0; i < n->nworkers; i++) {
		const struct cr__worker *w = &n->workers[i];
		r->messages_switched += w->msgs_switched;
		cr__hist_merge(&lag, &w->lag);
	}
	r->timer_lag_p50_ns = cr__hist_quantile(&lag, 0.50);
	r->timer_lag_p99_ns = cr__hist_quantile(&lag, 0.99);
	r->timer_lag_max_ns = lag.max;
	limits(n, r);
	fidelity(n, r);
	stream_quality(n, r);
	values_summary(n, r);
	tracker_summary(n, r);
}
