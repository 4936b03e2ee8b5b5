/* crystal run: checks before a run, that its options and files fit this
 * host and each other: addresses the peers can bind here, the classes
 * --scale-upload names.  Each says what is wrong and returns exit status
 * 2 (a bind that fails once the run has started exits 1).
 */
#include "run.h"

#include <errno.h>
#include <string.h>

/* Why no peer can bind a here, for a message; NULL when one may (checked
 * before the run: a bind that fails once it has started exits 1). */
static const char *unbindable(const cr_addr *a)
{
	switch (cr__addr_bindable(a)) {
	case 0:
		return NULL;
	case EADDRNOTAVAIL:
		return "no interface of this host has that address";
	case EAFNOSUPPORT:
		return "this host has no IPv6";
	default:
		return "this user may not bind that port (below 1024 it takes "
		       "root or CAP_NET_BIND_SERVICE)";
	}
}

/* --ip and --base-port: the peers bind them here; 0 or exit status 2. */
int cr__run_check_base(const struct cr__run_opts *o, const cr_addr *base)
{
	cr_addr ip = *base;
	const char *why;

	ip.port = 0;
	if ((why = unbindable(&ip))) {
		fprintf(stderr,
			"crystal run: --ip '%s': %s; expected an address of "
			"this host, such as 127.0.0.1 or ::1\n",
			o->ip, why);
		return 2;
	}
	if ((why = unbindable(base))) {
		fprintf(stderr,
			"crystal run: --base-port %u: %s; expected a port "
			"from 1024 to 65535\n",
			base->port, why);
		return 2;
	}
	return 0;
}

/* Every address an experiment file has the node bind (its classes', an
 * inproc tracker's) can be bound; 0 or exit status 2.  One trial per IP
 * of a class, at its lowest port.  An IP that is no interface's is
 * another host's: its peers are run there (a node with none at all is
 * refused when it is created). */
int cr__run_check_file_addrs(const struct cr__run_opts *o,
			     const struct cr_experiment *e)
{
	char buf[CR_ADDR_STRLEN];
	const char *why;

	for (size_t k = 0; k < e->nclasses; k++) {
		const struct cr_peer_class *c = &e->classes[k];

		for (size_t i = 0; i < c->count; i++) {
			if (i && !memcmp(c->addrs[i].ip, c->addrs[i - 1].ip,
					 sizeof(c->addrs[i].ip)))
				continue;
			if (!(why = unbindable(&c->addrs[i])) ||
			    !cr_node_ip_is_local(&c->addrs[i]))
				continue;
			fprintf(stderr,
				"crystal run: %s:%u: class %s: %s: %s; a "
				"class's peers run on this host, at its own "
				"addresses\n",
				o->file, c->line, c->name,
				cr_addr_format(&c->addrs[i], buf, sizeof(buf)),
				why);
			return 2;
		}
	}
	if (e->tracker.mode == CR_TRACKER_INPROC &&
	    cr_node_ip_is_local(&e->tracker.addr) &&
	    (why = unbindable(&e->tracker.addr))) {
		fprintf(stderr,
			"crystal run: %s: [tracker] address %s: %s; a tracker "
			"of mode inproc runs on this host (mode = external "
			"for one elsewhere)\n",
			o->file, cr_addr_format(&e->tracker.addr, buf, sizeof(buf)),
			why);
		return 2;
	}
	return 0;
}

/* Every class --scale-upload names is one of the file's; 0 or exit 2. */
int cr__run_check_scale(const struct cr__run_opts *o,
			const struct cr_experiment *e)
{
	for (size_t i = 0; i < o->nscale; i++) {
		const struct cr__scale *sc = &o->scale[i];
		char names[512] = "";
		size_t k;

		if (!sc->cls)
			continue;
		for (k = 0; k < e->nclasses; k++)
			if (strlen(e->classes[k].name) == sc->cls_len &&
			    !strncmp(e->classes[k].name, sc->cls, sc->cls_len))
				break;
		if (k < e->nclasses)
			continue;
		for (k = 0; k < e->nclasses; k++)
			snprintf(names + strlen(names),
				 sizeof(names) - strlen(names), "%s%s",
				 k ? ", " : "", e->classes[k].name);
		fprintf(stderr,
			"crystal run: --scale-upload %.*s=%g: %s has no class "
			"'%.*s' (its classes: %s)\n",
			(int)sc->cls_len, sc->cls, sc->factor, o->file,
			(int)sc->cls_len, sc->cls, names);
		return 2;
	}
	return 0;
}
