/* cgroup v2 limits for a sandbox: kin makes one cgroup per child under a
 * delegated parent, writes its limits, clones the child straight into it
 * (CLONE_INTO_CGROUP, so no instant runs unlimited) and removes it once
 * the child is reaped. It touches no cgroup it did not make: a parent
 * without the controllers is reported, never reconfigured; the only
 * cgroups removed are kin's own, including those an owner killed outright
 * left behind. */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* Where cgroup v2 is mounted: /sys/fs/cgroup on a unified system,
 * /sys/fs/cgroup/unified on a hybrid one. */
static bool cgroup2_mount(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* id parent major:minor root mountpoint options... - fstype ... */
		char *sep = strstr(line, " - ");
		char mnt[1024];
		if (sep && strncmp(sep + 3, "cgroup2 ", 8) == 0 &&
		    sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 && strlen(mnt) < size) {
			strcpy(out, mnt);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* The cgroup this process is in, as a directory path. */
static bool own_cgroup(const char *mnt, char *out, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		found = snprintf(out, size, "%s%s", mnt,
				 strcmp(line + 3, "/") == 0 ? "" : line + 3) < (int)size;
	}
	fclose(f);
	return found;
}

static bool read_line(const char *dir, const char *file, char *out, size_t size)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool ok = fgets(out, (int)size, f) != NULL;
	if (!ok)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	fclose(f);
	return true;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static int write_file(const char *dir, const char *file, const char *text)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return kin__write_file_at(AT_FDCWD, path, text);
}

/* Each limit asked for needs its controller enabled for the parent's
 * children; says which is missing and what would fix it. */
static int check_controllers(const char *parent, const kin_sandbox *sb, kin_spawn_error *why)
{
	char have[1024], enabled[1024];
	if (!read_line(parent, "cgroup.controllers", have, sizeof(have)) ||
	    !read_line(parent, "cgroup.subtree_control", enabled, sizeof(enabled))) {
		int r = -errno;
		kin__spawn_error(why, r, KIN_STEP_CGROUP,
				 "cgroup limits: cannot read the controllers of %s: %s", parent,
				 kin_strerror(r));
		return r;
	}
	const struct {
		bool wanted;
		const char *name, *limit;
	} need[] = {
		{sb->memory_max != 0, "memory", "a memory limit"},
		{sb->pids_max != 0, "pids", "a pids limit"},
		{sb->cpu_millis != 0, "cpu", "a cpu limit"},
	};
	for (size_t i = 0; i < KIN_ARRAY_SIZE(need); i++) {
		if (!need[i].wanted || has_word(enabled, need[i].name))
			continue;
		if (!has_word(have, need[i].name))
			kin__spawn_error(
				why, -EOPNOTSUPP, KIN_STEP_CGROUP,
				"%s is unavailable: cgroup v2 has no %s controller in %s "
				"(its cgroup.controllers: \"%s\"); it must be delegated there",
				need[i].limit, need[i].name, parent, have);
		else
			kin__spawn_error(
				why, -EOPNOTSUPP, KIN_STEP_CGROUP,
				"%s is unavailable: the %s controller is not enabled for the "
				"children of %s; name a delegated, empty cgroup that has it as "
				"cgroup_parent (kin run --cgroup-parent)",
				need[i].limit, need[i].name, parent);
		return -EOPNOTSUPP;
	}
	return 0;
}

static int write_limits(const char *dir, const kin_sandbox *sb, kin_spawn_error *why)
{
	char v[64];
	int r = 0;
	const char *file = "";
	if (sb->memory_max) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)sb->memory_max);
		r = write_file(dir, file = "memory.max", v);
		/* Swap would let the child outgrow the limit rather than be
		 * killed; the file is absent where swap accounting is off. */
		if (r == 0 && write_file(dir, "memory.swap.max", "0") == -EACCES)
			r = -EACCES, file = "memory.swap.max";
	}
	if (r == 0 && sb->pids_max) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)sb->pids_max);
		r = write_file(dir, file = "pids.max", v);
	}
	if (r == 0 && sb->cpu_millis) {
		/* cpu.max is "quota period" in µs: 1000 millis = one period. */
		snprintf(v, sizeof(v), "%llu 100000", (unsigned long long)sb->cpu_millis * 100);
		r = write_file(dir, file = "cpu.max", v);
	}
	if (r < 0)
		kin__spawn_error(why, r, KIN_STEP_CGROUP, "cgroup limits: cannot write %s/%s: %s",
				 dir, file, kin_strerror(r));
	return r;
}

/* The inode of this process's pid namespace: a pid in a cgroup's name
 * means something only to processes of the same one. 0 if unknown. */
static unsigned long long own_pid_ns(void)
{
	struct stat st;
	return stat("/proc/self/ns/pid", &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* The owner's pid, if `name` is exactly a cgroup name kin writes for an
 * owner in pid namespace `ns`, else 0. */
static pid_t owner_of(const char *name, unsigned long long ns)
{
	char a[24], b[12], c[12], end, canonical[64];
	if (sscanf(name, "kin-%20[0-9]-%10[0-9]-%10[0-9]%c", a, b, c, &end) != 3)
		return 0;
	unsigned long long in_ns = strtoull(a, NULL, 10), pid = strtoull(b, NULL, 10),
			   n = strtoull(c, NULL, 10);
	/* Written back, it must read the same: no leading zeros, no range
	 * folded into another number. */
	snprintf(canonical, sizeof(canonical), "kin-%llu-%llu-%llu", in_ns, pid, n);
	if (strcmp(canonical, name) != 0 || in_ns != ns || pid == 0 || pid > INT_MAX ||
	    n > UINT_MAX)
		return 0;
	return (pid_t)pid;
}

/* An owner killed outright (SIGKILL) cannot remove its cgroups; its
 * linked children die with it, leaving them empty. Each is named
 * kin-<pid namespace>-<owner pid>-<n>, so the next kin of the same pid
 * namespace to use the parent removes those whose owner is gone, once per
 * process and parent. rmdir only takes an empty cgroup: one a detached
 * child still runs in stays. A reused pid only makes it wait longer. */
static void remove_orphaned(const char *parent, unsigned long long ns)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char done[4096];
	struct statfs fs;
	if (!ns || statfs(parent, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
		return;
	pthread_mutex_lock(&lock);
	bool again = strcmp(done, parent) == 0;
	snprintf(done, sizeof(done), "%s", parent);
	pthread_mutex_unlock(&lock);
	DIR *d = again ? NULL : opendir(parent);
	if (!d)
		return;
	pid_t self = getpid();
	struct dirent *e;
	while ((e = readdir(d))) {
		pid_t pid = e->d_type == DT_DIR ? owner_of(e->d_name, ns) : 0;
		if (pid > 0 && pid != self && kill(pid, 0) < 0 && errno == ESRCH)
			(void)unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

int kin__cgroup_create(kin__sandbox_plan *sp, const kin_sandbox *sb, kin_spawn_error *why)
{
	char mnt[1024], parent[4096];
	if (sb->cgroup_parent) {
		if (snprintf(parent, sizeof(parent), "%s", sb->cgroup_parent) >=
		    (int)sizeof(parent)) {
			kin__spawn_error(why, -ENAMETOOLONG, KIN_STEP_CGROUP,
					 "cgroup limits: cgroup_parent is too long");
			return -ENAMETOOLONG;
		}
	} else if (!cgroup2_mount(mnt, sizeof(mnt)) || !own_cgroup(mnt, parent, sizeof(parent))) {
		kin__spawn_error(
			why, -EOPNOTSUPP, KIN_STEP_CGROUP,
			"cgroup limits are unavailable: no cgroup v2 hierarchy is mounted, "
			"or this process is in none");
		return -EOPNOTSUPP;
	}
	unsigned long long ns = own_pid_ns();
	remove_orphaned(parent, ns);
	int r = check_controllers(parent, sb, why);
	if (r < 0)
		return r;
	static atomic_uint seq;
	char *dir = malloc(strlen(parent) + 64);
	if (!dir)
		return -ENOMEM;
	sprintf(dir, "%s/kin-%llu-%d-%u", parent, ns, (int)getpid(), atomic_fetch_add(&seq, 1));
	if (mkdir(dir, 0755) < 0) {
		r = -errno;
		kin__spawn_error(why, r, KIN_STEP_CGROUP, "cgroup limits: cannot create %s: %s",
				 dir, kin_strerror(r));
		free(dir);
		return r;
	}
	sp->cgroup_path = dir;
	if ((r = write_limits(dir, sb, why)) < 0)
		return r; /* the plan's free removes it */
	sp->cgroup_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->cgroup_fd < 0) {
		r = -errno;
		kin__spawn_error(why, r, KIN_STEP_CGROUP, "cgroup limits: cannot open %s: %s", dir,
				 kin_strerror(r));
		return r;
	}
	sp->cgroup_fd = kin__fd_above_stdio(sp->cgroup_fd);
	return 0;
}

bool kin__cgroup_oom_killed(const char *dir)
{
	char path[4200], line[256];
	snprintf(path, sizeof(path), "%s/memory.events", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	unsigned long long n = 0;
	bool killed = false;
	while (!killed && fgets(line, sizeof(line), f))
		killed = sscanf(line, "oom_kill %llu", &n) == 1 && n > 0;
	fclose(f);
	return killed;
}

void kin__cgroup_remove(const char *dir)
{
	if (!dir)
		return;
	/* Without a pid namespace the child's descendants may outlive it;
	 * they are still in our cgroup, so they go with it (cgroup.kill,
	 * Linux 5.14), and the cgroup can be removed once they are gone. */
	if (rmdir(dir) == 0 || errno != EBUSY)
		return;
	(void)write_file(dir, "cgroup.kill", "1");
	for (int i = 0; i < 200 && rmdir(dir) < 0 && errno == EBUSY; i++)
		usleep(1000);
}
