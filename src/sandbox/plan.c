/* The owner's half of a sandbox: check the options against each other,
 * refuse what cannot work before anything runs, and prepare everything
 * the child will need so that it never allocates. */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
	unsigned ns;
	uint64_t flag;
	const char *name;
} namespaces[] = {
	{KIN_NS_USER, CLONE_NEWUSER, "user"},       {KIN_NS_PID, CLONE_NEWPID, "pid"},
	{KIN_NS_NET, CLONE_NEWNET, "net"},          {KIN_NS_MOUNT, CLONE_NEWNS, "mount"},
	{KIN_NS_UTS, CLONE_NEWUTS, "uts"},          {KIN_NS_IPC, CLONE_NEWIPC, "ipc"},
	{KIN_NS_CGROUP, CLONE_NEWCGROUP, "cgroup"},
};

static int refuse(kin_spawn_error *why, const char *what)
{
	kin__spawn_error(why, -EINVAL, KIN_STEP_OPTIONS, "sandbox: %s", what);
	return -EINVAL;
}

/* The highest capability this kernel knows. */
static int last_cap(void)
{
	int last = 40; /* CAP_CHECKPOINT_RESTORE, Linux 5.9 */
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f) {
		if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
			last = 40;
		fclose(f);
	}
	return last;
}

static int check_options(const kin_sandbox *sb, unsigned ns, bool tree, kin_spawn_error *why)
{
	if (sb->namespaces & ~(unsigned)KIN_NS_ALL)
		return refuse(why, "unknown namespace flags");
	if (sb->hostname && !(ns & KIN_NS_UTS))
		return refuse(why, "a hostname needs a new uts namespace (KIN_NS_UTS)");
	if (sb->hostname && strlen(sb->hostname) > 64)
		return refuse(why, "the hostname is longer than 64 bytes");
	if ((sb->nmounts || sb->ro_root) && !(ns & KIN_NS_MOUNT))
		return refuse(why, "mount steps need a new mount namespace (KIN_NS_MOUNT)");
	if (sb->nmounts && !sb->mounts)
		return refuse(why, "nmounts is set but mounts is NULL");
	/* A failed step or rule comes back from the child as an int32_t. */
	if (sb->nmounts > 65536 || sb->nlandlock > 65536)
		return refuse(why, "more than 65536 mount steps or landlock rules");
	if ((sb->uid || sb->gid) && !(ns & KIN_NS_USER))
		return refuse(why, "uid and gid inside need a new user namespace (KIN_NS_USER)");
	if (sb->as_pid_1 && !(ns & KIN_NS_PID))
		return refuse(why, "as_pid_1 needs a new pid namespace (KIN_NS_PID)");
	if (sb->as_pid_1 && tree)
		return refuse(why, "as_pid_1 runs without kin's pid 1, which tree mode is");
	if (sb->cgroup_parent && sb->cgroup_parent[0] != '/')
		return refuse(why, "cgroup_parent must be an absolute path");
	if (sb->nlandlock && !sb->landlock)
		return refuse(why, "nlandlock is set but landlock is NULL");
	for (size_t i = 0; i < sb->nlandlock; i++) {
		const kin_landlock_rule *l = &sb->landlock[i];
		if (!l->path || l->path[0] != '/' || !l->access ||
		    (l->access &
		     ~(unsigned)(KIN_LANDLOCK_READ | KIN_LANDLOCK_WRITE | KIN_LANDLOCK_EXEC)))
			return refuse(why, "a landlock rule needs an absolute path and access "
					   "made of KIN_LANDLOCK_READ, _WRITE and _EXEC");
	}
	int last = last_cap();
	if (last < 63 && (sb->caps >> (last + 1)))
		return refuse(why, "caps names a capability this kernel does not have");
	if (sb->seccomp & ~(unsigned)(KIN_SECCOMP_DEFAULT | KIN_SECCOMP_NO_NETWORK))
		return refuse(why, "unknown seccomp profile flags");
	if (sb->seccomp_action != KIN_SECCOMP_EPERM && sb->seccomp_action != KIN_SECCOMP_KILL)
		return refuse(why, "unknown seccomp action");
	return 0;
}

static bool needs_source(kin_mount_kind k)
{
	return k == KIN_MOUNT_BIND || k == KIN_MOUNT_RO_BIND || k == KIN_MOUNT_DEV_BIND ||
	       k == KIN_MOUNT_SYMLINK;
}

/* Copies the steps (ro_root first, as ro-bind / / and a minimal /dev: the
 * host's device nodes are unusable through a nodev bind) into one block
 * with their strings, and the scratch the child builds paths in. */
static int copy_steps(kin__sandbox_plan *sp, const kin_sandbox *sb, kin_spawn_error *why)
{
	size_t n = sb->nmounts + (sb->ro_root ? 2 : 0), strings = 0;
	for (size_t i = 0; i < sb->nmounts; i++) {
		const kin_mount *m = &sb->mounts[i];
		char what[160];
		if (m->kind < KIN_MOUNT_BIND || m->kind > KIN_MOUNT_REMOUNT_RO) {
			snprintf(what, sizeof(what), "mount step %zu has an unknown kind %d", i,
				 (int)m->kind);
			return refuse(why, what);
		}
		if (!m->dest || m->dest[0] != '/') {
			snprintf(what, sizeof(what),
				 "mount step %zu (%s): dest must be an absolute path", i,
				 kin__mount_kind_name(m->kind));
			return refuse(why, what);
		}
		if (needs_source(m->kind) != (m->source != NULL) || (m->source && !m->source[0])) {
			snprintf(what, sizeof(what), "mount step %zu (%s %s): %s", i,
				 kin__mount_kind_name(m->kind), m->dest,
				 m->source ? "takes no source" : "needs a source");
			return refuse(why, what);
		}
		strings += strlen(m->dest) + 1 + (m->source ? strlen(m->source) + 1 : 0);
	}
	size_t size = n * sizeof(kin__mount_step) + strings + KIN__ROOT_SCRATCH;
	char *block = calloc(1, size);
	if (!block)
		return -ENOMEM;
	sp->alloc = block;
	kin__mount_step *steps = (kin__mount_step *)(void *)block;
	char *text = block + n * sizeof(kin__mount_step);
	size_t k = 0;
	if (sb->ro_root) {
		steps[k++] =
			(kin__mount_step){.kind = KIN_MOUNT_RO_BIND, .source = "/", .dest = "/"};
		steps[k++] = (kin__mount_step){.kind = KIN_MOUNT_DEV, .dest = "/dev", .mode = 0755};
		sp->implied_steps = k;
	}
	for (size_t i = 0; i < sb->nmounts; i++, k++) {
		const kin_mount *m = &sb->mounts[i];
		steps[k].kind = m->kind;
		steps[k].mode = m->mode ? m->mode : 0755;
		steps[k].dest = text;
		text = stpcpy(text, m->dest) + 1;
		if (m->source) {
			steps[k].source = text;
			text = stpcpy(text, m->source) + 1;
		}
	}
	sp->root = (kin__root_plan){.steps = steps, .nsteps = n, .scratch = text};
	sp->has_root = true;
	return 0;
}

int kin__sandbox_prepare(kin__sandbox_plan *sp, const kin_sandbox *sb, bool tree,
			 kin_spawn_error *why)
{
	memset(sp, 0, sizeof(*sp));
	sp->sync_r = sp->sync_w = sp->cgroup_fd = sp->init_fd = -1;
	unsigned ns = sb->namespaces | (tree ? KIN_NS_PID : 0);
	/* Without privilege, namespaces other than a user one come only with
	 * a user one, as bubblewrap arranges. */
	if (ns && geteuid() != 0)
		ns |= KIN_NS_USER;
	int r = check_options(sb, ns, tree, why);
	if (r < 0)
		return r;
	sp->namespaces = ns;
	for (size_t i = 0; i < KIN_ARRAY_SIZE(namespaces); i++)
		if (ns & namespaces[i].ns)
			sp->clone_flags |= namespaces[i].flag;
	if (ns & KIN_NS_USER) {
		snprintf(sp->uid_map, sizeof(sp->uid_map), "%u %u 1\n", (unsigned)sb->uid,
			 (unsigned)geteuid());
		snprintf(sp->gid_map, sizeof(sp->gid_map), "%u %u 1\n", (unsigned)sb->gid,
			 (unsigned)getegid());
	}
	sp->hostname = sb->hostname;
	sp->lo_up = (ns & KIN_NS_NET) && !sb->lo_down;
	sp->caps = sb->caps;
	sp->landlock = sb->landlock;
	sp->nlandlock = sb->nlandlock;
	if (sp->nlandlock && (sp->landlock_abi = kin__landlock_abi()) < 0) {
		r = sp->landlock_abi;
		/* EOPNOTSUPP is the kernel's own "built in, not enabled";
		 * anything else is something in between, such as a seccomp
		 * filter of a container. */
		kin__spawn_error(why, -EOPNOTSUPP, KIN_STEP_LANDLOCK,
				 "landlock rules need landlock, which %s (landlock_create_ruleset: %s)",
				 r == -ENOSYS	    ? "this kernel was built without"
				 : r == -EOPNOTSUPP ? "this kernel has not enabled (see the lsm= boot "
						      "option)"
						    : "is blocked here (by a seccomp filter?)",
				 kin_strerror(r));
		return -EOPNOTSUPP;
	}
	sp->init = sb->init;
	sp->init_userdata = sb->init_userdata;
	sp->init_fd = sb->init ? sb->init_fd : -1;
	sp->as_pid_1 = sb->as_pid_1;
	if ((sb->nmounts || sb->ro_root) && (r = copy_steps(sp, sb, why)) < 0)
		goto fail;
	if ((sb->seccomp || sb->seccomp_file) &&
	    (r = kin__seccomp_compile(sb->seccomp, sb->seccomp_file, sb->seccomp_action,
				      &sp->seccomp, why)) < 0)
		goto fail;
	if ((sb->memory_max || sb->pids_max || sb->cpu_millis) &&
	    (r = kin__cgroup_create(sp, sb, why)) < 0)
		goto fail;
	int p[2];
	if ((r = kin__pipe(p)) < 0) {
		kin__spawn_error(why, r, KIN_STEP_RESOURCES, "cannot make the sandbox's pipe: %s",
				 kin_strerror(r));
		goto fail;
	}
	sp->sync_r = p[0];
	sp->sync_w = p[1];
	return 0;
fail:
	if (r == -ENOMEM)
		kin__spawn_error(why, r, KIN_STEP_RESOURCES, "out of memory");
	kin__sandbox_plan_free(sp);
	return r;
}

void kin__sandbox_plan_free(kin__sandbox_plan *sp)
{
	kin__seccomp_free(&sp->seccomp);
	kin__close_p(&sp->sync_r);
	kin__close_p(&sp->sync_w);
	kin__close_p(&sp->cgroup_fd);
	/* Still ours: the spawn did not happen (a proc takes it over). */
	kin__cgroup_remove(sp->cgroup_path);
	free(sp->cgroup_path);
	free(sp->alloc);
	sp->cgroup_path = NULL;
	sp->alloc = NULL;
}

bool kin__sandbox_failure(const kin__sandbox_plan *sp, kin_spawn_error *why, int err,
			  kin_spawn_step step, int32_t index)
{
	const char *e = kin_strerror(err);
	switch (step) {
	case KIN_STEP_MOUNT:
		if (index >= 0 && (size_t)index < sp->implied_steps) {
			kin__spawn_error(why, err, step,
					 "sandbox: the read-only root (ro_root): %s", e);
		} else if (index >= 0 && (size_t)index < sp->root.nsteps) {
			/* Numbered as the caller's kin_sandbox.mounts are. */
			const kin__mount_step *m = &sp->root.steps[index];
			kin__spawn_error(
				why, err, step, "sandbox: mount step %d (%s%s%s %s): %s%s",
				(int)(index - (int32_t)sp->implied_steps),
				kin__mount_kind_name(m->kind), m->source ? " " : "",
				m->source ? m->source : "", m->dest, e,
				err == -ELOOP ? " (a symlink on the path inside is refused)" : "");
		} else {
			kin__spawn_error(why, err, step,
					 "sandbox: staging or pivoting into the new root: %s", e);
		}
		return true;
	case KIN_STEP_NAMESPACES:
		kin__spawn_error(why, err, step, "sandbox: entering the new namespaces: %s", e);
		return true;
	case KIN_STEP_NETWORK:
		kin__spawn_error(why, err, step,
				 "sandbox: setting the hostname or bringing up lo: %s", e);
		return true;
	case KIN_STEP_INIT_HOOK:
		kin__spawn_error(why, err, step, "sandbox: the init hook failed: %s", e);
		return true;
	case KIN_STEP_PRIVILEGES:
		kin__spawn_error(why, err, step,
				 "sandbox: dropping capabilities or setting no_new_privs: %s", e);
		return true;
	case KIN_STEP_LANDLOCK:
		if (index >= 0 && (size_t)index < sp->nlandlock) {
			/* Numbered as the caller's kin_sandbox.landlock are; the
			 * path is the sandbox's, after its mounts. */
			const kin_landlock_rule *l = &sp->landlock[index];
			kin__spawn_error(why, err, step, "sandbox: landlock rule %d (%s%s%s %s): %s",
					 (int)index, (l->access & KIN_LANDLOCK_READ) ? "r" : "",
					 (l->access & KIN_LANDLOCK_WRITE) ? "w" : "",
					 (l->access & KIN_LANDLOCK_EXEC) ? "x" : "", l->path, e);
		} else {
			kin__spawn_error(why, err, step, "sandbox: applying the landlock rules: %s",
					 e);
		}
		return true;
	case KIN_STEP_SECCOMP:
		kin__spawn_error(why, err, step, "sandbox: installing the seccomp filter: %s", e);
		return true;
	default:
		return false;
	}
}
