/* The owner's half of a spawn: check the options and turn them into a plan
 * the child can follow without allocating. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#define KIN__DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* execve's prototype predates const; it never writes to the strings. */
static char *unconst(const char *s)
{
	union {
		const char *c;
		char *m;
	} u = {.c = s};
	return u.m;
}

static size_t count(const char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

static size_t name_len(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* Index of the entry naming `name` (length len), or n if none. */
static size_t env_find(char **env, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
			return i;
	return n;
}

/* A "NAME=VALUE" entry that execve would pass through as it is, but that
 * no getenv could ever find, is refused rather than handed on. */
static int check_assignments(const char *const *list, const char *what, kin_spawn_error *why)
{
	for (const char *const *s = list; s && *s; s++) {
		if (!strchr(*s, '=') || (*s)[0] == '=') {
			kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
					 "%s entry \"%s\" is not NAME=VALUE", what, *s);
			return -EINVAL;
		}
	}
	return 0;
}

static int build_env(kin__plan *plan, const kin_spawn_opts *o, kin_spawn_error *why)
{
	const char *const *base = NULL;
	/* A sandbox lets in only the variables it is given. */
	if (o->env_mode == KIN_ENV_INHERIT)
		base = o->sandbox ? NULL : (const char *const *)(void *)environ;
	else if (o->env_mode == KIN_ENV_LIST)
		base = o->env;
	else if (o->env_mode != KIN_ENV_EMPTY) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "unknown env_mode %d",
				 (int)o->env_mode);
		return -EINVAL;
	}
	int r = check_assignments(o->env_mode == KIN_ENV_LIST ? o->env : NULL, "env", why);
	if (r == 0)
		r = check_assignments(o->env_set, "env_set", why);
	if (r < 0)
		return r;
	for (const char *const *s = o->env_unset; s && *s; s++) {
		if (!**s || strchr(*s, '=')) {
			kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
					 "env_unset entry \"%s\" is not a variable name", *s);
			return -EINVAL;
		}
	}
	size_t cap = count(base) + count(o->env_set) + 1;
	char **env = calloc(cap, sizeof(*env));
	if (!env)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; base && base[i]; i++) {
		/* An inherited or listed duplicate keeps the first, as getenv does. */
		size_t len = name_len(base[i]);
		if (env_find(env, n, base[i], len) == n)
			env[n++] = unconst(base[i]);
	}
	for (const char *const *s = o->env_set; s && *s; s++) {
		size_t at = env_find(env, n, *s, name_len(*s));
		env[at] = unconst(*s);
		if (at == n)
			n++;
	}
	for (const char *const *s = o->env_unset; s && *s; s++) {
		size_t at = env_find(env, n, *s, strlen(*s));
		if (at < n) {
			memmove(&env[at], &env[at + 1], (n - at - 1) * sizeof(*env));
			n--;
		}
	}
	env[n] = NULL;
	plan->envp = env;
	plan->alloc_envp = env;
	size_t at = env_find(env, n, "PATH", 4);
	plan->path = at < n ? env[at] + 5 : NULL;
	return 0;
}

static int build_argv(kin__plan *plan, const kin_spawn_opts *o, kin_spawn_error *why)
{
	size_t n = count(o->argv);
	if (n == 0) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "argv is empty: nothing to run");
		return -EINVAL;
	}
	if (o->argv[0][0] == '\0') {
		kin__spawn_error(why, -ENOENT, KIN_STEP_OPTIONS, "program name is empty");
		return -ENOENT;
	}
	char **argv = calloc(n + 1, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		argv[i] = unconst(o->argv[i]);
	if (o->argv0)
		argv[0] = unconst(o->argv0);
	plan->file = o->argv[0];
	plan->argv = argv;
	plan->alloc_argv = argv;

	/* Room for the longest "dir/file" the PATH search can build. */
	const char *path = plan->path ? plan->path : KIN__DEFAULT_PATH;
	plan->path_buf_size = strlen(path) + strlen(plan->file) + 2;
	plan->path_buf = malloc(plan->path_buf_size);
	return plan->path_buf ? 0 : -ENOMEM;
}

static bool fd_is_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

static int cmp_move(const void *a, const void *b)
{
	const kin__fd_move *x = a, *y = b;
	return (x->to > y->to) - (x->to < y->to);
}

static int build_moves(kin__plan *plan, const kin_spawn_opts *o, const int stdio_from[3],
		       kin_spawn_error *why)
{
	if (o->nfds > KIN__MAX_FDS || (o->nfds && !o->fds)) {
		kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "too many fds to map (%zu, at most %d)",
				 o->nfds, KIN__MAX_FDS);
		return -EINVAL;
	}
	kin__fd_move *m = calloc(3 + o->nfds, sizeof(*m));
	if (!m)
		return -ENOMEM;
	plan->moves = m;
	plan->alloc_moves = m;
	for (int i = 0; i < 3; i++)
		m[i] = (kin__fd_move){.from = stdio_from[i], .to = i};
	for (size_t i = 0; i < o->nfds; i++) {
		int from = o->fds[i].parent_fd, to = o->fds[i].child_fd;
		if (to < 3) {
			kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS,
					 "mapped fds go to child fd 3 or above, not %d (use stdio)", to);
			return -EINVAL;
		}
		if (!fd_is_open(from)) {
			kin__spawn_error(why, -EBADF, KIN_STEP_OPTIONS,
					 "fd %d mapped to child fd %d is not open", from, to);
			return -EBADF;
		}
		m[3 + i] = (kin__fd_move){.from = from, .to = to};
	}
	plan->nmoves = 3 + o->nfds;
	qsort(m, plan->nmoves, sizeof(*m), cmp_move);
	for (size_t i = 1; i < plan->nmoves; i++) {
		if (m[i].to == m[i - 1].to) {
			kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "child fd %d is mapped twice",
					 m[i].to);
			return -EINVAL;
		}
	}
	plan->max_target = m[plan->nmoves - 1].to;
	return 0;
}

int kin__plan_build(kin__plan *plan, const kin_spawn_opts *o, const int stdio_from[3],
		    kin_spawn_error *why)
{
	memset(plan, 0, sizeof(*plan));
	plan->err_fd = plan->lifeline_fd = plan->report_fd = plan->exec_fd = -1;
	int r = build_env(plan, o, why);
	if (r == 0)
		r = build_argv(plan, o, why);
	if (r == 0)
		r = build_moves(plan, o, stdio_from, why);
	if (r < 0) {
		if (r == -ENOMEM)
			kin__spawn_error(why, r, KIN_STEP_RESOURCES, "out of memory");
		kin__plan_free(plan);
		return r;
	}
	for (size_t i = 0; i < o->nrlimits; i++) {
		if (o->rlimits[i].resource < 0 || o->rlimits[i].resource >= RLIM_NLIMITS) {
			kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "unknown rlimit resource %d",
					 o->rlimits[i].resource);
			kin__plan_free(plan);
			return -EINVAL;
		}
	}
	plan->cwd = o->cwd;
	plan->flags = o->flags;
	plan->umask = o->umask;
	plan->uid = o->uid;
	plan->gid = o->gid;
	plan->drop_groups = (o->flags & (KIN_SPAWN_SET_UID | KIN_SPAWN_SET_GID)) && geteuid() == 0;
	plan->rlimits = o->rlimits;
	plan->nrlimits = o->nrlimits;
	plan->owner_pid = getpid();
	plan->pdeathsig = !(o->flags & KIN_SPAWN_DETACHED);
	return 0;
}

void kin__plan_free(kin__plan *plan)
{
	free(plan->alloc_argv);
	free(plan->alloc_envp);
	free(plan->alloc_moves);
	free(plan->path_buf);
	plan->alloc_argv = plan->alloc_envp = plan->alloc_moves = NULL;
	plan->path_buf = NULL;
}
