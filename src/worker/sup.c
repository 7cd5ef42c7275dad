/* Supervisors, as OTP has them: children are workers, watched with
 * monitors; their ends are handled from a timer on the loop, never from
 * inside the monitor callback, so a dead worker can be freed there. */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* period_ns 0 keeps meaning 5 s, as KIN_SUP_OPTS_INIT sets it. Not so
 * max_restarts: there 0 is OTP's intensity 0, no restart allowed. */
#define DEFAULT_PERIOD (5 * KIN_SEC)
#define DEFAULT_BACKOFF_MAX (30 * KIN_SEC)
#define DEFAULT_SHUTDOWN (5 * KIN_SEC)

typedef struct child {
	kin_sup *sup;
	kin_child_spec spec;
	kin_worker *worker;
	kin_monitor *monitor;
	bool down; /* ended; waiting for the timer to handle it */
	kin_exit_reason reason;
	bool removed;
	kin_time start_at; /* a (re)start is due then; KIN_FOREVER if none */
	unsigned streak;   /* restarts inside one period, for the backoff */
	kin_time last_restart;
} child;

struct kin_sup {
	kin_loop *loop;
	kin_sup_opts opts;
	child *kids;
	size_t n;
	kin_timer *timer;
	kin_time *history; /* times of the last max_restarts + 1 restarts */
	size_t nhistory;
	unsigned restarts;
	bool failed;
	char failure[256];
};

static void on_down(kin_worker *w, const kin_exit_reason *reason, void *userdata)
{
	(void)w;
	child *c = userdata;
	c->down = true;
	c->reason = *reason;
	c->monitor = NULL; /* fired: freed with its worker */
	(void)kin_timer_start(c->sup->timer, 0, 0);
}

static int start_child(child *c, kin_spawn_error *why)
{
	kin_worker *w;
	int r = kin_worker_spawn(c->sup->loop, &c->spec.worker, &w, why);
	if (r < 0)
		return r;
	r = kin_worker_monitor(w, on_down, c, &c->monitor);
	if (r < 0) {
		kin_worker_free(w);
		return r;
	}
	c->worker = w;
	c->start_at = KIN_FOREVER;
	return 0;
}

/* Stops a child for good or for a restart: its end is the supervisor's
 * doing, so its monitor goes first and no DOWN is handled for it. */
static void stop_child(child *c)
{
	if (!c->worker)
		return;
	kin_monitor_free(c->monitor);
	c->monitor = NULL;
	int64_t grace = c->spec.shutdown_ns ? c->spec.shutdown_ns : DEFAULT_SHUTDOWN;
	if (kin_worker_stop(c->worker, grace) == 0)
		(void)kin_worker_wait(c->worker, KIN_FOREVER, NULL);
	kin_worker_free(c->worker);
	c->worker = NULL;
	c->down = false;
}

static void stop_all(kin_sup *s)
{
	for (size_t i = s->n; i-- > 0;) {
		stop_child(&s->kids[i]);
		s->kids[i].start_at = KIN_FOREVER;
	}
}

/* Records a restart now; false when that passes the intensity limit. */
static bool within_intensity(kin_sup *s, kin_time now)
{
	size_t cap = s->opts.max_restarts + 1;
	if (s->nhistory == cap) {
		memmove(s->history, s->history + 1, (cap - 1) * sizeof(*s->history));
		s->nhistory--;
	}
	s->history[s->nhistory++] = now;
	size_t recent = 0;
	for (size_t i = 0; i < s->nhistory; i++)
		if (now - s->history[i] <= s->opts.period_ns)
			recent++;
	return recent <= s->opts.max_restarts;
}

static void give_up(kin_sup *s, child *c)
{
	char how[64];
	kin_exit_reason_format(&c->reason, how, sizeof(how));
	if (!s->opts.max_restarts)
		snprintf(s->failure, sizeof(s->failure),
			 "child \"%s\" ended (%s) and max_restarts is 0 (no restarts), so the "
			 "supervisor gave up",
			 c->spec.id, how);
	else
		snprintf(s->failure, sizeof(s->failure),
			 "child \"%s\" ended (%s): more than %u restarts in %.3g s, so the "
			 "supervisor gave up",
			 c->spec.id, how, s->opts.max_restarts,
			 (double)s->opts.period_ns / (double)KIN_SEC);
	s->failed = true;
	stop_all(s);
	if (s->opts.on_give_up)
		s->opts.on_give_up(s, s->failure, s->opts.userdata);
}

static int64_t backoff(kin_sup *s, child *c, kin_time now)
{
	c->streak = now - c->last_restart <= s->opts.period_ns ? c->streak + 1 : 1;
	c->last_restart = now;
	if (!s->opts.backoff_ns)
		return 0;
	int64_t d = s->opts.backoff_ns;
	for (unsigned k = 1; k < c->streak && d < s->opts.backoff_max_ns; k++)
		d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
	return d < s->opts.backoff_max_ns ? d : s->opts.backoff_max_ns;
}

/* Child i ended (c->reason says how): restart what the strategy says. */
static bool handle_down(kin_sup *s, size_t i)
{
	child *c = &s->kids[i];
	c->down = false;
	kin_worker_free(c->worker);
	c->worker = NULL;
	bool normal = c->reason.kind == KIN_REASON_NORMAL;
	if (c->spec.restart == KIN_RESTART_TEMPORARY ||
	    (c->spec.restart == KIN_RESTART_TRANSIENT && normal)) {
		c->removed = true;
		return false;
	}
	kin_time now = kin_now();
	if (!within_intensity(s, now)) {
		give_up(s, c);
		return true;
	}
	s->restarts++;
	size_t from = s->opts.strategy == KIN_ONE_FOR_ALL ? 0 : i;
	size_t to = s->opts.strategy == KIN_ONE_FOR_ONE ? i + 1 : s->n;
	/* The others go down in reverse start order, as OTP does. */
	for (size_t j = to; j-- > from;)
		if (j != i && !s->kids[j].removed)
			stop_child(&s->kids[j]);
	for (size_t j = from; j < to; j++) {
		child *k = &s->kids[j];
		if (j != i && k->spec.restart == KIN_RESTART_TEMPORARY)
			k->removed = true;
		if (!k->removed) {
			int64_t d = backoff(s, k, now);
			k->start_at = d >= KIN_FOREVER - now ? KIN_FOREVER : now + d;
		}
	}
	return false;
}

static void on_timer(kin_timer *t, void *userdata)
{
	(void)t;
	kin_sup *s = userdata;
	for (;;) {
		if (s->failed)
			return;
		size_t i;
		for (i = 0; i < s->n && !s->kids[i].down; i++)
			;
		if (i < s->n) {
			if (handle_down(s, i))
				return; /* on_give_up may have freed s */
			continue;
		}
		/* Starts that are due, in start order; one that cannot start
		 * counts as a child that ended during its handshake. */
		kin_time now = kin_now(), next = KIN_FOREVER;
		bool again = false;
		for (i = 0; i < s->n; i++) {
			child *c = &s->kids[i];
			if (c->removed || c->worker || c->start_at == KIN_FOREVER)
				continue;
			if (c->start_at > now) {
				next = c->start_at < next ? c->start_at : next;
				continue;
			}
			kin_spawn_error why;
			if (start_child(c, &why) < 0) {
				memset(&c->reason, 0, sizeof(c->reason));
				c->reason.kind = KIN_REASON_HANDSHAKE;
				c->reason.status = why.status;
				c->down = true;
				again = true;
				break;
			}
		}
		if (again)
			continue;
		if (next != KIN_FOREVER)
			(void)kin_timer_start(s->timer, next, 0);
		return;
	}
}

int kin_sup_start(kin_loop *loop, const kin_sup_opts *opts, const kin_child_spec *children,
		  size_t n, kin_sup **ret, kin_spawn_error *why)
{
	if (why)
		memset(why, 0, sizeof(*why));
	if (!loop || !ret || (n && !children) || (opts && (opts->period_ns < 0 ||
							      opts->backoff_ns < 0 ||
							      opts->backoff_max_ns < 0 ||
							      opts->max_restarts > 65536))) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
				 "kin_sup_start: bad arguments (loop, ret, children, durations)");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		for (size_t j = 0; j < i && children[i].id; j++)
			dup |= children[j].id && strcmp(children[i].id, children[j].id) == 0;
		if (!children[i].id || dup || (unsigned)children[i].restart > KIN_RESTART_TEMPORARY) {
			kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
					 "child %zu: needs a unique id and a known restart type", i);
			return -EINVAL;
		}
	}
	kin_sup *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	static const kin_sup_opts defaults = KIN_SUP_OPTS_INIT;
	s->opts = opts ? *opts : defaults;
	if (!s->opts.period_ns)
		s->opts.period_ns = DEFAULT_PERIOD;
	if (!s->opts.backoff_max_ns)
		s->opts.backoff_max_ns = DEFAULT_BACKOFF_MAX;
	s->n = n;
	s->kids = calloc(n ? n : 1, sizeof(*s->kids));
	s->history = calloc(s->opts.max_restarts + 1, sizeof(*s->history));
	int r = s->kids && s->history ? kin_timer_new(loop, on_timer, s, &s->timer) : -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		child *c = &s->kids[i];
		c->sup = s;
		c->spec = children[i];
		c->start_at = KIN_FOREVER;
		c->last_restart = INT64_MIN / 2;
		r = start_child(c, why);
	}
	if (r < 0) {
		if (why && !why->message[0])
			kin__spawn_error(why, r, KIN_STEP_RESOURCES, "out of memory");
		kin_sup_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

kin_worker *kin_sup_worker(kin_sup *s, const char *id)
{
	for (size_t i = 0; s && id && i < s->n; i++)
		if (strcmp(s->kids[i].spec.id, id) == 0)
			return s->kids[i].down ? NULL : s->kids[i].worker;
	return NULL;
}

unsigned kin_sup_restarts(const kin_sup *s)
{
	return s ? s->restarts : 0;
}

const char *kin_sup_failure(const kin_sup *s)
{
	return s && s->failed ? s->failure : NULL;
}

void kin_sup_free(kin_sup *s)
{
	if (!s)
		return;
	if (s->kids)
		stop_all(s);
	kin_timer_free(s->timer);
	free(s->kids);
	free(s->history);
	free(s);
}
