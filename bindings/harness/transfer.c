/*
 * transfer.c — lk_transfer: host-to-device copies and their overlap with compute,
 * through the public API only, on any backend.
 *
 *   lk_transfer --backend NAME [--bytes N[K|M|G]] [--link-gbps G] [--threads T]
 *               [--reps R] [--compute-m M] [--compute-dim D] [--min-ratio F]
 *
 *  (a) pinned H2D bandwidth alone: median of R timed copies (events on the copy
 *      stream); the data is read back and compared once.
 *  (b) the same copy on a copy stream while a long compute runs on another stream
 *      (a chain of lk_matmul with fp16 weights, sized from a timed unit to last
 *      about 3x the copy). The copy stream waits for an event recorded after the
 *      first compute unit, so the copy starts while compute is running. Passes if
 *      the copy's events lie inside the compute's interval and the copy bandwidth
 *      during compute is >= F x (a), F = --min-ratio, default 0.8 (the goal on a
 *      GPU, whose copy engines do not share anything with the SMs but HBM).
 *  (c) lk_copy_h2d from pinned memory returns to the calling thread long before the
 *      copy finishes: the call must take < 10 % of the time until the copy is done.
 *
 * On the CPU backend the device option link_bytes_per_s emulates a host<->device
 * link (default 2 GB/s here), so the copy has a duration to overlap; the output
 * says so. --link-gbps emulates one on the CUDA backend too (a kernel holds the copy's
 * stream for the copy's emulated time); with an emulated link, (a) must read between
 * 0.5x and 1.02x of it (the real copy's own microseconds come on top). There the copy reserves its time on the link and its worker thread moves
 * the bytes with memcpy, host CPU that a DMA engine would not take; on a host whose
 * cores are all busy (the compute itself takes one) the memcpy competes with the
 * compute: the ctest entry asks for a lower ratio. Exit status 0 if all checks pass, 1 if any fails or the backend cannot
 * be used, 2 on a usage error.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lookahead.h"

typedef struct options {
    const char* backend;
    size_t bytes;
    double link_gbps;   /* 0 = unthrottled (cuda: the real link) */
    int threads;        /* cpu only */
    int reps;
    int64_t compute_m, compute_dim;
    double min_ratio;
} options;

static int failures;

#define CHECK_OK(call)                                                                          \
    do {                                                                                        \
        lk_status st_ = (call);                                                                 \
        if (st_ != LK_OK) {                                                                     \
            fprintf(stderr, "lk_transfer: %s failed: %s: %s\n", #call, lk_status_name(st_),     \
                    lk_last_error());                                                           \
            exit(1);                                                                            \
        }                                                                                       \
    } while (0)

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static float elapsed(lk_event* a, lk_event* b) {
    float ms = 0.0f;
    CHECK_OK(lk_event_elapsed_ms(a, b, &ms));
    return ms;
}

static int cmp_float(const void* a, const void* b) {
    float x = *(const float*)a, y = *(const float*)b;
    return x < y ? -1 : x > y;
}

static void verdict(int ok, const char* what) {
    printf("    -> %s: %s\n", what, ok ? "PASS" : "FAIL");
    if (!ok) failures++;
}

static size_t parse_size(const char* s) {
    char* end;
    double v = strtod(s, &end);
    if (*end == 'K' || *end == 'k') v *= 1024.0;
    else if (*end == 'M' || *end == 'm') v *= 1024.0 * 1024.0;
    else if (*end == 'G' || *end == 'g') v *= 1024.0 * 1024.0 * 1024.0;
    return v > 0 ? (size_t)v : 0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: lk_transfer --backend NAME [--bytes N[K|M|G]] [--link-gbps G] [--threads T]\n"
            "                   [--reps R] [--compute-m M] [--compute-dim D] [--min-ratio F]\n");
}

static int parse(int argc, char** argv, options* o) {
    memset(o, 0, sizeof *o);
    o->link_gbps = -1.0;
    o->threads = -1;
    o->reps = 5;
    o->min_ratio = 0.8;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--backend") && v) { o->backend = v; i++; }
        else if (!strcmp(a, "--bytes") && v) { o->bytes = parse_size(v); i++; }
        else if (!strcmp(a, "--link-gbps") && v) { o->link_gbps = atof(v); i++; }
        else if (!strcmp(a, "--threads") && v) { o->threads = atoi(v); i++; }
        else if (!strcmp(a, "--reps") && v) { o->reps = atoi(v); i++; }
        else if (!strcmp(a, "--compute-m") && v) { o->compute_m = atoll(v); i++; }
        else if (!strcmp(a, "--compute-dim") && v) { o->compute_dim = atoll(v); i++; }
        else if (!strcmp(a, "--min-ratio") && v) { o->min_ratio = atof(v); i++; }
        else { usage(); return 0; }
    }
    if (!o->backend || o->reps < 1 || o->reps > 100 || !(o->min_ratio > 0 && o->min_ratio <= 1)) {
        usage();
        return 0;
    }
    const int cpu = strcmp(o->backend, "cpu") == 0;
    if (!o->bytes) o->bytes = cpu ? (size_t)32 << 20 : (size_t)256 << 20;
    if (o->link_gbps < 0) o->link_gbps = cpu ? 2.0 : 0.0;
    if (o->threads < 0) o->threads = 1; /* cpu: leave a core to the copy worker */
    if (!o->compute_m) o->compute_m = cpu ? 16 : 256;
    if (!o->compute_dim) o->compute_dim = cpu ? 512 : 4096;
    return 1;
}

/* Device buffer filled with small values: uploaded as f32, converted on the device. */
static void* device_values(lk_device* dev, lk_stream* s, lk_dtype dt, int64_t n, lk_buffer** keep,
                           lk_buffer** tmp) {
    lk_host_buffer* hb;
    void* hp;
    CHECK_OK(lk_host_buffer_alloc(dev, (size_t)n * sizeof(float), &hb));
    CHECK_OK(lk_host_buffer_ptr(hb, &hp));
    float* f = hp;
    uint32_t r = 12345u;
    for (int64_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        f[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 0.1f;
    }
    void *d32, *dout;
    CHECK_OK(lk_buffer_alloc(dev, (size_t)n * sizeof(float), tmp));
    CHECK_OK(lk_buffer_ptr(*tmp, &d32));
    CHECK_OK(lk_copy_h2d(s, d32, hp, (size_t)n * sizeof(float)));
    if (dt == LK_F32) {
        *keep = *tmp;
        *tmp = NULL;
        dout = d32;
    } else {
        CHECK_OK(lk_buffer_alloc(dev, (size_t)n * 2, keep));
        CHECK_OK(lk_buffer_ptr(*keep, &dout));
        CHECK_OK(lk_convert(s, LK_F32, d32, dt, dout, n));
    }
    CHECK_OK(lk_stream_synchronize(s));
    CHECK_OK(lk_host_buffer_free(hb));
    return dout;
}

int main(int argc, char** argv) {
    options o;
    if (!parse(argc, argv, &o)) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    const int cpu = strcmp(o.backend, "cpu") == 0;
    const int64_t M = o.compute_m, D = o.compute_dim;

    lk_device_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.link_bytes_per_s = o.link_gbps * 1e9;
    if (cpu) {
        opt.threads = o.threads;
        opt.memory_limit = o.bytes + (size_t)(2 * D * D + 4 * M * D) * sizeof(float) + ((size_t)64 << 20);
    }
    lk_device* dev = NULL;
    lk_status st = lk_device_open(o.backend, &opt, &dev);
    if (st != LK_OK) {
        fprintf(stderr, "lk_transfer: cannot open backend '%s': %s: %s\n", o.backend, lk_status_name(st),
                lk_last_error());
        return 1;
    }
    lk_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(lk_device_get_info(dev, &info));
    printf("lk_transfer: backend %s: %s, %d async copy engine(s)\n", info.backend, info.name,
           info.async_copy_engines);
    if (info.link_bytes_per_s > 0)
        printf("lk_transfer: EMULATED link of %.2f GB/s (device option link_bytes_per_s)\n",
               info.link_bytes_per_s / 1e9);
    printf("lk_transfer: %.1f MiB pinned -> device; compute = lk_matmul f16 W[%lld x %lld], x[%lld x %lld]\n",
           (double)o.bytes / (1 << 20), (long long)D, (long long)D, (long long)M, (long long)D);

    lk_stream *copy_s, *comp_s;
    CHECK_OK(lk_stream_create(dev, &copy_s));
    CHECK_OK(lk_stream_create(dev, &comp_s));
    lk_event *x0, *x1, *c0, *c1, *started;
    CHECK_OK(lk_event_create(dev, &x0));
    CHECK_OK(lk_event_create(dev, &x1));
    CHECK_OK(lk_event_create(dev, &c0));
    CHECK_OK(lk_event_create(dev, &c1));
    CHECK_OK(lk_event_create(dev, &started));

    lk_host_buffer *hsrc, *hback;
    void *src, *back, *dst;
    CHECK_OK(lk_host_buffer_alloc(dev, o.bytes, &hsrc));
    CHECK_OK(lk_host_buffer_ptr(hsrc, &src));
    CHECK_OK(lk_host_buffer_alloc(dev, o.bytes, &hback));
    CHECK_OK(lk_host_buffer_ptr(hback, &back));
    for (size_t i = 0; i < o.bytes / 4; i++) ((uint32_t*)src)[i] = (uint32_t)(i * 2654435761u);
    lk_buffer* dbuf;
    CHECK_OK(lk_buffer_alloc(dev, o.bytes, &dbuf));
    CHECK_OK(lk_buffer_ptr(dbuf, &dst));

    /* compute operands */
    lk_buffer *wb, *wtmp = NULL, *xb, *xtmp = NULL, *yb;
    void* w = device_values(dev, comp_s, LK_F16, D * D, &wb, &wtmp);
    float* x = device_values(dev, comp_s, LK_F32, M * D, &xb, &xtmp);
    void* y;
    CHECK_OK(lk_buffer_alloc(dev, (size_t)(M * D) * sizeof(float), &yb));
    CHECK_OK(lk_buffer_ptr(yb, &y));

    /* ---- (a) ---- */
    float* t = calloc((size_t)o.reps, sizeof(float));
    if (!t) return 1;
    CHECK_OK(lk_copy_h2d(copy_s, dst, src, o.bytes)); /* warm-up */
    CHECK_OK(lk_stream_synchronize(copy_s));
    for (int r = 0; r < o.reps; r++) {
        CHECK_OK(lk_event_record(x0, copy_s));
        CHECK_OK(lk_copy_h2d(copy_s, dst, src, o.bytes));
        CHECK_OK(lk_event_record(x1, copy_s));
        CHECK_OK(lk_stream_synchronize(copy_s));
        t[r] = elapsed(x0, x1);
    }
    qsort(t, (size_t)o.reps, sizeof(float), cmp_float);
    const double alone_ms = t[o.reps / 2];
    const double alone_gbs = (double)o.bytes / (alone_ms * 1e-3) / 1e9;
    CHECK_OK(lk_copy_d2h(copy_s, back, dst, o.bytes));
    CHECK_OK(lk_stream_synchronize(copy_s));
    printf("(a) h2d alone: %.3f ms, %.2f GB/s (median of %d; min %.3f ms, max %.3f ms)\n", alone_ms, alone_gbs,
           o.reps, t[0], t[o.reps - 1]);
    verdict(memcmp(src, back, o.bytes) == 0, "data read back equals the source");
    if (info.link_bytes_per_s > 0) {
        const double link_gbs = info.link_bytes_per_s / 1e9;
        printf("    (emulated link: the ceiling is the configured %.2f GB/s)\n", link_gbs);
        verdict(alone_gbs <= 1.02 * link_gbs && alone_gbs >= 0.5 * link_gbs,
                "the copy takes the emulated link's time (0.5x to 1.02x its bandwidth)");
    }

    /* ---- (b) ---- */
    /* One matmul's time in a stream of them: a lone one also pays for waking the pool (several times as
     * long on the CPU backend), which would make the compute below shorter than the copy it must cover. */
    const int probe = 8;
    CHECK_OK(lk_event_record(c0, comp_s));
    for (int u = 0; u < probe; u++) CHECK_OK(lk_matmul(comp_s, LK_F16, w, x, M, D, D, y));
    CHECK_OK(lk_event_record(c1, comp_s));
    CHECK_OK(lk_stream_synchronize(comp_s));
    double unit_ms = elapsed(c0, c1) / probe;
    if (unit_ms < 1e-3) unit_ms = 1e-3;
    int64_t units = (int64_t)ceil(3.0 * alone_ms / unit_ms) + 2;
    if (units > 200000) units = 200000;
    CHECK_OK(lk_event_record(c0, comp_s));
    CHECK_OK(lk_matmul(comp_s, LK_F16, w, x, M, D, D, y));
    CHECK_OK(lk_event_record(started, comp_s));
    for (int64_t u = 1; u < units; u++) CHECK_OK(lk_matmul(comp_s, LK_F16, w, x, M, D, D, y));
    CHECK_OK(lk_event_record(c1, comp_s));
    CHECK_OK(lk_stream_wait_event(copy_s, started));
    CHECK_OK(lk_event_record(x0, copy_s));
    CHECK_OK(lk_copy_h2d(copy_s, dst, src, o.bytes));
    CHECK_OK(lk_event_record(x1, copy_s));
    CHECK_OK(lk_stream_synchronize(copy_s));
    CHECK_OK(lk_stream_synchronize(comp_s));
    const double comp_ms = elapsed(c0, c1);
    const double cs = elapsed(c0, x0), ce = elapsed(c0, x1);
    const double during_ms = ce - cs;
    const double during_gbs = (double)o.bytes / (during_ms * 1e-3) / 1e9;
    printf("(b) compute: %lld x lk_matmul (%.3f ms each in a stream) took %.3f ms on its stream\n", (long long)units,
           unit_ms, comp_ms);
    printf("    copy ran from %.3f to %.3f ms of the compute interval [0, %.3f]: %.2f GB/s during compute"
           " = %.2f x (a)\n", cs, ce, comp_ms, during_gbs, during_gbs / alone_gbs);
    verdict(cs >= 0.0 && ce <= comp_ms, "copy inside the compute interval (overlap)");
    char what[96];
    snprintf(what, sizeof what, "copy bandwidth during compute >= %.2f x alone", o.min_ratio);
    verdict(during_gbs >= o.min_ratio * alone_gbs, what);

    /* ---- (c) ---- */
    CHECK_OK(lk_stream_synchronize(copy_s));
    const double t0 = now_ms();
    CHECK_OK(lk_copy_h2d(copy_s, dst, src, o.bytes));
    const double t1 = now_ms();
    CHECK_OK(lk_stream_synchronize(copy_s));
    const double t2 = now_ms();
    printf("(c) lk_copy_h2d returned after %.3f ms; the copy was done after %.3f ms\n", t1 - t0, t2 - t0);
    verdict(t1 - t0 < 0.1 * (t2 - t0), "the call returns before 10 % of the copy time");

    free(t);
    CHECK_OK(lk_buffer_free(yb));
    CHECK_OK(lk_buffer_free(xb));
    CHECK_OK(lk_buffer_free(wb));
    if (wtmp) CHECK_OK(lk_buffer_free(wtmp));
    if (xtmp) CHECK_OK(lk_buffer_free(xtmp));
    CHECK_OK(lk_buffer_free(dbuf));
    CHECK_OK(lk_host_buffer_free(hsrc));
    CHECK_OK(lk_host_buffer_free(hback));
    CHECK_OK(lk_event_destroy(x0));
    CHECK_OK(lk_event_destroy(x1));
    CHECK_OK(lk_event_destroy(c0));
    CHECK_OK(lk_event_destroy(c1));
    CHECK_OK(lk_event_destroy(started));
    CHECK_OK(lk_stream_destroy(copy_s));
    CHECK_OK(lk_stream_destroy(comp_s));
    CHECK_OK(lk_device_close(dev));
    printf("lk_transfer: %s\n", failures ? "FAILED" : "all checks passed");
    return failures ? 1 : 0;
}
