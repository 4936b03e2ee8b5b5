/* The node's creation and destruction: the configuration's checks, the
 * settings resolved from it (defaults, limits, waits), the peers and
 * workers allocated, each local peer given to a worker, the address
 * index and latency matrix the network asks for delays, the play-out
 * files.  Also what an embedder asks before it creates a node: the
 * descriptors it will need, an experiment's id, whether an address is
 * this host's.
 */
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define FDS_PER_WORKER 5 /* 2 epoll, eventfd, log, spare */
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

/* What makes a node impossible before anything is allocated. */
static int check_config(const struct cr_node_config *cfg, char *err,
			size_t errlen)
{
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
	return 0;
}

/* The ranges of the workers' settings. */
static int check_ranges(const struct cr_node_config *cfg, char *err,
			size_t errlen)
{
	if (!(cfg->spin_budget >= 0 && cfg->spin_budget <= 1)) {
		snprintf(err, errlen,
			 "spin budget %g out of range: 0 (no spinning) to 1 (a "
			 "whole core per worker)",
			 cfg->spin_budget);
		return -CR_EINVAL;
	}
	if (cfg->batch_ns < 0 || cfg->batch_ns > CR__SHAPE_BATCH_MAX) {
		snprintf(err, errlen,
			 "batch window %.3f ms out of range: 0 to %d ms",
			 (double)cfg->batch_ns / 1e6,
			 (int)(CR__SHAPE_BATCH_MAX / CR_MS));
		return -CR_EINVAL;
	}
	return 0;
}

/* A node of cfg's settings, defaults resolved, with its clock and locks;
 * no peers yet.  NULL when out of memory. */
static struct cr__node *node_alloc(const struct cr_node_config *cfg)
{
	struct cr__node *n = calloc(1, sizeof(*n));
	pthread_condattr_t ca;

	if (!n)
		return NULL;
	n->cfg = *cfg;
	memcpy(&n->algo, cfg->algo,
	       cfg->algo->api_version == 1   ? CR__ALGO_V1_SIZE
	       : cfg->algo->api_version == 2 ? CR__ALGO_V2_SIZE
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
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	return n;
}

/* Worker i's settings and its room for a share of the peers. */
static int worker_init(struct cr__node *n, int i)
{
	struct cr__worker *w = &n->workers[i];
	uint64_t two_frames = 2 * ((uint64_t)n->max_msg + CR__HDR_SIZE);

	w->node = n;
	w->id = i;
	w->net.cfg = &n->net_cfg;
	w->net.tp = &cr__transport_sockets;
	w->net.batch_ns = n->cfg.batch_ns ? n->cfg.batch_ns : CR__SHAPE_COALESCE;
	w->spin_budget = n->cfg.spin_budget;
	/* each worker holds its share of the node's unfinished frames, so
	 * that none has to ask the others; never less than two of the
	 * largest, so that one of them can always finish beside others */
	w->net.partial_share = n->partial_limit / (uint64_t)n->nworkers;
	if (w->net.partial_share < two_frames)
		w->net.partial_share = two_frames;
	/* the waits are checked twice within the shorter of them, every
	 * second at most */
	w->sweep_ns = n->idle_timeout_ns < n->frame_timeout_ns
			      ? n->idle_timeout_ns / 2
			      : n->frame_timeout_ns / 2;
	if (w->sweep_ns > CR_SEC)
		w->sweep_ns = CR_SEC;
	if (w->sweep_ns < 10 * CR_MS)
		w->sweep_ns = 10 * CR_MS;
	w->peers = calloc(n->npeers / (size_t)n->nworkers + 2,
			  sizeof(*w->peers));
	return w->peers ? 0 : -CR_ENOMEM;
}

/* The arrays of peers, workers and sources, and every worker set up. */
static int alloc_shards(struct cr__node *n)
{
	n->npeers = n->cfg.npeers;
	n->peers = calloc(n->npeers, sizeof(*n->peers));
	n->nworkers = nworkers_for(&n->cfg);
	n->workers = calloc((size_t)n->nworkers, sizeof(*n->workers));
	n->nsources = n->cfg.nsources;
	n->sources = calloc(n->nsources ? n->nsources : 1, sizeof(*n->sources));
	if (!n->peers || !n->workers || !n->sources)
		return -CR_ENOMEM;
	for (size_t i = 0; i < n->npeers; i++)
		n->peers[i].playout_fd = -1;
	for (int i = 0; i < n->nworkers; i++)
		if (worker_init(n, i))
			return -CR_ENOMEM;
	return 0;
}

/* A copy of the peer's planned events; the tracker is asked for the
 * session it will join (or, for a source, deploy). */
static int copy_events(struct cr_peer *p, const struct cr_node_peer *pc)
{
	struct cr_node_event *ev;

	if (!pc->events)
		return 0;
	ev = malloc((pc->nevents ? pc->nevents : 1) * sizeof(*ev));
	if (!ev)
		return -CR_ENOMEM;
	memcpy(ev, pc->events, pc->nevents * sizeof(*ev));
	p->events = ev;
	p->nevents = pc->nevents;
	for (size_t k = 0; k < pc->nevents; k++)
		if (ev[k].type == CR_NEV_JOIN || ev[k].type == CR_NEV_DEPLOY) {
			p->register_session = ev[k].session;
			break;
		}
	return 0;
}

/* Peer i as configured, given to worker w (which runs it if it is
 * local). */
static int peer_init(struct cr__node *n, size_t i, struct cr__worker *w)
{
	const struct cr_node_config *cfg = &n->cfg;
	const struct cr_node_peer *pc = &cfg->peers[i];
	struct cr_peer *p = &n->peers[i];

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
	if (copy_events(p, pc))
		return -CR_ENOMEM;
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
			return -CR_ENOMEM;
		memcpy(p->boot, pc->boot, pc->nboot * sizeof(*p->boot));
	}
	if (n->algo.state_size) {
		p->state = calloc(1, n->algo.state_size);
		if (!p->state)
			return -CR_ENOMEM;
	}
	cr__ep_init(&p->ep, &w->net, p, &p->st.net, &p->addr, p->index,
		    pc->limits ? pc->limits : &cfg->limits);
	p->ep.uncapped = pc->is_tracker;
	if (cfg->nmatrix)
		p->ep.shaped = true; /* the matrix is a delay to emulate */
	/* a remote peer is known (its access delay, its session's end) but
	 * runs on its own host */
	p->remote = pc->remote;
	if (!pc->remote)
		w->peers[w->npeers++] = p;
	return 0;
}

/* Every peer, the local ones in contiguous blocks over the workers:
 * neighbours in address order share a worker, so most hops do not wake
 * another thread. */
static int init_peers(struct cr__node *n, char *err, size_t errlen)
{
	size_t nlocal = 0, k_local = 0;

	for (size_t i = 0; i < n->npeers; i++)
		nlocal += !n->cfg.peers[i].remote;
	if (!nlocal) {
		snprintf(err, errlen,
			 "no peer of the experiment has an IP address of this "
			 "host: each host runs the peers whose addresses are "
			 "its own");
		return -CR_EINVAL;
	}
	for (size_t i = 0; i < n->npeers; i++) {
		/* a remote peer after the last local one is the last
		 * worker's (it is known there, never run) */
		size_t k = k_local < nlocal ? k_local : nlocal - 1;
		struct cr__worker *w =
			&n->workers[k * (size_t)n->nworkers / nlocal];
		if (peer_init(n, i, w))
			goto nomem;
		k_local += !n->peers[i].remote;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory creating %zu peers", n->npeers);
	return -CR_ENOMEM;
}

/* The latency matrix, sorted for lookups. */
static int copy_matrix(struct cr__node *n)
{
	const struct cr_node_config *cfg = &n->cfg;

	if (!cfg->nmatrix)
		return 0;
	n->matrix = malloc(cfg->nmatrix * sizeof(*n->matrix));
	if (!n->matrix)
		return -CR_ENOMEM;
	memcpy(n->matrix, cfg->matrix, cfg->nmatrix * sizeof(*n->matrix));
	n->nmatrix = cfg->nmatrix;
	qsort(n->matrix, n->nmatrix, sizeof(*n->matrix), lat_cmp);
	return 0;
}

/* The sources, each tied to its peer. */
static int init_sources(struct cr__node *n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n->nsources; i++) {
		const struct cr__source_cfg *sc = &n->cfg.sources[i];
		if (sc->peer_index >= n->npeers || !sc->msg_size ||
		    sc->msg_size > n->max_msg) {
			snprintf(err, errlen,
				 "source %zu: bad peer or message size", i);
			return -CR_EINVAL;
		}
		n->sources[i].cfg = *sc;
		n->sources[i].fd = -1;
		atomic_init(&n->sources[i].pub_start_ns, -1);
		n->sources[i].p = &n->peers[sc->peer_index];
		n->peers[sc->peer_index].source = &n->sources[i];
	}
	return 0;
}

int cr_node_create(const struct cr_node_config *cfg, cr_node **out,
		   char *err, size_t errlen)
{
	struct cr__node *n;
	int e;

	*out = NULL;
	e = check_config(cfg, err, errlen);
	if (e)
		return e;
	n = node_alloc(cfg);
	if (!n) {
		snprintf(err, errlen, "out of memory");
		return -CR_ENOMEM;
	}
	e = cr__params_init(n, err, errlen);
	if (!e)
		e = check_ranges(cfg, err, errlen);
	if (e)
		goto fail;
	if (alloc_shards(n))
		goto fail_nomem;
	e = init_peers(n, err, errlen);
	if (e)
		goto fail;
	if (build_addr_index(n) || copy_matrix(n))
		goto fail_nomem;
	if (open_playouts(n, err, errlen)) {
		e = -CR_EINVAL;
		goto fail;
	}
	e = init_sources(n, err, errlen);
	if (e)
		goto fail;
	*out = n;
	return 0;

fail_nomem:
	snprintf(err, errlen, "out of memory creating %zu peers", cfg->npeers);
	e = -CR_ENOMEM;
fail:
	cr_node_destroy(n);
	return e;
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
	cr__params_free(n);
	free(n->addr_index);
	free(n->matrix);
	free(n->peers);
	free(n->workers);
	free(n->lost);
	free(n->sources);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->csv_lock);
	pthread_mutex_destroy(&n->values_lock);
	pthread_cond_destroy(&n->cond);
	free(n);
}
