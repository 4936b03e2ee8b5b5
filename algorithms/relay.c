/* relay: forwards every data message it receives to all its downstream
 * peers, the paper's benchmark protocol.  Downstream peers are the ones the
 * peer was given at birth; a departed one is dropped.
 */
#include <crystal/crystal.h>

#include <stdlib.h>
#include <string.h>

struct relay {
	cr_addr *down;
	size_t ndown;
};

static int relay_bootstrap(cr_peer *p)
{
	struct relay *r = cr_state(p);
	const cr_addr *boot;

	r->ndown = cr_bootstrap_peers(p, &boot);
	r->down = malloc((r->ndown ? r->ndown : 1) * sizeof(*r->down));
	if (!r->down)
		return -CR_ENOMEM;
	if (r->ndown)
		memcpy(r->down, boot, r->ndown * sizeof(*boot));
	return 0;
}

static void relay_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct relay *r = cr_state(p);

	/* a finite stream's end mark is not data: nothing to relay */
	if (cr_msg_len(m) == 0 && cr_is_self(p, from))
		return;
	for (size_t i = 0; i < r->ndown; i++)
		cr_send(p, &r->down[i], m, CR_TCP);
}

static void relay_departed(cr_peer *p, const cr_addr *who)
{
	struct relay *r = cr_state(p);

	for (size_t i = 0; i < r->ndown; i++) {
		if (cr_addr_eq(&r->down[i], who)) {
			r->down[i] = r->down[--r->ndown];
			cr_log(p, CR_LOG_INFO, "downstream peer departed");
			return;
		}
	}
}

static void relay_destroy(cr_peer *p)
{
	free(((struct relay *)cr_state(p))->down);
}

const cr_algorithm cr_relay_algorithm = {
	.api_version = CR_API_VERSION,
	.name = "relay",
	.description = "forwards every data message to all downstream peers",
	.state_size = sizeof(struct relay),
	.bootstrap = relay_bootstrap,
	.process_data = relay_data,
	.peer_departed = relay_departed,
	.destroy = relay_destroy,
};
