/* Built by tests/run.sh against the installed libkin via pkg-config. */
#include <kin.h>
#include <stdio.h>

int main(void)
{
	kin_loop *loop;
	if (kin_loop_new(&loop) < 0)
		return 1;
	const char *argv[] = {"echo", "hello from kin", kin_version(), NULL};
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = argv;
	kin_proc *p;
	if (kin_proc_spawn(loop, &o, &p, NULL) < 0)
		return 1;
	kin_status st;
	int r = kin_proc_wait(p, KIN_FOREVER, &st);
	kin_proc_free(p);
	kin_loop_free(loop);
	return r == 0 && st.kind == KIN_EXITED ? st.code : 1;
}
