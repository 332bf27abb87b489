/* SPDX-License-Identifier: MIT */
/*
 * What every fuzz target shares. A target defines LLVMFuzzerTestOneInput (and, when it needs
 * set-up done once, LLVMFuzzerInitialize); it is linked either with libFuzzer (-Dfuzzer=true,
 * clang: tests/fuzz/run-long) or with replay.c, whose main() runs files and directories (the
 * seed corpus in tests/fuzz/corpus/TARGET/) through it as an ordinary unit test.
 *
 * A target checks what must hold for every input with CHECK: a failed check aborts, which
 * libFuzzer reports as a crash and the replay test as a failure.
 */
#ifndef RC_FUZZ_H
#define RC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
				#cond);                                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A writable copy of data[0..n) in a buffer of exactly n bytes (AddressSanitizer sees a read
 * past the end), for a harness that repairs its input in place. free() it. */
static inline uint8_t *
fuzz_copy(const uint8_t *data, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	CHECK(p != NULL);
	memcpy(p, data, n);
	return p;
}

/* Optional (weak in replay.c): called once before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif /* RC_FUZZ_H */
