/* kin-bench: runs every benchmark, or only those named on the command line.
 * A missed target is reported, never turned into a failing exit status;
 * only a benchmark that could not run at all makes the exit status 1. */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool failed;
bool bench_verbose;

static const struct {
	const char *name;
	void (*run)(void);
	const char *what;
} benches[] = {
	{"spawn_true", bench_spawn_true, "spawn+wait of /bin/true per second vs posix_spawn+waitpid"},
	{"stream_cat", bench_stream_cat, "GB/s through cat with kin streams vs a raw poll loop"},
	{"slow_reader_rss", bench_slow_reader_rss, "owner's peak RSS growth behind a slow reader"},
	{"many_children", bench_many_children, "per-child cost at N=10000 vs N=100"},
	{"chan_rtt", bench_chan_rtt, "64 B round trip over a kin_chan vs a raw seqpacket socket"},
	{"chan_oneway", bench_chan_oneway, "64 B messages/s into a child vs raw send()"},
	{"fd_pass", bench_fd_pass, "fds/s, one per message, vs a raw SCM_RIGHTS loop"},
	{"hol_small_msg", bench_hol_small_msg, "64 B round trip beside 100 MiB messages vs idle"},
	{"rpc_call", bench_rpc_call, "64 B kin_call round trip vs a raw ping-pong"},
	{"rpc_pipelined", bench_rpc_pipelined, "calls/s with 128 in flight vs raw one-way sends"},
	{"worker_spawn", bench_worker_spawn, "spawn to first reply vs a raw re-exec handshake"},
	{"zygote_spawn", bench_zygote_spawn, "zygote fork to first reply vs fork + pipe"},
	{"sandbox_spawn", bench_sandbox_spawn, "/bin/true in six namespaces, ro root, vs bwrap"},
};

double bench_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Four significant digits, never in exponent form, so the line stays easy
 * to parse with a plain split on '='. (No libm: the Makefile links none.) */
static void put_number(double v)
{
	if (v != v || v > 1e300 || v < -1e300) {
		printf("nan");
		return;
	}
	double a = v < 0 ? -v : v;
	int decimals = 3;
	if (a >= 1) {
		int digits = 1;
		for (double t = a; t >= 10; t /= 10)
			digits++;
		decimals = digits >= 4 ? 0 : 4 - digits;
	} else if (a > 0) {
		for (double t = a; t < 1 && decimals < 9; t *= 10)
			decimals++;
	}
	printf("%.*f", decimals, v);
}

void bench_result(const char *name, double kin, double baseline, const char *unit, double ratio)
{
	printf("%s kin=", name);
	put_number(kin);
	printf(" baseline=");
	put_number(baseline);
	printf(" unit=%s ratio=", unit);
	put_number(ratio);
	printf("\n");
	fflush(stdout);
}

void bench_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

void bench_fail(const char *name, const char *what, int err)
{
	failed = true;
	bench_note("%s: ERROR: %s: %s", name, what, kin_strerror(err < 0 ? err : -err));
}

const char *bench_verdict(bool pass)
{
	return pass ? "PASS" : "MISS";
}

long bench_vm_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	char line[256];
	size_t len = strlen(field);
	long kib = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			kib = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

static void usage(void)
{
	fprintf(stderr, "usage: kin-bench [NAME...]\nbenchmarks:\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		fprintf(stderr, "  %-16s %s\n", benches[i].name, benches[i].what);
}

int main(int argc, char **argv)
{
	/* A child of the chan benchmarks (bench/chan.c), not a run. */
	if (argc >= 3 && strcmp(argv[1], "--chan-peer") == 0)
		return bench_chan_peer(argc, argv);
	if (argc == 2 && strcmp(argv[1], "--raw-worker") == 0)
		return bench_raw_worker_main();
	/* A worker of the worker benchmarks serves here and never returns. */
	if (kin_main(argc, argv, bench_worker_handlers) < 0)
		return 2;
	const char *v = getenv("KIN_BENCH_VERBOSE");
	bench_verbose = v && *v && strcmp(v, "0") != 0;
	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
			usage();
			return 0;
		}
		bool known = false;
		for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
			known |= strcmp(argv[a], benches[i].name) == 0;
		if (!known) {
			fprintf(stderr, "kin-bench: no benchmark named \"%s\"\n", argv[a]);
			usage();
			return 2;
		}
	}
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
		bool run = argc == 1;
		for (int a = 1; a < argc; a++)
			run |= strcmp(argv[a], benches[i].name) == 0;
		if (run)
			benches[i].run();
	}
	return failed ? 1 : 0;
}
