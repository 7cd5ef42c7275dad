/* slow_reader_rss: 1 GiB flows from `head -c 1G /dev/zero` to a reader in
 * the owner that naps 1 ms every few reads. kin must hold the child back
 * through the pipe rather than buffer on the reader's behalf, so the
 * owner's memory must stay flat. The figure is the growth of the owner's
 * peak RSS: VmHWM is reset through /proc/self/clear_refs ("5") just before
 * the run, and VmRSS is also sampled during it in case that reset is
 * unavailable.
 *
 * The headline reader is a kin_stream_read loop. The same is then measured
 * through kin_run with a slow output callback, which moves the data through
 * kin's own buffer, and reported on a '#' line. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOTAL ((size_t)1 << 30)
#define READ_SIZE (64 * 1024)
#define PAUSE_EVERY 16 /* reads between 1 ms naps */
#define SAMPLE_EVERY 256
#define LIMIT_MIB 4.0

static const char *const head_argv[] = {"head", "-c", "1073741824", "/dev/zero", NULL};

typedef struct reader {
	char *buf;
	size_t got;
	unsigned long reads, naps;
	long peak_sampled;
} reader;

/* Called after each read: the nap that makes the reader slow, and an RSS
 * sample now and then. */
static void after_read(reader *rd, size_t n)
{
	rd->got += n;
	if (++rd->reads % PAUSE_EVERY == 0) {
		struct timespec ms = {0, 1000 * 1000};
		nanosleep(&ms, NULL);
		rd->naps++;
	}
	if (rd->reads % SAMPLE_EVERY == 0) {
		long now = bench_vm_kib("VmRSS");
		if (now > rd->peak_sampled)
			rd->peak_sampled = now;
	}
}

static int read_with_stream(kin_loop *loop, reader *rd)
{
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = head_argv;
	o.stdio[0].kind = KIN_STDIO_NULL;
	o.stdio[1].kind = KIN_STDIO_PIPE;
	kin_proc *p;
	int r = kin_proc_spawn(loop, &o, &p, NULL);
	if (r < 0)
		return r;
	for (;;) {
		ssize_t n = kin_stream_read(kin_proc_stdout(p), rd->buf, READ_SIZE, KIN_FOREVER);
		if (n == 0)
			break;
		if (n < 0) {
			kin_proc_free(p);
			return (int)n;
		}
		after_read(rd, (size_t)n);
	}
	kin_status st;
	r = kin_proc_wait(p, KIN_FOREVER, &st);
	kin_proc_free(p);
	if (r == 0 && (st.kind != KIN_EXITED || st.code != 0))
		r = -ECHILD;
	return r;
}

static int slow_output(const void *buf, size_t n, void *userdata)
{
	(void)buf;
	after_read(userdata, n);
	return 0;
}

static int read_with_run(kin_loop *loop, reader *rd)
{
	kin_spawn_opts o = KIN_SPAWN_OPTS_INIT;
	o.argv = head_argv;
	kin_run_opts run = KIN_RUN_OPTS_INIT;
	run.out.kind = KIN_IO_CALLBACK;
	run.out.output = slow_output;
	run.out.userdata = rd;
	kin_run_result res;
	int r = kin_run(loop, &o, &run, &res, NULL);
	if (r == 0 && (res.status.kind != KIN_EXITED || res.status.code != 0))
		r = -ECHILD;
	return r;
}

static bool reset_peak(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok;
}

typedef struct rss_figures {
	double growth_mib, secs;
	long base, peak;
	bool hwm_reset;
	reader rd;
} rss_figures;

static int measure(int (*how)(kin_loop *, reader *), char *buf, rss_figures *out)
{
	kin_loop *loop;
	int r = kin_loop_new(&loop);
	if (r < 0)
		return r;
	memset(out, 0, sizeof(*out));
	out->rd.buf = buf;
	out->hwm_reset = reset_peak();
	out->base = bench_vm_kib("VmRSS");
	out->rd.peak_sampled = out->base;
	double t0 = bench_seconds();
	r = how(loop, &out->rd);
	out->secs = bench_seconds() - t0;
	long hwm = bench_vm_kib("VmHWM");
	kin_loop_free(loop);
	if (r == 0 && out->rd.got != TOTAL)
		r = -EPROTO;
	out->peak = out->hwm_reset && hwm > out->rd.peak_sampled ? hwm : out->rd.peak_sampled;
	out->growth_mib = out->peak > out->base ? (double)(out->peak - out->base) / 1024.0 : 0.0;
	return r;
}

void bench_slow_reader_rss(void)
{
	const char *name = "slow_reader_rss";
	char *buf = malloc(READ_SIZE);
	if (!buf) {
		bench_fail(name, "malloc", -ENOMEM);
		return;
	}
	memset(buf, 0, READ_SIZE); /* touched now, so it is not counted as growth */
	rss_figures s, k;
	int r = measure(read_with_stream, buf, &s);
	if (r < 0) {
		bench_fail(name, "reading 1 GiB from head through a kin stream", r);
		goto out;
	}
	bench_result(name, s.growth_mib, LIMIT_MIB, "MiB", s.growth_mib / LIMIT_MIB);
	bench_note("slow_reader_rss: kin_stream_read: %zu MiB in %lu reads of <= %d KiB, %lu naps "
		   "of 1 ms, %.1f s; RSS before %ld KiB, peak %ld KiB (%s); target growth <= %.0f "
		   "MiB: %s",
		   s.rd.got >> 20, s.rd.reads, READ_SIZE >> 10, s.rd.naps, s.secs, s.base, s.peak,
		   s.hwm_reset ? "VmHWM after clear_refs, and sampled VmRSS" : "sampled VmRSS only",
		   LIMIT_MIB, bench_verdict(s.growth_mib <= LIMIT_MIB));
	r = measure(read_with_run, buf, &k);
	if (r < 0) {
		bench_fail(name, "reading 1 GiB from head through kin_run", r);
		goto out;
	}
	bench_note("slow_reader_rss: kin_run with a slow output callback: growth %.3f MiB (RSS %ld -> "
		   "peak %ld KiB), %lu callbacks, %lu naps, %.1f s: %s",
		   k.growth_mib, k.base, k.peak, k.rd.reads, k.rd.naps, k.secs,
		   bench_verdict(k.growth_mib <= LIMIT_MIB));
out:
	free(buf);
}
