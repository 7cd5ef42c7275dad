/* kin run's sandbox options: their value parsers, and what a command line
 * turns into (the kin_sandbox and kin_spawn_opts the library gets, or the
 * one line and 125 of a refusal). The Makefile builds cli/ only into the
 * kin binary, so the option sources are compiled into this test directly;
 * cli/parse.c, which they call, comes in through test_cli_parse.c. */
#include "harness.h"

#include "../cli/run_options.c"
#include "../cli/run_sandbox.c"

#include <ctype.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- running the option parser */

typedef struct parsed {
	run_config cfg;
	int code;       /* run_parse_args: -1 to go on, else kin's exit status */
	char err[1024]; /* what it printed on stderr */
	char **argv;    /* its own copies: cfg points into them */
	int argc;
	kin_spawn_opts o; /* as run.c makes them, when code is -1 */
} parsed;

/* Parses `kin run ARGS...` (NULL-terminated) with stderr caught. */
static parsed *parse_v(const char *first, va_list ap)
{
	parsed *p = calloc(1, sizeof(*p));
	ASSERT(p);
	const char *args[64] = {"run"};
	int n = 1;
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		ASSERT(n < 63);
		args[n++] = a;
	}
	p->argv = calloc((size_t)n + 1, sizeof(*p->argv));
	ASSERT(p->argv);
	for (int i = 0; i < n; i++)
		ASSERT((p->argv[i] = strdup(args[i])) != NULL);
	p->argc = n;
	ASSERT_OK(run_config_init(&p->cfg, n));

	int mfd = memfd_create("stderr", MFD_CLOEXEC);
	ASSERT(mfd >= 0);
	fflush(stderr);
	int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	ASSERT(saved >= 0);
	ASSERT(dup2(mfd, STDERR_FILENO) == STDERR_FILENO);
	p->code = run_parse_args(n, p->argv, &p->cfg);
	fflush(stderr);
	ASSERT(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
	close(saved);
	ssize_t got = pread(mfd, p->err, sizeof(p->err) - 1, 0);
	ASSERT(got >= 0);
	p->err[got] = '\0';
	if (got > 0 && p->err[got - 1] == '\n')
		p->err[got - 1] = '\0';
	close(mfd);

	if (p->code == -1) {
		/* The spawn options, as cli_run makes them. */
		kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
		o.argv = (const char *const *)p->cfg.argv;
		o.cwd = p->cfg.cwd;
		o.env_mode = p->cfg.clearenv ? KIN_ENV_EMPTY : KIN_ENV_INHERIT;
		o.env_set = p->cfg.env_set;
		o.env_unset = p->cfg.env_unset;
		if (p->cfg.tree)
			o.flags |= KIN_SPAWN_TREE;
		run_sandbox_apply(&p->cfg, &o);
		p->o = o;
	}
	return p;
}

static parsed *parse(const char *first, ...)
{
	va_list ap;
	va_start(ap, first);
	parsed *p = parse_v(first, ap);
	va_end(ap);
	return p;
}

static void parsed_free(parsed *p)
{
	run_config_free(&p->cfg);
	for (int i = 0; i < p->argc; i++)
		free(p->argv[i]);
	free(p->argv);
	free(p);
}

/* Parses and expects it to go on; returns the result to look at. */
static parsed *parse_ok(int line, const char *first, ...)
{
	va_list ap;
	va_start(ap, first);
	parsed *p = parse_v(first, ap);
	va_end(ap);
	if (p->code != -1)
		test_fail(__FILE__, line, "refused with %d: %s", p->code, p->err);
	return p;
}
#define PARSE_OK(...) parse_ok(__LINE__, __VA_ARGS__, NULL)

/* Parses and expects a refusal: 125 and exactly this line. */
#define PARSE_FAILS(line, ...)                                                                     \
	do {                                                                                       \
		parsed *p_ = parse(__VA_ARGS__, NULL);                                             \
		if (p_->code != CLI_EXIT_FAILURE || strcmp(p_->err, line) != 0)                    \
			test_fail(__FILE__, __LINE__, "got %d \"%s\", want 125 \"%s\"", p_->code,  \
				  p_->err, line);                                                  \
		parsed_free(p_);                                                                   \
	} while (0)

/* All the capabilities the running kernel has, as run_sandbox.c sees them. */
static uint64_t test_kernel_caps(void)
{
	int last = -1;
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	ASSERT(f);
	ASSERT_EQ(fscanf(f, "%d", &last), 1);
	fclose(f);
	ASSERT(last >= 0 && last < 63);
	return (UINT64_C(1) << (last + 1)) - 1;
}

static void end_clean(int fds)
{
	ASSERT_EQ(test_count_fds(), fds);
	ASSERT_NO_CHILDREN();
}

/* ---- the value parsers */

TEST(cli_sandbox_parse_sizes)
{
	static const struct {
		const char *s;
		uint64_t v;
	} ok[] = {
		{"0", 0},
		{"4096", 4096},
		{"1K", 1024},
		{"1k", 1024},
		{"512M", 512ull << 20},
		{"2G", 2ull << 30},
		{"2g", 2ull << 30},
		{"3T", 3ull << 40},
		{"007", 7},
		{"18446744073709551615", UINT64_MAX},
		{"16777215T", 16777215ull << 40},
	};
	for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
		uint64_t v = 42;
		if (cli_parse_size(ok[i].s, &v) != 0 || v != ok[i].v)
			test_fail(__FILE__, __LINE__, "\"%s\": got %llu", ok[i].s,
				  (unsigned long long)v);
	}
	static const char *const bad[] = {"",    "K",    "1.5G", "-1",  "+1",   " 1",  "1 ",
					  "1KB", "1KiB", "1P",   "1e3", "0x10", "1kk", "G1"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		uint64_t v = 42;
		int r = cli_parse_size(bad[i], &v);
		if (r != -EINVAL || v != 42)
			test_fail(__FILE__, __LINE__, "\"%s\": got %d", bad[i], r);
	}
	uint64_t v = 42;
	ASSERT_EQ(cli_parse_size("18446744073709551616", &v), -ERANGE);
	ASSERT_EQ(cli_parse_size("16777216T", &v), -ERANGE);
	ASSERT_EQ(cli_parse_size("99999999999999999999999x", &v), -EINVAL);
	ASSERT_EQ(cli_parse_size(NULL, &v), -EINVAL);
	ASSERT_EQ(v, 42);
}

TEST(cli_sandbox_parse_numbers_cpus_and_modes)
{
	uint64_t n = 42;
	ASSERT_OK(cli_parse_uint("0", 10, &n));
	ASSERT_EQ(n, 0);
	ASSERT_OK(cli_parse_uint("4294967294", 4294967294u, &n));
	ASSERT_EQ(n, 4294967294u);
	n = 42;
	ASSERT_EQ(cli_parse_uint("4294967295", 4294967294u, &n), -ERANGE);
	ASSERT_EQ(cli_parse_uint("99999999999999999999999", UINT64_MAX, &n), -ERANGE);
	ASSERT_EQ(cli_parse_uint("1K", UINT64_MAX, &n), -EINVAL);
	ASSERT_EQ(cli_parse_uint("-1", UINT64_MAX, &n), -EINVAL);
	ASSERT_EQ(cli_parse_uint("", UINT64_MAX, &n), -EINVAL);
	ASSERT_EQ(n, 42);

	static const struct {
		const char *s;
		uint32_t v;
	} cpus[] = {{"2", 2000},  {"0.5", 500}, {".5", 500},         {"1.25", 1250},
		    {"0.001", 1}, {"0.05", 50}, {"1.5000000", 1500}, {"4294967.295", UINT32_MAX},
		    {"0", 0}};
	for (size_t i = 0; i < ARRAY_LEN(cpus); i++) {
		uint32_t m = 42;
		if (cli_parse_cpus(cpus[i].s, &m) != 0 || m != cpus[i].v)
			test_fail(__FILE__, __LINE__, "\"%s\": got %u", cpus[i].s, m);
	}
	static const char *const bad_cpus[] = {"",    ".",  "1.", "0.0001", "1.2345", "-1",
					       "1,5", "2x", " 1", "1e2",    "inf"};
	for (size_t i = 0; i < ARRAY_LEN(bad_cpus); i++) {
		uint32_t m = 42;
		int r = cli_parse_cpus(bad_cpus[i], &m);
		if (r != -EINVAL || m != 42)
			test_fail(__FILE__, __LINE__, "\"%s\": got %d", bad_cpus[i], r);
	}
	uint32_t m = 42;
	ASSERT_EQ(cli_parse_cpus("4294967.296", &m), -ERANGE);
	ASSERT_EQ(cli_parse_cpus("99999999999999999999", &m), -ERANGE);
	ASSERT_EQ(m, 42);

	mode_t mode = 0;
	ASSERT_OK(cli_parse_mode("755", &mode));
	ASSERT_EQ(mode, 0755);
	ASSERT_OK(cli_parse_mode("0700", &mode));
	ASSERT_EQ(mode, 0700);
	ASSERT_OK(cli_parse_mode("1777", &mode));
	ASSERT_EQ(mode, 01777);
	ASSERT_OK(cli_parse_mode("00000007777", &mode));
	ASSERT_EQ(mode, 07777);
	mode = 042;
	ASSERT_EQ(cli_parse_mode("10000", &mode), -ERANGE);
	ASSERT_EQ(cli_parse_mode("77777777777777777777777", &mode), -ERANGE);
	ASSERT_EQ(cli_parse_mode("8", &mode), -EINVAL);
	ASSERT_EQ(cli_parse_mode("0x1ff", &mode), -EINVAL);
	ASSERT_EQ(cli_parse_mode("", &mode), -EINVAL);
	ASSERT_EQ(cli_parse_mode("-755", &mode), -EINVAL);
	ASSERT_EQ(cli_parse_mode("777777777777777777779", &mode), -EINVAL);
	ASSERT_EQ(mode, 042);
}

TEST(cli_sandbox_parse_rlimits)
{
	static const struct {
		const char *name;
		int res;
	} names[] = {
		{"NOFILE", RLIMIT_NOFILE},
		{"nofile", RLIMIT_NOFILE},
		{"RLIMIT_NOFILE", RLIMIT_NOFILE},
		{"rlimit_as", RLIMIT_AS},
		{"NPROC", RLIMIT_NPROC},
		{"CORE", RLIMIT_CORE},
		{"CPU", RLIMIT_CPU},
		{"FSIZE", RLIMIT_FSIZE},
		{"MEMLOCK", RLIMIT_MEMLOCK},
		{"STACK", RLIMIT_STACK},
		{"DATA", RLIMIT_DATA},
		{"RSS", RLIMIT_RSS},
		{"LOCKS", RLIMIT_LOCKS},
		{"SIGPENDING", RLIMIT_SIGPENDING},
		{"MSGQUEUE", RLIMIT_MSGQUEUE},
		{"NICE", RLIMIT_NICE},
		{"RTPRIO", RLIMIT_RTPRIO},
		{"RTTIME", RLIMIT_RTTIME},
	};
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		int res = -1;
		if (cli_parse_rlimit_name(names[i].name, &res) != 0 || res != names[i].res)
			test_fail(__FILE__, __LINE__, "\"%s\": got %d", names[i].name, res);
	}
	static const char *const bad_names[] = {
		"", "FILES", "RLIMIT_", "NOFILE ", "RLIMIT_RLIMIT_AS", "NOFIL", "NOFILEX", "8"};
	for (size_t i = 0; i < ARRAY_LEN(bad_names); i++) {
		int res = -1;
		if (cli_parse_rlimit_name(bad_names[i], &res) != -EINVAL || res != -1)
			test_fail(__FILE__, __LINE__, "\"%s\" accepted", bad_names[i]);
	}

	struct rlimit l;
	ASSERT_OK(cli_parse_rlimit_value("1024", &l));
	ASSERT(l.rlim_cur == 1024 && l.rlim_max == 1024);
	ASSERT_OK(cli_parse_rlimit_value("1024:4096", &l));
	ASSERT(l.rlim_cur == 1024 && l.rlim_max == 4096);
	ASSERT_OK(cli_parse_rlimit_value("unlimited", &l));
	ASSERT(l.rlim_cur == RLIM_INFINITY && l.rlim_max == RLIM_INFINITY);
	ASSERT_OK(cli_parse_rlimit_value("4G:infinity", &l));
	ASSERT(l.rlim_cur == 4ull << 30 && l.rlim_max == RLIM_INFINITY);
	ASSERT_OK(cli_parse_rlimit_value("0", &l));
	ASSERT(l.rlim_cur == 0 && l.rlim_max == 0);
	l.rlim_cur = l.rlim_max = 7;
	static const char *const bad[] = {"",           ":",         "1:",   ":1", "1:2:3", "x",
					  "unlimitedx", "Unlimited", "1 :2", "-1", "1.5"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		int r = cli_parse_rlimit_value(bad[i], &l);
		if (r != -EINVAL)
			test_fail(__FILE__, __LINE__, "\"%s\": got %d", bad[i], r);
	}
	ASSERT_EQ(cli_parse_rlimit_value("10:5", &l), -EDOM);
	ASSERT_EQ(cli_parse_rlimit_value("unlimited:5", &l), -EDOM);
	ASSERT_EQ(cli_parse_rlimit_value("99999999999999999999", &l), -ERANGE);
	ASSERT(l.rlim_cur == 7 && l.rlim_max == 7);
}

TEST(cli_sandbox_capability_names_match_the_kernel_headers)
{
	/* Every number in <linux/capability.h>, by its name and without the
	 * prefix in lower case, gives its own bit and nothing else. */
	static const struct {
		const char *name;
		int cap;
	} caps[] = {
		{"CAP_CHOWN", CAP_CHOWN},
		{"CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE},
		{"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH},
		{"CAP_FOWNER", CAP_FOWNER},
		{"CAP_FSETID", CAP_FSETID},
		{"CAP_KILL", CAP_KILL},
		{"CAP_SETGID", CAP_SETGID},
		{"CAP_SETUID", CAP_SETUID},
		{"CAP_SETPCAP", CAP_SETPCAP},
		{"CAP_LINUX_IMMUTABLE", CAP_LINUX_IMMUTABLE},
		{"CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE},
		{"CAP_NET_BROADCAST", CAP_NET_BROADCAST},
		{"CAP_NET_ADMIN", CAP_NET_ADMIN},
		{"CAP_NET_RAW", CAP_NET_RAW},
		{"CAP_IPC_LOCK", CAP_IPC_LOCK},
		{"CAP_IPC_OWNER", CAP_IPC_OWNER},
		{"CAP_SYS_MODULE", CAP_SYS_MODULE},
		{"CAP_SYS_RAWIO", CAP_SYS_RAWIO},
		{"CAP_SYS_CHROOT", CAP_SYS_CHROOT},
		{"CAP_SYS_PTRACE", CAP_SYS_PTRACE},
		{"CAP_SYS_PACCT", CAP_SYS_PACCT},
		{"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
		{"CAP_SYS_BOOT", CAP_SYS_BOOT},
		{"CAP_SYS_NICE", CAP_SYS_NICE},
		{"CAP_SYS_RESOURCE", CAP_SYS_RESOURCE},
		{"CAP_SYS_TIME", CAP_SYS_TIME},
		{"CAP_SYS_TTY_CONFIG", CAP_SYS_TTY_CONFIG},
		{"CAP_MKNOD", CAP_MKNOD},
		{"CAP_LEASE", CAP_LEASE},
		{"CAP_AUDIT_WRITE", CAP_AUDIT_WRITE},
		{"CAP_AUDIT_CONTROL", CAP_AUDIT_CONTROL},
		{"CAP_SETFCAP", CAP_SETFCAP},
		{"CAP_MAC_OVERRIDE", CAP_MAC_OVERRIDE},
		{"CAP_MAC_ADMIN", CAP_MAC_ADMIN},
		{"CAP_SYSLOG", CAP_SYSLOG},
		{"CAP_WAKE_ALARM", CAP_WAKE_ALARM},
		{"CAP_BLOCK_SUSPEND", CAP_BLOCK_SUSPEND},
		{"CAP_AUDIT_READ", CAP_AUDIT_READ},
		{"CAP_PERFMON", CAP_PERFMON},
		{"CAP_BPF", CAP_BPF},
		{"CAP_CHECKPOINT_RESTORE", CAP_CHECKPOINT_RESTORE},
	};
	ASSERT_EQ(ARRAY_LEN(caps), CLI_CAP_COUNT);
	ASSERT_EQ(CAP_LAST_CAP, CLI_CAP_COUNT - 1);
	for (size_t i = 0; i < ARRAY_LEN(caps); i++) {
		uint64_t mask = 0;
		ASSERT_OK(cli_parse_capability(caps[i].name, &mask));
		ASSERT_EQ(mask, UINT64_C(1) << caps[i].cap);
		ASSERT_STR_EQ(cli_capability_name(caps[i].cap), caps[i].name);
		char lower[64];
		size_t n = strlen(caps[i].name) - 4;
		for (size_t j = 0; j <= n; j++)
			lower[j] = (char)tolower((unsigned char)caps[i].name[4 + j]);
		mask = 0;
		ASSERT_OK(cli_parse_capability(lower, &mask));
		ASSERT_EQ(mask, UINT64_C(1) << caps[i].cap);
	}
	uint64_t mask = 0;
	ASSERT_OK(cli_parse_capability("ALL", &mask));
	ASSERT_EQ(mask, CLI_CAPS_ALL);
	ASSERT_OK(cli_parse_capability("all", &mask));
	ASSERT_EQ(mask, CLI_CAPS_ALL);
	ASSERT_OK(cli_parse_capability("Cap_Net_Admin", &mask));
	ASSERT_EQ(mask, UINT64_C(1) << 12);
	ASSERT(cli_capability_name(-1) == NULL);
	ASSERT(cli_capability_name(CLI_CAP_COUNT) == NULL);
	static const char *const bad[] = {
		"",   "CAP_",         "CAP_ALL",   "NET-ADMIN",   "CAP_NET_ADMINX",
		"12", "CAPNET_ADMIN", " CAP_KILL", "CAP_CAP_KILL"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		mask = 42;
		if (cli_parse_capability(bad[i], &mask) != -EINVAL || mask != 42)
			test_fail(__FILE__, __LINE__, "\"%s\" accepted", bad[i]);
	}
}

/* ---- command lines and what they become */

TEST(cli_sandbox_none_without_sandbox_options)
{
	int fds = test_count_fds();
	parsed *p = PARSE_OK("--timeout", "5", "--env", "A=1", "true");
	ASSERT(!p->cfg.sandbox.used);
	ASSERT(p->o.sandbox == NULL);
	ASSERT(p->o.rlimits == NULL);
	ASSERT_EQ(p->o.nrlimits, 0);
	ASSERT_EQ(p->o.env_mode, KIN_ENV_INHERIT);
	ASSERT(p->o.flags & KIN_SPAWN_TREE);
	ASSERT_STR_EQ(p->cfg.argv[0], "true");
	parsed_free(p);
	end_clean(fds);
}

TEST(cli_sandbox_unshare_options_give_namespaces)
{
	int fds = test_count_fds();
	static const struct {
		const char *opt;
		unsigned ns;
	} one[] = {
		{"--unshare-user", KIN_NS_USER}, {"--unshare-pid", KIN_NS_PID},
		{"--unshare-net", KIN_NS_NET},   {"--unshare-ipc", KIN_NS_IPC},
		{"--unshare-uts", KIN_NS_UTS},   {"--unshare-cgroup", KIN_NS_CGROUP},
		{"--unshare-all", KIN_NS_ALL},
	};
	for (size_t i = 0; i < ARRAY_LEN(one); i++) {
		parsed *p = PARSE_OK(one[i].opt, "true");
		if (p->cfg.sandbox.sb.namespaces != one[i].ns)
			test_fail(__FILE__, __LINE__, "%s gave %#x", one[i].opt,
				  p->cfg.sandbox.sb.namespaces);
		ASSERT(p->o.sandbox == &p->cfg.sandbox.sb);
		ASSERT(p->cfg.sandbox.confined);
		/* In a sandbox only --env/--setenv variables go in. */
		ASSERT_EQ(p->o.env_mode, KIN_ENV_EMPTY);
		/* Tree mode stays: with KIN_NS_PID it is the sandbox's pid 1. */
		ASSERT(p->o.flags & KIN_SPAWN_TREE);
		ASSERT(!p->cfg.sandbox.sb.as_pid_1);
		ASSERT_EQ(p->cfg.sandbox.sb.caps, 0);
		ASSERT_EQ(p->cfg.sandbox.sb.init_fd, -1);
		parsed_free(p);
	}
	parsed *p = PARSE_OK("--unshare-net", "--unshare-uts", "--unshare-net", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.namespaces, KIN_NS_NET | KIN_NS_UTS);
	parsed_free(p);
	p = PARSE_OK("--unshare-all", "--share-net", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.namespaces, KIN_NS_ALL & ~(unsigned)KIN_NS_NET);
	parsed_free(p);
	p = PARSE_OK("--share-net", "--unshare-all", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.namespaces, KIN_NS_ALL & ~(unsigned)KIN_NS_NET);
	parsed_free(p);
	end_clean(fds);
}

TEST(cli_sandbox_mounts_keep_command_line_order)
{
	int fds = test_count_fds();
	parsed *p = PARSE_OK("--ro-bind", "/usr", "/usr", "--bind", "rel/src", "/work",
			     "--dev-bind", "/dev/null", "/dev/null", "--tmpfs", "/tmp", "--proc",
			     "/proc", "--dev", "/dev", "--dir", "/run", "--symlink", "usr/bin",
			     "/bin", "--remount-ro", "/usr", "--perms", "0700", "--tmpfs",
			     "/secret", "--perms", "1777", "--dir", "/run/shared", "sh");
	const run_sandbox *rs = &p->cfg.sandbox;
	static const struct {
		kin_mount_kind kind;
		const char *source, *dest;
		mode_t mode;
	} want[] = {
		{KIN_MOUNT_RO_BIND, "/usr", "/usr", 0},
		{KIN_MOUNT_BIND, NULL, "/work", 0}, /* rel/src: checked below */
		{KIN_MOUNT_DEV_BIND, "/dev/null", "/dev/null", 0},
		{KIN_MOUNT_TMPFS, NULL, "/tmp", 0},
		{KIN_MOUNT_PROC, NULL, "/proc", 0},
		{KIN_MOUNT_DEV, NULL, "/dev", 0},
		{KIN_MOUNT_DIR, NULL, "/run", 0},
		{KIN_MOUNT_SYMLINK, "usr/bin", "/bin", 0},
		{KIN_MOUNT_REMOUNT_RO, NULL, "/usr", 0},
		{KIN_MOUNT_TMPFS, NULL, "/secret", 0700},
		{KIN_MOUNT_DIR, NULL, "/run/shared", 01777},
	};
	ASSERT_EQ(rs->sb.nmounts, ARRAY_LEN(want));
	ASSERT(rs->sb.mounts == rs->mounts);
	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		const kin_mount *m = &rs->sb.mounts[i];
		ASSERT_EQ(m->kind, want[i].kind);
		if (want[i].source)
			ASSERT_STR_EQ(m->source, want[i].source);
		else if (m->kind != KIN_MOUNT_BIND)
			ASSERT(m->source == NULL);
		ASSERT_STR_EQ(m->dest, want[i].dest);
		ASSERT_EQ(m->mode, want[i].mode);
	}
	/* A relative host path is made absolute from kin's directory; a
	 * symlink's target is left as it is. */
	char here[4096], want_src[4200];
	ASSERT(getcwd(here, sizeof(here)));
	snprintf(want_src, sizeof(want_src), "%s/rel/src", here);
	ASSERT_STR_EQ(rs->sb.mounts[1].source, want_src);
	/* Mount steps need (and bwrap always has) a mount namespace. */
	ASSERT_EQ(rs->sb.namespaces, KIN_NS_MOUNT);
	ASSERT(rs->confined);
	ASSERT_STR_EQ(p->cfg.argv[0], "sh");
	parsed_free(p);
	end_clean(fds);
}

TEST(cli_sandbox_two_value_options_take_the_next_argument_whatever_it_is)
{
	int fds = test_count_fds();
	/* As in bwrap: the second value is the next argument, even one that
	 * looks like an option. */
	parsed *p = PARSE_OK("--setenv", "OPTS", "--verbose", "--bind=/src", "/dst", "env");
	ASSERT_EQ(p->cfg.nset, 1);
	ASSERT_STR_EQ(p->cfg.env_set[0], "OPTS=--verbose");
	ASSERT(!p->cfg.verbose);
	ASSERT_EQ(p->cfg.sandbox.nmounts, 1);
	ASSERT_STR_EQ(p->cfg.sandbox.mounts[0].source, "/src");
	ASSERT_STR_EQ(p->cfg.sandbox.mounts[0].dest, "/dst");
	ASSERT_STR_EQ(p->cfg.argv[0], "env");
	parsed_free(p);

	p = PARSE_OK("--setenv", "EMPTY", "", "--setenv", "EQ", "a=b", "true");
	ASSERT_STR_EQ(p->cfg.env_set[0], "EMPTY=");
	ASSERT_STR_EQ(p->cfg.env_set[1], "EQ=a=b");
	ASSERT(p->cfg.env_set[2] == NULL);
	parsed_free(p);

	PARSE_FAILS("kin run: option '--bind' needs two values: SRC DEST; try 'kin run --help'",
		    "--bind", "/a");
	PARSE_FAILS("kin run: option '--bind' needs two values: SRC DEST; try 'kin run --help'",
		    "--bind");
	PARSE_FAILS("kin run: option '--symlink' needs two values: TARGET DEST; try 'kin run "
		    "--help'",
		    "--symlink", "x");
	PARSE_FAILS("kin run: option '--setenv' needs two values: VAR VALUE; try 'kin run --help'",
		    "--setenv", "A");
	PARSE_FAILS("kin run: option '--tmpfs' needs a value; try 'kin run --help'", "--tmpfs");
	end_clean(fds);
}

TEST(cli_sandbox_bad_mount_values_are_refused)
{
	int fds = test_count_fds();
	PARSE_FAILS("kin run: --bind: DEST \"dst\" is not an absolute path", "--bind", "/src",
		    "dst", "true");
	PARSE_FAILS("kin run: --tmpfs: DEST \"\" is not an absolute path", "--tmpfs", "", "true");
	PARSE_FAILS("kin run: --ro-bind: SRC is empty", "--ro-bind", "", "/x", "true");
	PARSE_FAILS("kin run: --symlink: TARGET is empty", "--symlink", "", "/x", "true");
	PARSE_FAILS("kin run: --perms: \"0800\" is not an octal mode (use e.g. 0700, 1777)",
		    "--perms", "0800", "--tmpfs", "/t", "true");
	PARSE_FAILS("kin run: --perms: \"17777\" is above 07777", "--perms", "17777", "--tmpfs",
		    "/t", "true");
	PARSE_FAILS("kin run: --perms: mode 0000 is not supported (0 stands for the default, 0755)",
		    "--perms", "0000", "--dir", "/t", "true");
	PARSE_FAILS("kin run: --perms 0700 must be followed by --tmpfs or --dir, not --bind; try "
		    "'kin run --help'",
		    "--perms", "0700", "--bind", "/a", "/b", "true");
	PARSE_FAILS("kin run: --perms 0700 must be followed by --tmpfs or --dir, not -v; try 'kin "
		    "run --help'",
		    "--perms", "0700", "-v", "--tmpfs", "/t", "true");
	PARSE_FAILS("kin run: --perms 0700 must be followed by --tmpfs or --dir, not --perms; try "
		    "'kin run --help'",
		    "--perms", "0700", "--perms", "0750", "--tmpfs", "/t", "true");
	PARSE_FAILS("kin run: --perms 0700 must be followed by --tmpfs or --dir; try 'kin run "
		    "--help'",
		    "--perms", "0700", "true");
	end_clean(fds);
}

TEST(cli_sandbox_ids_and_hostname)
{
	int fds = test_count_fds();
	parsed *p = PARSE_OK("--unshare-user", "--uid", "1000", "--gid", "100", "--unshare-uts",
			     "--hostname", "box", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.uid, 1000);
	ASSERT_EQ(p->cfg.sandbox.sb.gid, 100);
	ASSERT_STR_EQ(p->cfg.sandbox.sb.hostname, "box");
	ASSERT_EQ(p->cfg.sandbox.sb.namespaces, KIN_NS_USER | KIN_NS_UTS);
	parsed_free(p);
	p = PARSE_OK("--unshare-all", "--uid", "0", "--gid", "4294967294", "--hostname", "h",
		     "true");
	ASSERT_EQ(p->cfg.sandbox.sb.uid, 0);
	ASSERT_EQ(p->cfg.sandbox.sb.gid, 4294967294u);
	parsed_free(p);
	PARSE_FAILS("kin run: --uid: \"-1\" is not a number", "--unshare-user", "--uid", "-1",
		    "true");
	PARSE_FAILS("kin run: --gid: 4294967295 is too large (at most 4294967294)",
		    "--unshare-user", "--gid", "4294967295", "true");
	PARSE_FAILS("kin run: --hostname: the name is empty", "--unshare-uts", "--hostname", "",
		    "true");
	PARSE_FAILS(
		"kin run: --hostname: "
		"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" is longer "
		"than 64 bytes",
		"--unshare-uts", "--hostname",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "true");
	end_clean(fds);
}

TEST(cli_sandbox_impossible_combinations_name_both_options)
{
	int fds = test_count_fds();
	PARSE_FAILS("kin run: --hostname needs --unshare-uts (or --unshare-all)", "--hostname", "x",
		    "true");
	PARSE_FAILS("kin run: --hostname needs --unshare-uts (or --unshare-all)", "--unshare-net",
		    "--hostname", "x", "true");
	PARSE_FAILS("kin run: --uid needs --unshare-user (or --unshare-all)", "--uid", "1", "true");
	PARSE_FAILS("kin run: --gid needs --unshare-user (or --unshare-all)", "--unshare-pid",
		    "--gid", "1", "true");
	PARSE_FAILS("kin run: --as-pid-1 needs --unshare-pid (or --unshare-all)", "--as-pid-1",
		    "true");
	PARSE_FAILS("kin run: --unshare-pid cannot go with --no-tree (a new PID namespace is what "
		    "tree mode makes)",
		    "--no-tree", "--unshare-pid", "true");
	PARSE_FAILS("kin run: --unshare-all cannot go with --no-tree (a new PID namespace is what "
		    "tree mode makes)",
		    "--unshare-all", "--no-tree", "true");
	PARSE_FAILS("kin run: --as-pid-1 cannot go with --no-tree (a new PID namespace is what "
		    "tree mode makes)",
		    "--as-pid-1", "--no-tree", "true");
	PARSE_FAILS("kin run: --share-net needs --unshare-all", "--share-net", "true");
	PARSE_FAILS("kin run: --share-net and --unshare-net contradict each other", "--unshare-all",
		    "--share-net", "--unshare-net", "true");
	PARSE_FAILS("kin run: --seccomp-kill needs --seccomp", "--seccomp-kill", "true");
	/* Checked before PROGRAM is looked for, and before anything runs. */
	PARSE_FAILS("kin run: --hostname needs --unshare-uts (or --unshare-all)", "--hostname",
		    "x");

	/* What is possible stays possible. */
	parsed *p = PARSE_OK("--no-tree", "--unshare-net", "--unshare-user", "true");
	ASSERT(!(p->o.flags & KIN_SPAWN_TREE));
	ASSERT_EQ(p->cfg.sandbox.sb.namespaces, KIN_NS_NET | KIN_NS_USER);
	parsed_free(p);
	end_clean(fds);
}

TEST(cli_sandbox_as_pid_1_replaces_tree_mode)
{
	int fds = test_count_fds();
	parsed *p = PARSE_OK("--unshare-pid", "--as-pid-1", "true");
	ASSERT(p->cfg.sandbox.sb.as_pid_1);
	ASSERT_EQ(p->cfg.sandbox.sb.namespaces, KIN_NS_PID);
	/* The program is the namespace's pid 1, so kin's own init (tree
	 * mode) is not there; the library refuses the two together. */
	ASSERT(!(p->o.flags & KIN_SPAWN_TREE));
	parsed_free(p);
	p = PARSE_OK("--as-pid-1", "--unshare-all", "true");
	ASSERT(p->cfg.sandbox.sb.as_pid_1);
	ASSERT(!(p->o.flags & KIN_SPAWN_TREE));
	parsed_free(p);
	/* --unshare-pid alone keeps tree mode: that is its pid 1. */
	p = PARSE_OK("--unshare-pid", "true");
	ASSERT(p->o.flags & KIN_SPAWN_TREE);
	ASSERT(!p->cfg.sandbox.sb.as_pid_1);
	parsed_free(p);
	end_clean(fds);
}

TEST(cli_sandbox_seccomp_profiles)
{
	int fds = test_count_fds();
	parsed *p = PARSE_OK("--seccomp", "default", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.seccomp, KIN_SECCOMP_DEFAULT);
	ASSERT(p->cfg.sandbox.sb.seccomp_file == NULL);
	ASSERT_EQ(p->cfg.sandbox.sb.seccomp_action, KIN_SECCOMP_EPERM);
	/* seccomp alone makes a sandbox without namespaces. */
	ASSERT_EQ(p->cfg.sandbox.sb.namespaces, 0);
	ASSERT(p->o.sandbox != NULL);
	ASSERT(p->cfg.sandbox.confined);
	parsed_free(p);
	p = PARSE_OK("--seccomp", "no-network", "--seccomp", "default", "--seccomp", "./my.profile",
		     "--seccomp-kill", "--seccomp", "./my.profile", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.seccomp, KIN_SECCOMP_DEFAULT | KIN_SECCOMP_NO_NETWORK);
	ASSERT_STR_EQ(p->cfg.sandbox.sb.seccomp_file, "./my.profile");
	ASSERT_EQ(p->cfg.sandbox.sb.seccomp_action, KIN_SECCOMP_KILL);
	parsed_free(p);
	p = PARSE_OK("--seccomp-kill", "--seccomp", "/etc/kin/profile", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.seccomp, 0);
	ASSERT_STR_EQ(p->cfg.sandbox.sb.seccomp_file, "/etc/kin/profile");
	ASSERT_EQ(p->cfg.sandbox.sb.seccomp_action, KIN_SECCOMP_KILL);
	parsed_free(p);
	PARSE_FAILS(
		"kin run: --seccomp: unknown profile \"Default\" (use default, no-network, or a "
		"file's path with a '/', e.g. ./my.profile)",
		"--seccomp", "Default", "true");
	PARSE_FAILS("kin run: --seccomp: only one profile file can be given (\"./a\" and \"./b\")",
		    "--seccomp", "./a", "--seccomp", "./b", "true");
	end_clean(fds);
}

TEST(cli_sandbox_capabilities_apply_in_order)
{
	int fds = test_count_fds();
	const uint64_t net_admin = UINT64_C(1) << CAP_NET_ADMIN, chown = UINT64_C(1) << CAP_CHOWN;
	parsed *p = PARSE_OK("--cap-add", "CAP_NET_ADMIN", "--cap-add", "chown", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.caps, net_admin | chown);
	ASSERT_EQ(p->cfg.sandbox.sb.namespaces, 0);
	ASSERT(p->cfg.sandbox.confined);
	ASSERT_EQ(p->o.env_mode, KIN_ENV_EMPTY);
	parsed_free(p);
	p = PARSE_OK("--cap-add", "ALL", "--cap-drop", "net_admin", "true");
	/* ALL is all the running kernel has. */
	ASSERT_EQ(p->cfg.sandbox.sb.caps, test_kernel_caps() & ~net_admin);
	parsed_free(p);
	p = PARSE_OK("--cap-drop", "ALL", "--cap-add", "CAP_CHOWN", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.caps, chown);
	parsed_free(p);
	p = PARSE_OK("--cap-add", "chown", "--cap-drop", "ALL", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.caps, 0);
	ASSERT(p->o.sandbox != NULL); /* everything dropped is still a sandbox */
	parsed_free(p);
	PARSE_FAILS("kin run: --cap-drop: unknown capability \"CAP_FLY\" (use e.g. CAP_NET_ADMIN, "
		    "net_admin, or ALL)",
		    "--cap-drop", "CAP_FLY", "true");
	end_clean(fds);
}

TEST(cli_sandbox_rlimits_need_no_sandbox)
{
	int fds = test_count_fds();
	parsed *p = PARSE_OK("--rlimit", "NOFILE=64", "--rlimit", "core=0", "--rlimit",
			     "AS=4G:unlimited", "--rlimit", "nofile=128:256", "true");
	ASSERT(!p->cfg.sandbox.used);
	ASSERT(p->o.sandbox == NULL);
	ASSERT_EQ(p->o.env_mode, KIN_ENV_INHERIT);
	ASSERT_EQ(p->o.nrlimits, 3);
	/* A later one of the same resource replaces the earlier, in place. */
	ASSERT_EQ(p->o.rlimits[0].resource, RLIMIT_NOFILE);
	ASSERT_EQ(p->o.rlimits[0].limit.rlim_cur, 128);
	ASSERT_EQ(p->o.rlimits[0].limit.rlim_max, 256);
	ASSERT_EQ(p->o.rlimits[1].resource, RLIMIT_CORE);
	ASSERT_EQ(p->o.rlimits[1].limit.rlim_cur, 0);
	ASSERT_EQ(p->o.rlimits[1].limit.rlim_max, 0);
	ASSERT_EQ(p->o.rlimits[2].resource, RLIMIT_AS);
	ASSERT(p->o.rlimits[2].limit.rlim_cur == 4ull << 30);
	ASSERT(p->o.rlimits[2].limit.rlim_max == RLIM_INFINITY);
	parsed_free(p);
	PARSE_FAILS("kin run: --rlimit: \"NOFILE\" is not RESOURCE=VALUE (use e.g. NOFILE=1024, "
		    "CORE=0, AS=4G:unlimited)",
		    "--rlimit", "NOFILE", "true");
	PARSE_FAILS(
		"kin run: --rlimit: unknown resource \"FILES\" (use e.g. NOFILE, NPROC, CORE, AS, "
		"CPU, FSIZE, MEMLOCK, STACK)",
		"--rlimit", "FILES=10", "true");
	PARSE_FAILS("kin run: --rlimit: unknown resource \"\" (use e.g. NOFILE, NPROC, CORE, AS, "
		    "CPU, FSIZE, MEMLOCK, STACK)",
		    "--rlimit", "=10", "true");
	PARSE_FAILS(
		"kin run: --rlimit: NOFILE: invalid value \"lots\" (use a number, unlimited, or "
		"SOFT:HARD; K, M, G, T suffixes allowed)",
		"--rlimit", "NOFILE=lots", "true");
	PARSE_FAILS("kin run: --rlimit: NOFILE: the soft limit is above the hard one in \"10:5\"",
		    "--rlimit", "NOFILE=10:5", "true");
	PARSE_FAILS("kin run: --rlimit: AS: \"99999999999999999999\" is too large", "--rlimit",
		    "AS=99999999999999999999", "true");
	end_clean(fds);
}


/* Options that need the sandbox layer but confine nothing else: kin's own
 * environment, as a list, every capability kept, tree mode as usual. */
static void expect_sandbox_layer_only(const parsed *p)
{
	const run_sandbox *rs = &p->cfg.sandbox;
	ASSERT(rs->used && !rs->confined);
	ASSERT(p->o.sandbox == &rs->sb);
	ASSERT_EQ(p->o.env_mode, KIN_ENV_LIST);
	ASSERT(p->o.env == (const char *const *)environ);
	ASSERT_EQ(rs->sb.caps, test_kernel_caps());
	ASSERT(p->o.flags & KIN_SPAWN_TREE);
}

TEST(cli_sandbox_cgroup_limits_alone_keep_environment_and_capabilities)
{
	int fds = test_count_fds();
	parsed *p = PARSE_OK("--memory", "512M", "--pids", "64", "--cpus", "1.5", "true");
	const run_sandbox *rs = &p->cfg.sandbox;
	ASSERT_EQ(rs->sb.memory_max, 512ull << 20);
	ASSERT_EQ(rs->sb.pids_max, 64);
	ASSERT_EQ(rs->sb.cpu_millis, 1500);
	ASSERT_EQ(rs->sb.namespaces, 0);
	expect_sandbox_layer_only(p);
	parsed_free(p);
	p = PARSE_OK("--clearenv", "--cpus", "2", "true");
	ASSERT_EQ(p->o.env_mode, KIN_ENV_EMPTY);
	ASSERT_EQ(p->cfg.sandbox.sb.cpu_millis, 2000);
	parsed_free(p);
	/* Together with a real sandbox, the sandbox's rules hold. */
	p = PARSE_OK("--memory", "1G", "--unshare-net", "true");
	ASSERT(p->cfg.sandbox.confined);
	ASSERT_EQ(p->o.env_mode, KIN_ENV_EMPTY);
	ASSERT_EQ(p->cfg.sandbox.sb.caps, 0);
	parsed_free(p);
	PARSE_FAILS("kin run: --memory: invalid size \"1.5G\" (bytes, or with a K, M, G or T "
		    "suffix: 512M, 2G)",
		    "--memory", "1.5G", "true");
	PARSE_FAILS("kin run: --memory: the limit must be more than 0", "--memory", "0", "true");
	PARSE_FAILS("kin run: --memory: \"99999999T\" is too large", "--memory", "99999999T",
		    "true");
	PARSE_FAILS("kin run: --pids: \"ten\" is not a number", "--pids", "ten", "true");
	PARSE_FAILS("kin run: --pids: the limit must be more than 0", "--pids", "0", "true");
	PARSE_FAILS("kin run: --pids: 4194305 is too large (at most 4194304)", "--pids", "4194305",
		    "true");
	PARSE_FAILS("kin run: --cpus: invalid number of CPUs \"half\" (use e.g. 0.5, 2, 1.25)",
		    "--cpus", "half", "true");
	PARSE_FAILS("kin run: --cpus: the limit must be more than 0", "--cpus", "0.000", "true");
	end_clean(fds);
}

TEST(cli_sandbox_landlock_rules_are_one_per_path)
{
	int fds = test_count_fds();
	parsed *p = PARSE_OK("--landlock-read", "/usr", "--landlock-write", "/tmp",
			     "--landlock-exec", "/usr", "--landlock-read", "/", "--landlock-read",
			     "/usr", "--landlock-read", "/tmp", "true");
	const run_sandbox *rs = &p->cfg.sandbox;
	/* In order of first mention, each with the union of its options. */
	static const struct {
		const char *path;
		unsigned access;
	} want[] = {
		{"/usr", KIN_LANDLOCK_READ | KIN_LANDLOCK_EXEC},
		{"/tmp", KIN_LANDLOCK_WRITE | KIN_LANDLOCK_READ},
		{"/", KIN_LANDLOCK_READ},
	};
	ASSERT_EQ(rs->sb.nlandlock, ARRAY_LEN(want));
	ASSERT(rs->sb.landlock == rs->landlock);
	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		ASSERT_STR_EQ(rs->sb.landlock[i].path, want[i].path);
		ASSERT_EQ(rs->sb.landlock[i].access, want[i].access);
	}
	ASSERT(p->o.sandbox == &rs->sb);
	ASSERT_EQ(rs->sb.namespaces, 0);
	parsed_free(p);
	p = PARSE_OK("--landlock-exec", "/usr/bin", "--landlock-write", "/dev/null", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.nlandlock, 2);
	ASSERT_EQ(p->cfg.sandbox.sb.landlock[0].access, KIN_LANDLOCK_EXEC);
	ASSERT_EQ(p->cfg.sandbox.sb.landlock[1].access, KIN_LANDLOCK_WRITE);
	parsed_free(p);
	/* Without them, no rules. */
	p = PARSE_OK("--unshare-net", "true");
	ASSERT_EQ(p->cfg.sandbox.sb.nlandlock, 0);
	ASSERT(p->cfg.sandbox.sb.landlock == NULL);
	parsed_free(p);
	end_clean(fds);
}

TEST(cli_sandbox_landlock_alone_keeps_environment_and_capabilities)
{
	int fds = test_count_fds();
	parsed *p = PARSE_OK("--landlock-read", "/", "true");
	/* It fences files only, as the cgroup limits fence resources only. */
	expect_sandbox_layer_only(p);
	parsed_free(p);
	/* With a real sandbox, the sandbox's defaults; the rules stay. */
	const char *with[2] = {"--cap-drop", "--unshare-all"};
	for (int i = 0; i < 2; i++) {
		p = i == 0 ? PARSE_OK("--landlock-read", "/", with[i], "ALL", "true")
			   : PARSE_OK(with[i], "--landlock-exec", "/", "true");
		ASSERT(p->cfg.sandbox.confined);
		ASSERT_EQ(p->o.env_mode, KIN_ENV_EMPTY);
		ASSERT_EQ(p->cfg.sandbox.sb.caps, 0);
		ASSERT_EQ(p->cfg.sandbox.sb.nlandlock, 1);
		parsed_free(p);
	}
	end_clean(fds);
}

TEST(cli_sandbox_landlock_paths_must_be_absolute)
{
	int fds = test_count_fds();
	PARSE_FAILS("kin run: --landlock-read: \"usr\" is not an absolute path", "--landlock-read",
		    "usr", "true");
	PARSE_FAILS("kin run: --landlock-write: \"./out\" is not an absolute path",
		    "--landlock-read", "/", "--landlock-write", "./out", "true");
	PARSE_FAILS("kin run: --landlock-exec: \"\" is not an absolute path", "--landlock-exec", "",
		    "true");
	PARSE_FAILS("kin run: option '--landlock-exec' needs a value; try 'kin run --help'",
		    "--landlock-exec");
	/* The paths are the sandbox's, looked up when the rules are applied
	 * (the library names a missing one then), so parsing takes any
	 * absolute one. */
	char dir[256], missing[300];
	test_make_tmpdir(dir, sizeof(dir));
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	parsed *p = PARSE_OK("--landlock-read", missing, "true");
	ASSERT_EQ(p->cfg.sandbox.sb.nlandlock, 1);
	ASSERT_STR_EQ(p->cfg.sandbox.sb.landlock[0].path, missing);
	parsed_free(p);
	/* Files are fine, as are directories. */
	char file[300];
	snprintf(file, sizeof(file), "%s/file", dir);
	int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ASSERT(fd >= 0);
	close(fd);
	p = PARSE_OK("--landlock-write", file, "--landlock-read", dir, "true");
	ASSERT_EQ(p->cfg.sandbox.sb.nlandlock, 2);
	parsed_free(p);
	test_remove_tree(dir);
	end_clean(fds);
}

TEST(cli_sandbox_bwrap_spellings_of_chdir_and_environment)
{
	int fds = test_count_fds();
	parsed *p = PARSE_OK("--chdir", "/srv", "--setenv", "A", "1", "--unsetenv", "B",
			     "--unsetenv", "A", "--setenv", "A", "2", "true");
	ASSERT_STR_EQ(p->cfg.cwd, "/srv");
	ASSERT_STR_EQ(p->cfg.cwd_option, "--chdir");
	ASSERT_EQ(p->cfg.nset, 2);
	ASSERT_STR_EQ(p->cfg.env_set[0], "A=1");
	ASSERT_STR_EQ(p->cfg.env_set[1], "A=2");
	/* The later --setenv A wins over the --unsetenv A before it. */
	ASSERT_EQ(p->cfg.nunset, 1);
	ASSERT_STR_EQ(p->cfg.env_unset[0], "B");
	/* Not sandbox options: nothing else changes. */
	ASSERT(p->o.sandbox == NULL);
	ASSERT_EQ(p->o.env_mode, KIN_ENV_INHERIT);
	parsed_free(p);
	p = PARSE_OK("--chdir", "/a", "--cwd", "/b", "true");
	ASSERT_STR_EQ(p->cfg.cwd, "/b");
	ASSERT_STR_EQ(p->cfg.cwd_option, "--cwd");
	parsed_free(p);
	PARSE_FAILS("kin run: --setenv: \"A=B\" is not a variable name", "--setenv", "A=B", "c",
		    "true");
	PARSE_FAILS("kin run: --setenv: \"\" is not a variable name", "--setenv", "", "c", "true");
	PARSE_FAILS("kin run: --unsetenv: \"A=B\" is not a variable name", "--unsetenv", "A=B",
		    "true");
	PARSE_FAILS("kin run: --chdir: the directory name is empty", "--chdir", "", "true");
	end_clean(fds);
}

TEST(cli_sandbox_help_lists_every_option)
{
	int fds = test_count_fds();
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	ASSERT(f);
	cli_run_usage(f);
	ASSERT(fclose(f) == 0);
	ASSERT(strstr(text, "\nSandbox (spelled as in bubblewrap):\n"));
	/* Each long option is named in the help; the unshare family in one
	 * line, as --unshare-user|pid|net|... */
	for (const struct option *o = long_options; o->name; o++) {
		char want[64];
		const char *name = o->name;
		if (strncmp(name, "unshare-", 8) == 0 && strcmp(name, "unshare-all") != 0 &&
		    strcmp(name, "unshare-user") != 0) {
			snprintf(want, sizeof(want), "|%s", name + 8);
			if (!strstr(text, "--unshare-user|") || !strstr(text, want))
				test_fail(__FILE__, __LINE__, "--%s is not in the help", name);
			continue;
		}
		snprintf(want, sizeof(want), "--%s", name);
		if (!strstr(text, want))
			test_fail(__FILE__, __LINE__, "%s is not in the help", want);
	}
	/* And no line is wider than a terminal. */
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (len > 80)
			test_fail(__FILE__, __LINE__, "help line of %zu columns: %.*s", len,
				  (int)len, line);
		line += len + (nl ? 1 : 0);
	}
	free(text);
	end_clean(fds);
}
