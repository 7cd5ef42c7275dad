/* A libFuzzer-compatible driver for builds without libFuzzer (gcc), so the
 * fuzz targets also run in `make test`: it replays the seed corpus, then
 * feeds mutations of the seeds and random bytes from a fixed-seed PRNG.
 * Usage: fuzz-x ITERATIONS [SEED_FILE...] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng = 0x6b696e2d66757a7aull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? atol(argv[1]) : 100000;
	static uint8_t seeds[64][64];
	size_t seed_len[64], nseeds = 0;
	for (int i = 2; i < argc && nseeds < 64; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f)
			continue;
		seed_len[nseeds] = fread(seeds[nseeds], 1, sizeof(seeds[0]), f);
		fclose(f);
		LLVMFuzzerTestOneInput(seeds[nseeds], seed_len[nseeds]);
		nseeds++;
	}
	/* Bytes that matter to the parsers, so mutations stay interesting. */
	static const char alphabet[] = "0123456789.smSIGTERMKILLHUPRT+-= x\xff";
	uint8_t buf[64];
	for (long it = 0; it < iterations; it++) {
		size_t len;
		if (nseeds && next() % 2) {
			size_t k = next() % nseeds;
			len = seed_len[k];
			memcpy(buf, seeds[k], len);
			for (int m = 0, edits = 1 + (int)(next() % 4); m < edits; m++) {
				size_t at = len ? next() % (len + 1) : 0;
				uint8_t c = (uint8_t)alphabet[next() % (sizeof(alphabet) - 1)];
				if (next() % 3 == 0 && len < sizeof(buf)) { /* insert */
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = c;
					len++;
				} else if (next() % 2 && len) { /* delete */
					at = next() % len;
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				} else if (len) { /* replace */
					buf[next() % len] = c;
				}
			}
		} else {
			len = next() % 24;
			for (size_t i = 0; i < len; i++)
				buf[i] = next() % 4 ? (uint8_t)alphabet[next() % (sizeof(alphabet) - 1)]
						    : (uint8_t)next();
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz: %ld inputs, no crash\n", iterations + (long)nseeds);
	return 0;
}
