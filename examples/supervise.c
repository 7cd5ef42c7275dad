/* Supervise a process tree the way `kin run` does.
 *
 * The child starts a daemon-like grandchild with setsid, which would escape
 * an ordinary process group. In tree mode it runs in its own PID namespace,
 * so ending the child (or this program dying, even by SIGKILL) ends the
 * whole tree. We ask politely with SIGTERM and escalate to SIGKILL after a
 * grace period, all from the event loop. */
#include <kin.h>

#include <signal.h>
#include <stdio.h>

static void ended(kin_proc *proc, const kin_status *st, void *userdata)
{
	(void)proc;
	(void)userdata;
	char how[64];
	kin_status_format(st, how, sizeof(how));
	printf("supervised tree ended: %s (shell code %d)\n", how, kin_status_shell_code(st));
}

static void time_up(kin_timer *t, void *userdata)
{
	(void)t;
	kin_proc *proc = userdata;
	printf("time is up: SIGTERM now, SIGKILL in 300 ms if it ignores us\n");
	kin_proc_terminate(proc, 300 * KIN_MSEC);
}

int main(void)
{
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 1;
	/* The shell ignores TERM, so escalation is needed. */
	const char *argv[] = {"sh", "-c",
			      "trap '' TERM; setsid sleep 60 & echo started a setsid grandchild; "
			      "while :; do sleep 1; done",
			      NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	o.flags = KIN_SPAWN_TREE;
	kin_proc *proc;
	kin_spawn_error why;
	if (kin_proc_spawn(loop, &o, &proc, &why) < 0) {
		fprintf(stderr, "supervise: %s\n", why.message);
		kin_loop_free(loop);
		return 1;
	}
	kin_proc_on_exit(proc, ended, NULL);
	kin_timer *timer;
	kin_timer_new(loop, time_up, proc, &timer);
	kin_timer_start(timer, kin_after(500 * KIN_MSEC), 0);
	kin_loop_run(loop, KIN_FOREVER);
	kin_timer_free(timer);
	kin_proc_free(proc);
	kin_loop_free(loop);
	return 0;
}
