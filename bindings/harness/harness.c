/*
 * harness.c — entry point of lk_harness.
 *
 *   lk_harness [--a BACKEND] [--b BACKEND] [--threads-a N] [--threads-b N] [--seed S]
 *              [--filter OP] [--verbose] [--selftest] [--bench [--quick]]
 *
 * Default mode: hand-computed self-tests on both devices, then every op over a table
 * of shapes on device A and device B with the same seeded inputs, each output
 * compared by NMSE with B and with a host double-precision reference, then error
 * paths of the API. Prints one line per case and `harness: N passed, M failed`;
 * exits 1 if anything failed. --bench times the ops on device A instead.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

void harness_fatal(const char* file, int line, const char* what, lk_status st) {
    fprintf(stderr, "harness: fatal: %s:%d: %s returned %s: %s\n", file, line, what,
            lk_status_name(st), lk_last_error());
    exit(2);
}

void harness_report(harness* h, int ok, const char* op, const char* desc, const char* detail) {
    if (ok) h->passed++;
    else h->failed++;
    printf("%s  %-16s %-44s %s\n", ok ? "PASS" : "FAIL", op, desc, detail);
    fflush(stdout);
}

int harness_selected(const harness* h, const char* name) {
    return !h->opt.filter || strstr(name, h->opt.filter) != NULL;
}

/* ---- device memory of the current case ----------------------------------------- */

typedef struct live_buffer { lk_buffer* buf; } live_buffer;
static live_buffer* g_live;
static size_t g_live_count, g_live_cap;

void* dev_alloc(hdev* d, size_t bytes) {
    lk_buffer* b;
    void* p;
    HCHECK(lk_buffer_alloc(d->dev, bytes ? bytes : 1, &b));
    HCHECK(lk_buffer_ptr(b, &p));
    if (g_live_count == g_live_cap) {
        g_live_cap = g_live_cap ? 2 * g_live_cap : 64;
        g_live = realloc(g_live, g_live_cap * sizeof *g_live);
        if (!g_live) harness_fatal(__FILE__, __LINE__, "realloc", LK_ERR_HOST_OUT_OF_MEMORY);
    }
    g_live[g_live_count++].buf = b;
    return p;
}

void* dev_upload(hdev* d, const void* host, size_t bytes) {
    void* p = dev_alloc(d, bytes);
    if (bytes) {
        HCHECK(lk_copy_h2d(d->stream, p, host, bytes));
        HCHECK(lk_stream_synchronize(d->stream));
    }
    return p;
}

void dev_download(hdev* d, void* host, const void* dev_ptr, size_t bytes) {
    HCHECK(lk_copy_d2h(d->stream, host, dev_ptr, bytes));
    HCHECK(lk_stream_synchronize(d->stream));
}

void dev_free_all(void) {
    for (size_t i = 0; i < g_live_count; i++) HCHECK(lk_buffer_free(g_live[i].buf));
    g_live_count = 0;
}

/* ---- options ----------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr,
            "usage: lk_harness [--a BACKEND] [--b BACKEND] [--threads-a N] [--threads-b N]\n"
            "                  [--seed S] [--filter OP] [--verbose] [--selftest]\n"
            "                  [--bench [--quick]]\n"
            "  compares every op of backend A with backend B (default cpu vs cpu) and with a\n"
            "  host reference; --bench times the ops of backend A.\n");
}

static int parse_options(int argc, char** argv, harness_options* o) {
    memset(o, 0, sizeof *o);
    o->backend_a = "cpu";
    o->backend_b = "cpu";
    o->seed = 20240607;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char* next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--a") && next) { o->backend_a = next; i++; }
        else if (!strcmp(a, "--b") && next) { o->backend_b = next; i++; }
        else if (!strcmp(a, "--threads-a") && next) { o->threads_a = atoi(next); i++; }
        else if (!strcmp(a, "--threads-b") && next) { o->threads_b = atoi(next); i++; }
        else if (!strcmp(a, "--seed") && next) { o->seed = strtoull(next, NULL, 0); i++; }
        else if (!strcmp(a, "--filter") && next) { o->filter = next; i++; }
        else if (!strcmp(a, "--verbose")) o->verbose = 1;
        else if (!strcmp(a, "--bench")) o->bench = 1;
        else if (!strcmp(a, "--quick")) o->quick = 1;
        else if (!strcmp(a, "--selftest")) o->selftest_only = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(); exit(0); }
        else { fprintf(stderr, "lk_harness: unknown or incomplete option '%s'\n", a); usage(); return 0; }
    }
    if (o->threads_a < 0 || o->threads_b < 0) {
        fprintf(stderr, "lk_harness: thread counts must be >= 0\n");
        return 0;
    }
    return 1;
}

/* Device memory of a cpu device: enough for the largest case (the bench rotates
 * matrices over a working set as large as its memory-read buffer). */
static size_t cpu_memory_limit(const harness_options* o) {
    if (!o->bench) return (size_t)1 << 30;
    return o->quick ? (size_t)640 << 20 : (size_t)1200 << 20;
}

static void open_device(const harness_options* o, hdev* d, const char* backend, int threads) {
    lk_device_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.threads = threads;
    opt.memory_limit = strcmp(backend, "cpu") == 0 ? cpu_memory_limit(o) : 0;
    d->backend = backend;
    d->threads = threads;
    lk_status st = lk_device_open(backend, &opt, &d->dev);
    if (st != LK_OK) {
        fprintf(stderr, "lk_harness: cannot open backend '%s': %s: %s\n", backend, lk_status_name(st),
                lk_last_error());
        exit(2);
    }
    HCHECK(lk_stream_create(d->dev, &d->stream));
    lk_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    HCHECK(lk_device_get_info(d->dev, &info));
    printf("device %-4s: %s (%s), %.1f GiB, %d compute units\n", backend, info.name, info.backend,
           (double)info.total_memory / (1 << 30), info.multiprocessors);
}

static void close_device(hdev* d) {
    if (!d->dev) return;
    HCHECK(lk_stream_destroy(d->stream));
    HCHECK(lk_device_close(d->dev));
    d->dev = NULL;
}

int main(int argc, char** argv) {
    harness h;
    memset(&h, 0, sizeof h);
    if (!parse_options(argc, argv, &h.opt)) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("lk_harness: ABI %d, seed %llu\n", lk_abi_version(), (unsigned long long)h.opt.seed);

    open_device(&h.opt, &h.a, h.opt.backend_a, h.opt.threads_a);
    if (h.opt.bench) {
        run_bench(&h);
    } else {
        open_device(&h.opt, &h.b, h.opt.backend_b, h.opt.threads_b);
        h.same_backend = strcmp(h.opt.backend_a, h.opt.backend_b) == 0;
        run_selftests(&h);
        if (!h.opt.selftest_only) {
            run_compare_ops(&h);
            run_error_paths(&h);
        }
        close_device(&h.b);
    }
    close_device(&h.a);
    free(g_live);
    printf("harness: %d passed, %d failed\n", h.passed, h.failed);
    return h.failed ? 1 : 0;
}

lk_qmatrix hqmat_upload(hdev* d, const hqmat* m) {
    lk_qmatrix q;
    memset(&q, 0, sizeof q);
    q.struct_size = sizeof q;
    q.bits = m->bits;
    q.group_size = m->gs;
    q.rows = m->rows;
    q.cols = m->cols;
    /* each array in its own device buffer, sized exactly (a 3-bit kernel that reads
     * a 4-byte word for its last 3-byte pack would run past the end) */
    q.codes = dev_upload(d, m->codes, (size_t)(m->rows * m->row_bytes));
    q.scales = dev_upload(d, m->scales, sizeof(uint16_t) * (size_t)(m->rows * m->ngroups));
    q.zeros = dev_upload(d, m->zeros, sizeof(uint16_t) * (size_t)(m->rows * m->ngroups));
    return q;
}
