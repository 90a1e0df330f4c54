/*
 * qmatvec_layout_test.cu — host-only check of cuda/qmatvec_layout.cuh, the shared-memory
 * layout of the decode matvec's staged x (no GPU needed):
 *   - every x element and every unit sum has its own slot, inside nchunks * kChunkFloats;
 *   - every float4 access the kernel makes (staging stores, x reads, sum reads) is 16-byte aligned;
 *   - the main loop's reads are free of bank conflicts: for each of its LDS.128 (8 for x, 1 for
 *     the sums), the 8 lanes of every quarter-warp phase touch 8 different 4-bank groups.
 * The last check fails for the layout it replaced (chunks 32 floats apart), which the test
 * shows too, so the property it checks is the one that matters.
 * Exit status 0 if all hold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../qmatvec_layout.cuh"

static int failures = 0;

#define CHECK(cond, ...)                                \
    do {                                                \
        if (!(cond)) {                                  \
            fprintf(stderr, "FAIL: " __VA_ARGS__);      \
            fprintf(stderr, "\n");                      \
            failures++;                                 \
        }                                               \
    } while (0)

/* Largest conflict degree of one warp-wide LDS.128 whose lane l reads 16 bytes at float slot slot_of(l). */
static int lds128_conflict(int64_t (*slot_of)(int lane, int i, int64_t base), int i, int64_t base) {
    int worst = 1;
    for (int phase = 0; phase < 4; ++phase) {
        int quads[32] = {0};
        for (int l = 8 * phase; l < 8 * phase + 8; ++l) {
            int64_t slot = slot_of(l, i, base);
            quads[(slot % 32) / 4]++; /* 4 consecutive banks per 16-byte access, aligned */
        }
        for (int q = 0; q < 8; ++q)
            if (quads[q] > worst) worst = quads[q];
    }
    return worst;
}

/* The kernel's reads: lane l owns chunk base + l; x read i in 0..7, i == 8 the unit sums. */
static int64_t layout_read(int lane, int i, int64_t base) {
    const int64_t k = base + lane;
    return i < 8 ? lk_qmv::x_slot(32 * k) + 4 * i : lk_qmv::sums_slot(k);
}

/* The layout before (x in chunks of 32 floats, all sums after them). */
static int64_t old_read(int lane, int i, int64_t base) {
    const int64_t k = base + lane, nchunks = 4096;
    return i < 8 ? 32 * k + 4 * i : 32 * nchunks + 4 * k;
}

int main(void) {
    const int64_t sizes[] = {1, 2, 31, 32, 33, 128, 448, 700};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
        const int64_t nchunks = sizes[s], total = nchunks * lk_qmv::kChunkFloats;
        unsigned char* used = (unsigned char*)calloc((size_t)total, 1);
        for (int64_t i = 0; i < nchunks * 32; ++i) {
            const int64_t slot = lk_qmv::x_slot(i);
            CHECK(slot >= 0 && slot < total, "x %lld -> slot %lld outside [0, %lld)", (long long)i, (long long)slot,
                  (long long)total);
            if (slot >= 0 && slot < total) {
                CHECK(!used[slot], "x %lld shares slot %lld", (long long)i, (long long)slot);
                used[slot] = 1;
            }
            if (i % 4 == 0) CHECK(slot % 4 == 0, "float4 of x at %lld not 16-byte aligned", (long long)i);
        }
        for (int64_t k = 0; k < nchunks; ++k) {
            const int64_t first = lk_qmv::sums_slot(k);
            CHECK(first % 4 == 0, "sums of chunk %lld not 16-byte aligned", (long long)k);
            for (int u = 0; u < 4; ++u) {
                const int64_t slot = first + u;
                CHECK(slot >= 0 && slot < total, "sum %d of chunk %lld outside", u, (long long)k);
                if (slot >= 0 && slot < total) {
                    CHECK(!used[slot], "sum %d of chunk %lld shares slot %lld", u, (long long)k, (long long)slot);
                    used[slot] = 1;
                }
            }
        }
        free(used);
    }

    /* the main loop: lanes read chunks base + lane, base = 32 * step (kUnroll steps apart, any step) */
    int worst_new = 0, worst_old = 0;
    for (int64_t base = 0; base < 32 * 64; base += 32)
        for (int i = 0; i < 9; ++i) {
            int c = lds128_conflict(layout_read, i, base);
            if (c > worst_new) worst_new = c;
            c = lds128_conflict(old_read, i, base);
            if (c > worst_old) worst_old = c;
        }
    CHECK(worst_new == 1, "the x and sum reads have a %d-way bank conflict", worst_new);
    CHECK(worst_old == 8, "the old layout should show its 8-way conflict, got %d-way", worst_old);
    printf("qmatvec layout: slots distinct and aligned; LDS.128 conflict degree %d (the old layout: %d)\n",
           worst_new, worst_old);
    if (failures) {
        printf("qmatvec layout: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
