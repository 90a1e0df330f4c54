/*
 * runtime_test.c — tests of the dispatcher and the CPU backend's runtime: stream
 * order, events across streams, sticky errors, the arena, the emulated link,
 * copy/compute overlap, the thread pool, device_close and argument validation.
 *
 * Built from the library's own sources (not linked to liblookahead.so) so it can
 * drive the runtime's internal entry points: lk_cpu_enqueue with tasks of its own
 * (sleeps, failures) and lk_cpu_parallel_for. With --library PATH it also loads the
 * real liblookahead.so to check how it locates the CUDA backend.
 *
 * Usage: lk_runtime_test [--library path/to/liblookahead.so] [--relaxed-timing]
 * (--relaxed-timing drops the upper time bounds, for runs under valgrind).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu_internal.h"
#include "lookahead.h"

static int failures;
static int checks;
static int relaxed_timing;

#define EXPECT(cond, ...)                                                       \
    do {                                                                        \
        checks++;                                                               \
        if (!(cond)) {                                                          \
            failures++;                                                         \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
        }                                                                       \
    } while (0)

/* Asserts LK_OK; on failure prints the status and message. */
#define OK(expr)                                                                       \
    do {                                                                               \
        lk_status st_ = (expr);                                                        \
        EXPECT(st_ == LK_OK, "%s returned %s: %s", #expr, lk_status_name(st_),         \
               lk_last_error());                                                       \
    } while (0)

/* Asserts a status and that the message contains `part` (and is not empty). */
#define EXPECT_ERROR(expr, status, part)                                                   \
    do {                                                                                   \
        lk_status st_ = (expr);                                                            \
        const char* msg_ = lk_last_error();                                                \
        EXPECT(st_ == (status) && msg_[0] != '\0' && strstr(msg_, (part)) != NULL,         \
               "%s returned %s \"%s\", expected %s containing \"%s\"", #expr,              \
               lk_status_name(st_), msg_, lk_status_name(status), (part));                 \
    } while (0)

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static lk_device* open_cpu(int threads, size_t memory_limit, double link) {
    lk_device_options o = {.struct_size = sizeof o, .threads = threads,
                           .memory_limit = memory_limit, .link_bytes_per_s = link};
    lk_device* d = NULL;
    OK(lk_device_open("cpu", &o, &d));
    return d;
}

/* ---- tasks of this test ---------------------------------------------------------- */

typedef struct {
    int ms;                 /* sleep first                                     */
    atomic_int* flag;       /* then store `value` here (if not NULL)           */
    int value;
    atomic_int* observe;    /* or first copy *observe into *flag               */
} sleep_args;

static lk_status sleep_task(lk_cpu_pool* pool, void* p) {
    sleep_args* a = p;
    if (a->ms) sleep_ms(a->ms);
    if (a->flag) atomic_store(a->flag, a->observe ? atomic_load(a->observe) : a->value);
    return LK_OK;
}

static lk_status enqueue_sleep(lk_stream* s, int ms, atomic_int* flag, int value) {
    sleep_args a = {ms, flag, value, NULL};
    return lk_cpu_enqueue(s, sleep_task, &a, sizeof a);
}

/* Copies *observe into *flag when it runs. */
static lk_status enqueue_observe(lk_stream* s, atomic_int* observe, atomic_int* into) {
    sleep_args a = {0, into, 0, observe};
    return lk_cpu_enqueue(s, sleep_task, &a, sizeof a);
}

typedef struct {
    int* log;
    int* count;
    int i;
} order_args;

static lk_status order_task(lk_cpu_pool* pool, void* p) {
    order_args* a = p;
    a->log[(*a->count)++] = a->i;
    return LK_OK;
}

typedef struct {
    lk_status status;
    int with_message;
} fail_args;

static lk_status fail_task(lk_cpu_pool* pool, void* p) {
    fail_args* a = p;
    if (a->with_message) return lk_cpu_services()->set_error(a->status, "test task: boom %d", 42);
    return a->status;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_core(void) {
    EXPECT(lk_abi_version() == LK_ABI_VERSION, "abi %d", lk_abi_version());
    for (int s = LK_OK; s <= LK_ERR_INTERNAL; s++)
        EXPECT(strncmp(lk_status_name((lk_status)s), "LK_", 3) == 0 &&
                   strcmp(lk_status_name((lk_status)s), "LK_ERR_UNKNOWN_STATUS") != 0,
               "status %d", s);
    EXPECT(strcmp(lk_status_name(LK_ERR_OUT_OF_MEMORY), "LK_ERR_OUT_OF_MEMORY") == 0, "name");
    EXPECT(lk_status_name((lk_status)99) != NULL, "unknown status");
    EXPECT(lk_last_error() != NULL, "last error");
}

static void test_device_info(void) {
    lk_device* d = open_cpu(3, 64 << 20, 2.5e9);
    lk_device_info info = {.struct_size = sizeof info};
    OK(lk_device_get_info(d, &info));
    EXPECT(strcmp(info.backend, "cpu") == 0, "backend %s", info.backend);
    EXPECT(strcmp(info.name, "cpu (3 threads) [emulated link 2.5 GB/s]") == 0, "name %s", info.name);
    EXPECT(info.total_memory == 64 << 20 && info.free_memory == 64 << 20, "memory %zu %zu",
           info.total_memory, info.free_memory);
    EXPECT(info.multiprocessors == 3 && info.async_copy_engines == 1 && info.cc_major == 0 &&
               info.cc_minor == 0 && info.link_bytes_per_s == 2.5e9,
           "fields");
    OK(lk_device_close(d));

    /* Defaults: all online cores, half of physical RAM, no throttle. */
    lk_device* dd = NULL;
    OK(lk_device_open("cpu", NULL, &dd));
    OK(lk_device_get_info(dd, &info));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t half = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE) / 2;
    EXPECT(info.multiprocessors == cores, "threads %d vs %ld", info.multiprocessors, cores);
    EXPECT(info.total_memory == half, "capacity %zu vs %zu", info.total_memory, half);
    EXPECT(info.link_bytes_per_s == 0 && strstr(info.name, "emulated") == NULL, "name %s", info.name);
    OK(lk_device_close(dd));
}

static void test_in_order(void) {
    lk_device* d = open_cpu(2, 0, 0);
    lk_stream* s;
    OK(lk_stream_create(d, &s));
    enum { N = 2000 };
    int* log = calloc(N, sizeof(int));
    int count = 0;
    for (int i = 0; i < N; i++) {
        order_args a = {log, &count, i};
        if (i % 500 == 0) OK(enqueue_sleep(s, 2, NULL, 0)); /* let the queue build up */
        OK(lk_cpu_enqueue(s, order_task, &a, sizeof a));
    }
    OK(lk_stream_synchronize(s));
    int in_order = count == N;
    for (int i = 0; i < N && in_order; i++) in_order = log[i] == i;
    EXPECT(in_order, "tasks ran out of order (count %d)", count);
    free(log);

    /* Copies keep their order too: h2d, d2d, memset part, d2h. */
    enum { BYTES = 3 << 20 };
    lk_buffer *b1, *b2;
    lk_host_buffer *h1, *h2;
    OK(lk_buffer_alloc(d, BYTES, &b1));
    OK(lk_buffer_alloc(d, BYTES, &b2));
    OK(lk_host_buffer_alloc(d, BYTES, &h1));
    OK(lk_host_buffer_alloc(d, BYTES, &h2));
    unsigned char *p1, *p2, *q1, *q2;
    OK(lk_buffer_ptr(b1, (void**)&p1));
    OK(lk_buffer_ptr(b2, (void**)&p2));
    OK(lk_host_buffer_ptr(h1, (void**)&q1));
    OK(lk_host_buffer_ptr(h2, (void**)&q2));
    EXPECT(((uintptr_t)p1 % 256) == 0 && ((uintptr_t)p2 % 256) == 0, "device alignment");
    EXPECT(((uintptr_t)q1 % 4096) == 0 && ((uintptr_t)q2 % 4096) == 0, "host alignment");
    for (int i = 0; i < BYTES; i++) q1[i] = (unsigned char)(i * 7 + 3);
    memset(q2, 0, BYTES);
    OK(enqueue_sleep(s, 20, NULL, 0)); /* the copies must wait for it */
    OK(lk_copy_h2d(s, p1, q1, BYTES));
    OK(lk_copy_d2d(s, p2, p1, BYTES));
    OK(lk_memset(s, p2 + 1000, 0xAB, 5000));
    OK(lk_copy_d2h(s, q2, p2, BYTES));
    EXPECT(q2[0] == 0 && q2[BYTES - 1] == 0, "copy ran before synchronize");
    OK(lk_stream_synchronize(s));
    int same = 1;
    for (int i = 0; i < BYTES && same; i++) {
        unsigned char want = (i >= 1000 && i < 6000) ? 0xAB : (unsigned char)(i * 7 + 3);
        same = q2[i] == want;
        if (!same) fprintf(stderr, "  byte %d: %d vs %d\n", i, q2[i], want);
    }
    EXPECT(same, "copy chain produced wrong bytes");
    OK(lk_buffer_free(b1));
    OK(lk_buffer_free(b2));
    OK(lk_host_buffer_free(h1));
    OK(lk_host_buffer_free(h2));
    OK(lk_stream_destroy(s));
    OK(lk_device_close(d));
}

/* lk_fill_u32 sets words in stream order, and is device work: it does not wait for the emulated
 * link, where a host-to-device copy (however small) waits behind the copies other streams have
 * in flight, as a small copy can behind an expert copy on a GPU's copy engine. */
static void test_fill(void) {
    lk_device* d = open_cpu(1, 0, 1e8); /* a 0.1 GB/s link */
    lk_stream *a, *b;
    OK(lk_stream_create(d, &a));
    OK(lk_stream_create(d, &b));
    const size_t big = (size_t)64 << 20; /* 670 ms on the link */
    lk_buffer *bb, *sb;
    lk_host_buffer* hb;
    OK(lk_buffer_alloc(d, big, &bb));
    OK(lk_buffer_alloc(d, 4096, &sb));
    OK(lk_host_buffer_alloc(d, big, &hb));
    void *dbig, *hbig;
    uint32_t* words;
    OK(lk_buffer_ptr(bb, &dbig));
    OK(lk_buffer_ptr(sb, (void**)&words));
    OK(lk_host_buffer_ptr(hb, &hbig));

    OK(lk_memset(b, words, 0, 4096));
    OK(lk_stream_synchronize(b));
    OK(enqueue_sleep(b, 20, NULL, 0)); /* the fill must wait for it */
    OK(lk_fill_u32(b, words + 1, 0xDEADBEEFu, 1000));
    EXPECT(words[1] == 0, "fill ran before the work enqueued before it");
    OK(lk_stream_synchronize(b));
    int right = words[0] == 0 && words[1001] == 0;
    for (int i = 1; i <= 1000 && right; i++) right = words[i] == 0xDEADBEEFu;
    EXPECT(right, "fill wrote the wrong words (first %08x, last %08x, after %08x)", words[1], words[1000],
           words[1001]);

    lk_event* copied;
    OK(lk_event_create(d, &copied));
    OK(lk_copy_h2d(a, dbig, hbig, big));
    OK(lk_event_record(copied, a));
    OK(lk_fill_u32(b, words, 7, 1));
    OK(lk_stream_synchronize(b));
    EXPECT(words[0] == 7, "fill beside a copy: %u", words[0]);
    EXPECT(relaxed_timing || lk_event_query(copied) == LK_ERR_NOT_READY,
           "the fill waited for the 670 ms copy on the other stream");
    OK(lk_event_synchronize(copied));

    OK(lk_event_destroy(copied));
    OK(lk_buffer_free(bb));
    OK(lk_buffer_free(sb));
    OK(lk_host_buffer_free(hb));
    OK(lk_stream_destroy(a));
    OK(lk_stream_destroy(b));
    OK(lk_device_close(d));
}

static void test_events(void) {
    lk_device* d = open_cpu(2, 0, 0);
    lk_stream *a, *b, *c;
    lk_event *ev, *never, *e2;
    OK(lk_stream_create(d, &a));
    OK(lk_stream_create(d, &b));
    OK(lk_stream_create(d, &c));
    OK(lk_event_create(d, &ev));
    OK(lk_event_create(d, &never));
    OK(lk_event_create(d, &e2));

    /* A never-recorded event is complete; waiting on it is a no-op. */
    OK(lk_event_query(never));
    OK(lk_event_synchronize(never));
    OK(lk_stream_wait_event(b, never));
    float ms = -1;
    EXPECT_ERROR(lk_event_elapsed_ms(never, never, &ms), LK_ERR_INVALID_ARGUMENT, "never recorded");

    /* b waits for a's slow task through the event. */
    atomic_int done_a = 0, seen_by_b = -1;
    OK(enqueue_sleep(a, 300, &done_a, 1)); /* long enough to check "pending" on a busy machine */
    OK(lk_event_record(ev, a));
    EXPECT_ERROR(lk_event_query(ev), LK_ERR_NOT_READY, "pending");
    EXPECT_ERROR(lk_event_elapsed_ms(ev, ev, &ms), LK_ERR_NOT_READY, "not completed");
    OK(lk_stream_wait_event(b, ev));
    OK(enqueue_observe(b, &done_a, &seen_by_b));

    /* Re-recording (CUDA semantics): the event now means "b's work so far"... */
    OK(lk_event_record(ev, c)); /* c is idle: completes at once */
    OK(lk_event_synchronize(ev));
    OK(lk_event_query(ev));
    EXPECT(atomic_load(&done_a) == 0, "a's sleep cannot be over yet");
    /* ...while b's wait still refers to the record it captured on a. */
    OK(lk_stream_synchronize(b));
    EXPECT(atomic_load(&seen_by_b) == 1, "b ran before a's recorded work was done (saw %d)",
           atomic_load(&seen_by_b));

    /* Timestamps: e2 after a 50 ms task. */
    OK(lk_event_record(ev, a));
    OK(enqueue_sleep(a, 50, NULL, 0));
    OK(lk_event_record(e2, a));
    OK(lk_event_synchronize(e2));
    OK(lk_event_elapsed_ms(ev, e2, &ms));
    EXPECT(ms >= 49 && (relaxed_timing || ms < 500), "elapsed %.3f ms for a 50 ms task", ms);
    OK(lk_event_elapsed_ms(e2, ev, &ms));
    EXPECT(ms <= -49, "reverse elapsed %.3f", ms);

    /* Recorded on an idle stream, an event completes at once, stamped when it was recorded: 20 ms of host
     * time apart, two such records are 20 ms apart. */
    OK(lk_stream_synchronize(c));
    OK(lk_event_record(ev, c));
    OK(lk_event_query(ev));
    sleep_ms(20);
    OK(lk_event_record(e2, c));
    OK(lk_event_query(e2));
    OK(lk_event_elapsed_ms(ev, e2, &ms));
    EXPECT(ms >= 19.9 && (relaxed_timing || ms < 200), "elapsed %.3f ms between records 20 ms apart", ms);

    /* Destroying an event with a record still pending is allowed. */
    lk_event* tmp;
    OK(lk_event_create(d, &tmp));
    OK(enqueue_sleep(a, 30, NULL, 0));
    OK(lk_event_record(tmp, a));
    OK(lk_stream_wait_event(c, tmp));
    OK(lk_event_destroy(tmp));
    OK(lk_stream_synchronize(c));

    OK(lk_event_destroy(ev));
    OK(lk_event_destroy(never));
    OK(lk_event_destroy(e2));
    OK(lk_stream_destroy(a));
    OK(lk_stream_destroy(b));
    OK(lk_stream_destroy(c));
    OK(lk_device_close(d));
}

static void test_sticky_error(void) {
    lk_device* d = open_cpu(2, 0, 0);
    lk_stream *s, *t;
    lk_event* ev;
    OK(lk_stream_create(d, &s));
    OK(lk_stream_create(d, &t));
    OK(lk_event_create(d, &ev));
    atomic_int before = 0, after = 0, on_t = 0;
    fail_args f = {LK_ERR_DEVICE, 1};
    OK(enqueue_sleep(s, 10, &before, 1));
    OK(lk_cpu_enqueue(s, fail_task, &f, sizeof f)); /* enqueue itself succeeds */
    OK(enqueue_sleep(s, 0, &after, 1));
    OK(lk_event_record(ev, s));
    OK(lk_stream_wait_event(t, ev));
    OK(enqueue_sleep(t, 0, &on_t, 1));

    EXPECT_ERROR(lk_event_synchronize(ev), LK_ERR_DEVICE, "boom 42");
    EXPECT_ERROR(lk_event_query(ev), LK_ERR_DEVICE, "boom 42");
    /* The stream that waited on the failed work fails too. */
    EXPECT_ERROR(lk_stream_synchronize(t), LK_ERR_DEVICE, "boom 42");
    EXPECT(atomic_load(&on_t) == 0, "work after a failed wait ran");
    OK(lk_stream_synchronize(t));

    EXPECT_ERROR(lk_stream_synchronize(s), LK_ERR_DEVICE, "test task: boom 42");
    EXPECT(atomic_load(&before) == 1 && atomic_load(&after) == 0, "before %d after %d",
           atomic_load(&before), atomic_load(&after));
    /* Reported once, then cleared: the stream works again. */
    OK(lk_stream_synchronize(s));
    OK(enqueue_sleep(s, 0, &after, 1));
    OK(lk_stream_synchronize(s));
    EXPECT(atomic_load(&after) == 1, "the stream did not recover");
    OK(lk_event_record(ev, s));
    OK(lk_event_synchronize(ev));

    /* An event recorded once the failed stream has gone idle reports its error too (recorded without waking
     * the stream's thread: the error is still the stream's until a synchronize reports it). */
    OK(lk_cpu_enqueue(s, fail_task, &f, sizeof f));
    sleep_ms(50); /* s's thread runs the task and sleeps with the failure behind it */
    OK(lk_event_record(ev, s));
    EXPECT_ERROR(lk_event_query(ev), LK_ERR_DEVICE, "boom 42");
    EXPECT_ERROR(lk_stream_synchronize(s), LK_ERR_DEVICE, "test task: boom 42");
    OK(lk_event_record(ev, s));
    OK(lk_event_query(ev));

    /* A task that fails without a message still yields one. */
    fail_args g = {LK_ERR_INTERNAL, 0};
    OK(lk_cpu_enqueue(s, fail_task, &g, sizeof g));
    EXPECT_ERROR(lk_stream_synchronize(s), LK_ERR_INTERNAL, "LK_ERR_INTERNAL");

    /* A pending error is not lost by destroying the stream. */
    OK(lk_cpu_enqueue(s, fail_task, &f, sizeof f));
    EXPECT_ERROR(lk_stream_destroy(s), LK_ERR_DEVICE, "boom 42");
    OK(lk_event_destroy(ev));
    OK(lk_stream_destroy(t));
    OK(lk_device_close(d));
}

static void test_memory(void) {
    lk_device* d = open_cpu(1, 20 << 20, 0);
    lk_device_info info = {.struct_size = sizeof info};
    lk_buffer *big, *small, *rest, *none = NULL;
    OK(lk_buffer_alloc(d, 18 << 20, &big));
    EXPECT_ERROR(lk_buffer_alloc(d, 15 << 20, &none), LK_ERR_OUT_OF_MEMORY,
                 "lk_buffer_alloc: 15.0 MiB requested, 2.0 MiB free of 20.0 MiB");
    EXPECT(none == NULL, "out set on failure");
    OK(lk_buffer_alloc(d, 300, &small)); /* charged as 512 bytes: 256-byte blocks */
    OK(lk_device_get_info(d, &info));
    EXPECT(info.free_memory == (2u << 20) - 512, "free %zu", info.free_memory);
    OK(lk_buffer_alloc(d, (2u << 20) - 512, &rest)); /* exactly the rest */
    OK(lk_device_get_info(d, &info));
    EXPECT(info.free_memory == 0, "free %zu", info.free_memory);
    EXPECT_ERROR(lk_buffer_alloc(d, 1, &none), LK_ERR_OUT_OF_MEMORY, "0.0 MiB free of 20.0 MiB");
    OK(lk_buffer_free(big));
    OK(lk_buffer_free(rest));
    OK(lk_buffer_free(small));
    OK(lk_device_get_info(d, &info));
    EXPECT(info.free_memory == 20u << 20, "free %zu after freeing all", info.free_memory);

    /* Host memory is not charged to the arena. */
    lk_host_buffer* h;
    OK(lk_host_buffer_alloc(d, 30 << 20, &h));
    OK(lk_device_get_info(d, &info));
    EXPECT(info.free_memory == 20u << 20, "host buffer charged to the arena");
    OK(lk_host_buffer_free(h));
    /* A request beyond what the host can back. */
    lk_host_buffer* hx = NULL;
    EXPECT_ERROR(lk_host_buffer_alloc(d, (size_t)1 << 62, &hx), LK_ERR_HOST_OUT_OF_MEMORY,
                 "lk_host_buffer_alloc");
    OK(lk_device_close(d));

    /* GiB formatting as in the documentation: nothing is touched, so 1.8 GiB of
     * virtual memory is cheap. */
    lk_device* g = open_cpu(1, (size_t)2 << 30, 0);
    lk_buffer* x;
    OK(lk_buffer_alloc(g, (size_t)(1.8 * (1 << 30)), &x));
    EXPECT_ERROR(lk_buffer_alloc(g, (size_t)3 << 29, &none), LK_ERR_OUT_OF_MEMORY,
                 "lk_buffer_alloc: 1.5 GiB requested, 0.2 GiB free of 2.0 GiB");
    OK(lk_device_close(g)); /* frees x */
}

/* A device buffer of `device_bytes` and a pinned host buffer of `host_bytes` filled
 * with `fill`, for copies between them; the device frees both when it closes. */
static void copy_buffers(lk_device* d, size_t device_bytes, size_t host_bytes, int fill, void** dp,
                         void** hp) {
    lk_buffer* b;
    lk_host_buffer* h;
    OK(lk_buffer_alloc(d, device_bytes, &b));
    OK(lk_host_buffer_alloc(d, host_bytes, &h));
    OK(lk_buffer_ptr(b, dp));
    OK(lk_host_buffer_ptr(h, hp));
    memset(*hp, fill, host_bytes);
}

/* Times one copy between two events on a fresh stream; returns ms. */
static float timed_copy(lk_device* d, int h2d, void* dst, const void* src, size_t bytes) {
    lk_stream* s;
    lk_event *e0, *e1;
    OK(lk_stream_create(d, &s));
    OK(lk_event_create(d, &e0));
    OK(lk_event_create(d, &e1));
    OK(lk_event_record(e0, s));
    if (h2d == 1) OK(lk_copy_h2d(s, dst, src, bytes));
    else if (h2d == 0) OK(lk_copy_d2h(s, dst, src, bytes));
    else OK(lk_copy_d2d(s, dst, src, bytes));
    OK(lk_event_record(e1, s));
    OK(lk_stream_synchronize(s));
    float ms = -1;
    OK(lk_event_elapsed_ms(e0, e1, &ms));
    OK(lk_event_destroy(e0));
    OK(lk_event_destroy(e1));
    OK(lk_stream_destroy(s));
    return ms;
}

static void test_throttle(void) {
    const size_t bytes = (size_t)64 << 20;
    const double expect_ms = bytes / 1e9 * 1e3; /* 67.1 ms at 1 GB/s */
    lk_device* d = open_cpu(2, 0, 1e9);
    lk_buffer* b;
    void *dp, *hp;
    copy_buffers(d, bytes, bytes, 0x5A, &dp, &hp);
    lk_stream* toucher;
    OK(lk_stream_create(d, &toucher));
    OK(lk_memset(toucher, dp, 0, bytes)); /* fault the pages in outside the timing */
    OK(lk_stream_destroy(toucher));
    /* Never faster than the link; not much slower on the best of three runs (the
     * build machine is shared, a single run can be descheduled for long). */
    float up = 1e9f;
    int too_fast = 0;
    for (int run = 0; run < 3 && (run == 0 || up >= 3 * expect_ms); run++) {
        float u = timed_copy(d, 1, dp, hp, bytes);
        printf("  emulated link 1 GB/s: 64 MiB h2d %.1f ms (ideal %.1f)\n", u, expect_ms);
        too_fast += u < 0.95 * expect_ms;
        up = u < up ? u : up;
    }
    EXPECT(too_fast == 0, "a copy beat the emulated link");
    EXPECT(relaxed_timing || up < 3 * expect_ms, "best h2d %.1f ms", up);
    EXPECT(((unsigned char*)dp)[bytes - 1] == 0x5A, "copied data");

    /* Two h2d copies on two streams share the link: together they take 2x. */
    lk_buffer* b2;
    void* dp2;
    OK(lk_buffer_alloc(d, bytes, &b2));
    OK(lk_buffer_ptr(b2, &dp2));
    lk_stream *s1, *s2;
    OK(lk_stream_create(d, &s1));
    OK(lk_stream_create(d, &s2));
    double t0 = now_ms();
    OK(lk_copy_h2d(s1, dp, hp, bytes));
    OK(lk_copy_h2d(s2, dp2, hp, bytes));
    OK(lk_stream_synchronize(s1));
    OK(lk_stream_synchronize(s2));
    double both = now_ms() - t0;
    printf("  two concurrent 64 MiB h2d copies: %.1f ms\n", both);
    EXPECT(both >= 1.9 * expect_ms, "concurrent h2d copies took %.1f ms", both);
    OK(lk_stream_destroy(s1));
    OK(lk_stream_destroy(s2));

    OK(lk_device_close(d));

    /* d2d is device-internal and d2h a read-back: neither is throttled (the link's
     * bandwidth is scaled for expert copies, and would make a read-back of the
     * logits take a layer's compute). A slow link (0.1 GB/s) makes the difference
     * clear even on a busy machine. */
    lk_device* slow = open_cpu(1, 0, 1e8);
    const size_t small = (size_t)16 << 20;
    const double slow_ms = small / 1e8 * 1e3; /* 168 ms */
    OK(lk_buffer_alloc(slow, small, &b));
    OK(lk_buffer_alloc(slow, small, &b2));
    OK(lk_buffer_ptr(b, &dp));
    OK(lk_buffer_ptr(b2, &dp2));
    lk_stream* s;
    OK(lk_stream_create(slow, &s));
    OK(lk_memset(s, dp, 7, small));
    OK(lk_stream_synchronize(s));
    float d2d = timed_copy(slow, 2, dp2, dp, small);
    printf("  16 MiB d2d on a 0.1 GB/s link: %.1f ms (throttled would be %.0f)\n", d2d, slow_ms);
    EXPECT(relaxed_timing || d2d < 0.5 * slow_ms, "d2d %.1f ms looks throttled", d2d);
    EXPECT(((unsigned char*)dp2)[small - 1] == 7, "d2d data");
    lk_host_buffer* back;
    void* bp;
    OK(lk_host_buffer_alloc(slow, small, &back));
    OK(lk_host_buffer_ptr(back, &bp));
    float d2h = timed_copy(slow, 0, bp, dp, small);
    printf("  16 MiB d2h on a 0.1 GB/s link: %.1f ms (throttled would be %.0f)\n", d2h, slow_ms);
    EXPECT(relaxed_timing || d2h < 0.5 * slow_ms, "d2h %.1f ms looks throttled", d2h);
    EXPECT(((unsigned char*)bp)[small - 1] == 7, "d2h data");
    OK(lk_device_close(slow));
}

/* Copies queued back to back on one stream run back to back on the emulated link,
 * like a DMA engine: the second starts when the first finished on the link, not
 * when the stream's thread got to it. The events after each are stamped on that
 * clock, so they lie exactly one copy apart (an event stamped when the thread ran
 * would add its scheduling delay, several microseconds at least). */
static void test_back_to_back(void) {
    const size_t bytes = (size_t)1 << 20;
    const double link = 1e9;
    lk_device* d = open_cpu(1, 0, link);
    void *dp, *hp;
    copy_buffers(d, 2 * bytes, bytes, 0x3C, &dp, &hp);
    lk_stream* s;
    lk_event *first, *second;
    OK(lk_stream_create(d, &s));
    OK(lk_event_create(d, &first));
    OK(lk_event_create(d, &second));
    const double copy_ms = (double)(int64_t)(bytes * 1e9 / link) / 1e6;
    float worst = 0;
    for (int run = 0; run < 5; run++) {
        OK(lk_copy_h2d(s, dp, hp, bytes));
        OK(lk_event_record(first, s));
        OK(lk_copy_h2d(s, (char*)dp + bytes, hp, bytes));
        OK(lk_event_record(second, s));
        OK(lk_stream_synchronize(s));
        float ms;
        OK(lk_event_elapsed_ms(first, second, &ms));
        float off = fabsf(ms - (float)copy_ms);
        worst = off > worst ? off : worst;
    }
    printf("  1 MiB after 1 MiB at 1 GB/s: events %.4f ms apart at worst off the copy's %.4f ms\n",
           worst, copy_ms);
    EXPECT(worst < 1e-3, "back-to-back copies' events %.4f ms off one copy (%.4f ms)", worst, copy_ms);
    EXPECT(((unsigned char*)dp)[2 * bytes - 1] == 0x3C, "copied data");
    OK(lk_event_destroy(first));
    OK(lk_event_destroy(second));
    OK(lk_stream_destroy(s));
    OK(lk_device_close(d));
}

/* An emulated copy moves its bytes at once and its stream's thread goes on; the
 * copy is done on the device's clock only when its reservation on the link ends.
 * Until then the event after it is pending, a stream that waits for it does not
 * start its next task, and a synchronize returns no earlier. */
static void test_device_clock(void) {
    const size_t bytes = (size_t)2 << 20;
    const double link = 1e8; /* 21 ms */
    const double copy_ms = bytes / link * 1e3;
    lk_device* d = open_cpu(1, 0, link);
    void *dp, *hp;
    copy_buffers(d, bytes, bytes, 0x42, &dp, &hp);
    lk_stream *copy, *compute;
    lk_event *start, *copied, *after;
    OK(lk_stream_create(d, &copy));
    OK(lk_stream_create(d, &compute));
    OK(lk_event_create(d, &start));
    OK(lk_event_create(d, &copied));
    OK(lk_event_create(d, &after));
    OK(lk_event_record(start, copy));
    double t0 = now_ms();
    OK(lk_copy_h2d(copy, dp, hp, bytes));
    OK(lk_event_record(copied, copy));
    OK(lk_stream_wait_event(compute, copied));
    OK(enqueue_sleep(compute, 1, NULL, 0));
    OK(lk_event_record(after, compute));
    sleep_ms(2); /* the copy stream's thread has moved the bytes by now */
    int pending = lk_event_query(copied) == LK_ERR_NOT_READY;
    double queried_at = now_ms() - t0;
    EXPECT(relaxed_timing || queried_at >= copy_ms || pending,
           "the copy's event completed %.1f ms into a %.1f ms copy", queried_at, copy_ms);
    OK(lk_event_synchronize(copied));
    double synced_at = now_ms() - t0;
    EXPECT(synced_at >= 0.99 * copy_ms, "lk_event_synchronize returned %.2f ms into a %.2f ms copy",
           synced_at, copy_ms);
    OK(lk_stream_synchronize(compute));
    float copy_elapsed, task_after;
    OK(lk_event_elapsed_ms(start, copied, &copy_elapsed));
    OK(lk_event_elapsed_ms(copied, after, &task_after));
    printf("  %.1f ms copy: pending at %.1f ms (%s), synchronize at %.1f ms, elapsed %.2f ms; the waiting "
           "stream's task ended %.2f ms after it\n", copy_ms, queried_at, pending ? "yes" : "no",
           synced_at, copy_elapsed, task_after);
    EXPECT(fabsf(copy_elapsed - (float)copy_ms) < 0.01f, "copy's events %.3f ms apart, the link says %.3f",
           copy_elapsed, copy_ms);
    EXPECT(task_after >= 0.99f, "the waiting stream's 1 ms task ended %.3f ms after the copy", task_after);
    EXPECT(((unsigned char*)dp)[bytes - 1] == 0x42, "copied data");
    OK(lk_device_close(d));
}

static void test_overlap(void) {
    /* ~67 ms at 1 GB/s: long enough that the compute stream's worker, even when a
     * busy machine wakes it tens of ms late, starts its task before the copy ends */
    const size_t bytes = (size_t)64 << 20;
    lk_device* d = open_cpu(2, 0, 1e9);
    lk_stream *compute, *copy;
    lk_event *c0, *c1, *k0, *k1;
    OK(lk_stream_create(d, &compute));
    OK(lk_stream_create(d, &copy));
    OK(lk_event_create(d, &c0));
    OK(lk_event_create(d, &c1));
    OK(lk_event_create(d, &k0));
    OK(lk_event_create(d, &k1));
    void *dp, *hp;
    copy_buffers(d, bytes, bytes, 1, &dp, &hp);

    OK(lk_event_record(c0, compute));
    OK(enqueue_sleep(compute, 200, NULL, 0));
    OK(lk_event_record(c1, compute));
    OK(lk_event_record(k0, copy));
    OK(lk_copy_h2d(copy, dp, hp, bytes));
    OK(lk_event_record(k1, copy));
    OK(lk_event_synchronize(c1));
    OK(lk_event_synchronize(k1));
    /* The copy [k0, k1] overlaps the task [c0, c1] when c0 < k1 and k1 < c1: it
     * finished while the 200 ms task was still running. */
    float copy_ms, task_ms, k1_after_c0, k1_before_c1;
    OK(lk_event_elapsed_ms(k0, k1, &copy_ms));
    OK(lk_event_elapsed_ms(c0, c1, &task_ms));
    OK(lk_event_elapsed_ms(c0, k1, &k1_after_c0));
    OK(lk_event_elapsed_ms(k1, c1, &k1_before_c1));
    printf("  overlap: a %.1f ms copy ended %.1f ms into a %.1f ms task\n", copy_ms, k1_after_c0,
           task_ms);
    EXPECT(copy_ms >= 64 && task_ms >= 199 && k1_after_c0 > 0 && k1_before_c1 > 0,
           "copy of %.1f ms ended %.1f ms after the task's start, %.1f ms before its end",
           copy_ms, k1_after_c0, k1_before_c1);
    OK(lk_device_close(d)); /* frees the streams, events and buffers */
}

/* ---- thread pool ----------------------------------------------------------------- */

typedef struct {
    atomic_int* hits;
    int64_t n, grain;
    atomic_int bad_chunks;
    atomic_int chunks;
    int nested;
} cover_ctx;

static void cover_body(void* p, int64_t begin, int64_t end) {
    cover_ctx* c = p;
    atomic_fetch_add(&c->chunks, 1);
    int64_t min_len = c->grain < c->n ? c->grain : c->n;
    if (begin < 0 || end > c->n || begin >= end || end - begin < min_len)
        atomic_fetch_add(&c->bad_chunks, 1);
    for (int64_t i = begin; i < end && i >= 0 && i < c->n; i++) atomic_fetch_add(&c->hits[i], 1);
}

typedef struct {
    int64_t n, grain;
    int rounds;
    int* errors;
    int* max_chunks;
} cover_args;

/* A task that runs parallel_for `rounds` times and checks exact coverage. */
static lk_status cover_task(lk_cpu_pool* pool, void* p) {
    cover_args* a = p;
    atomic_int* hits = malloc(sizeof(atomic_int) * (size_t)a->n);
    for (int r = 0; r < a->rounds; r++) {
        for (int64_t i = 0; i < a->n; i++) atomic_init(&hits[i], 0);
        cover_ctx c = {.hits = hits, .n = a->n, .grain = a->grain};
        atomic_init(&c.bad_chunks, 0);
        atomic_init(&c.chunks, 0);
        lk_cpu_parallel_for(pool, a->n, a->grain, cover_body, &c);
        int ok = atomic_load(&c.bad_chunks) == 0;
        for (int64_t i = 0; i < a->n && ok; i++) ok = atomic_load(&hits[i]) == 1;
        if (!ok) (*a->errors)++;
        if (atomic_load(&c.chunks) > *a->max_chunks) *a->max_chunks = atomic_load(&c.chunks);
    }
    free(hits);
    return LK_OK;
}

typedef struct {
    atomic_long* sum;
} nest_ctx;

static void nested_inner(void* p, int64_t begin, int64_t end) {
    nest_ctx* c = p;
    atomic_fetch_add(c->sum, end - begin);
}

typedef struct {
    lk_cpu_pool* pool;
    atomic_long* sum;
} nest_outer_ctx;

static void nested_outer(void* p, int64_t begin, int64_t end) {
    nest_outer_ctx* o = p;
    nest_ctx inner = {o->sum};
    for (int64_t i = begin; i < end; i++) lk_cpu_parallel_for(o->pool, 100, 1, nested_inner, &inner);
}

static lk_status nested_task(lk_cpu_pool* pool, void* p) {
    atomic_long* sum = *(atomic_long**)p;
    nest_outer_ctx o = {pool, sum};
    lk_cpu_parallel_for(pool, 50, 1, nested_outer, &o);
    return LK_OK;
}

static void noop_body(void* p, int64_t begin, int64_t end) {
    atomic_fetch_add((atomic_long*)p, end - begin);
}

typedef struct {
    int calls;
    atomic_long* sum;
    double* seconds;
} latency_args;

static lk_status latency_task(lk_cpu_pool* pool, void* p) {
    latency_args* a = p;
    double t0 = now_ms();
    for (int i = 0; i < a->calls; i++) lk_cpu_parallel_for(pool, 4096, 64, noop_body, a->sum);
    *a->seconds = (now_ms() - t0) / 1e3;
    return LK_OK;
}

static void test_parallel_for(void) {
    static const int thread_counts[] = {1, 2, 3, 4, 7};
    static const int64_t ns[] = {1, 2, 3, 7, 64, 100, 1000, 4097, 100003};
    static const int64_t grains[] = {0, 1, 3, 64, 1000, 1 << 20};
    for (size_t t = 0; t < sizeof thread_counts / sizeof *thread_counts; t++) {
        int threads = thread_counts[t];
        lk_device* d = open_cpu(threads, 0, 0);
        lk_stream *s1, *s2;
        OK(lk_stream_create(d, &s1));
        OK(lk_stream_create(d, &s2));
        int errors1 = 0, errors2 = 0, max1 = 0, max2 = 0;
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
            for (size_t g = 0; g < sizeof grains / sizeof *grains; g++) {
                /* The same shapes on two streams at once: they share the pool. */
                cover_args a1 = {ns[i], grains[g], 3, &errors1, &max1};
                cover_args a2 = {ns[ns[i] > 1000 ? 0 : i], grains[g], 3, &errors2, &max2};
                OK(lk_cpu_enqueue(s1, cover_task, &a1, sizeof a1));
                OK(lk_cpu_enqueue(s2, cover_task, &a2, sizeof a2));
            }
        OK(lk_stream_synchronize(s1));
        OK(lk_stream_synchronize(s2));
        EXPECT(errors1 == 0 && errors2 == 0, "%d threads: %d + %d coverage errors", threads,
               errors1, errors2);
        EXPECT(threads == 1 ? max1 == 1 : max1 > 1, "%d threads: at most %d chunks", threads, max1);

        atomic_long sum = 0;
        atomic_long* psum = &sum;
        OK(lk_cpu_enqueue(s1, nested_task, &psum, sizeof psum));
        OK(lk_stream_synchronize(s1));
        EXPECT(atomic_load(&sum) == 50 * 100, "nested parallel_for covered %ld", atomic_load(&sum));

        if (threads == 4) {
            atomic_long total = 0;
            double seconds = 0;
            latency_args la = {relaxed_timing ? 200 : 20000, &total, &seconds};
            OK(lk_cpu_enqueue(s1, latency_task, &la, sizeof la));
            OK(lk_stream_synchronize(s1));
            EXPECT(atomic_load(&total) == (long)la.calls * 4096, "latency run covered %ld",
                   atomic_load(&total));
            printf("  parallel_for (4 threads, 64 chunks of no work): %.1f us per call\n",
                   seconds / la.calls * 1e6);
        }
        OK(lk_device_close(d));
    }
}

/* ---- concurrency of API calls ------------------------------------------------------- */

typedef struct {
    atomic_int* produced;
    int expect;
    atomic_int* violations;
} at_least_args;

/* Counts a violation when *produced is still below `expect`. */
static lk_status at_least_task(lk_cpu_pool* pool, void* p) {
    at_least_args* a = p;
    if (atomic_load(a->produced) < a->expect) atomic_fetch_add(a->violations, 1);
    return LK_OK;
}

/* Many short records and waits in a row: a waiter sleeps only until its own marker
 * completes (markers without a waiter wake nobody), so none may be missed (the
 * alarm catches a hang) and no stream may run ahead of what it waits for. */
static void test_event_chain(void) {
    lk_device* d = open_cpu(2, 0, 0);
    lk_stream *p, *q;
    lk_event* ev[2];
    OK(lk_stream_create(d, &p));
    OK(lk_stream_create(d, &q));
    OK(lk_event_create(d, &ev[0]));
    OK(lk_event_create(d, &ev[1]));
    atomic_int produced = -1, violations = 0;
    int host_violations = 0;
    enum { ROUNDS = 3000 };
    for (int i = 0; i < ROUNDS; i++) {
        lk_event* e = ev[i % 2];
        if (i % 7 == 0) OK(enqueue_sleep(p, 1, NULL, 0)); /* let q catch up and sleep on the wait */
        OK(enqueue_sleep(p, 0, &produced, i));
        OK(lk_event_record(e, p));
        OK(lk_stream_wait_event(q, e));
        at_least_args a = {&produced, i, &violations};
        OK(lk_cpu_enqueue(q, at_least_task, &a, sizeof a));
        if (i % 50 == 0) {
            OK(lk_event_synchronize(e));
            if (atomic_load(&produced) < i) host_violations++;
        }
        if (i % 500 == 0) OK(lk_stream_synchronize(q));
    }
    OK(lk_stream_synchronize(q));
    OK(lk_stream_synchronize(p));
    EXPECT(atomic_load(&violations) == 0 && host_violations == 0,
           "%d stream and %d host waits returned before the recorded work", atomic_load(&violations),
           host_violations);
    EXPECT(atomic_load(&produced) == ROUNDS - 1, "produced %d", atomic_load(&produced));
    OK(lk_event_destroy(ev[0]));
    OK(lk_event_destroy(ev[1]));
    OK(lk_stream_destroy(p));
    OK(lk_stream_destroy(q));
    OK(lk_device_close(d));
}

typedef struct {
    lk_stream* stream;
    long* counter;      /* only touched by tasks, which run one at a time */
    int tasks;
    int failed;
} producer_args;

static lk_status increment_task(lk_cpu_pool* pool, void* p) {
    (**(long**)p)++;
    return LK_OK;
}

static void* producer(void* p) {
    producer_args* a = p;
    for (int i = 0; i < a->tasks; i++) {
        if (lk_cpu_enqueue(a->stream, increment_task, &a->counter, sizeof a->counter) != LK_OK)
            a->failed++;
        if (i % 100 == 0 && lk_stream_synchronize(a->stream) != LK_OK) a->failed++;
    }
    if (lk_stream_synchronize(a->stream) != LK_OK) a->failed++;
    return NULL;
}

static void test_threads(void) {
    lk_device* d = open_cpu(2, 0, 0);
    lk_stream* s;
    OK(lk_stream_create(d, &s));
    long counter = 0;
    enum { PRODUCERS = 4, TASKS = 2000 };
    pthread_t th[PRODUCERS];
    producer_args args[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        args[i] = (producer_args){s, &counter, TASKS, 0};
        pthread_create(&th[i], NULL, producer, &args[i]);
    }
    int failed = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
        failed += args[i].failed;
    }
    OK(lk_stream_synchronize(s));
    EXPECT(failed == 0 && counter == PRODUCERS * TASKS, "counter %ld, %d failures", counter, failed);
    OK(lk_stream_destroy(s));
    OK(lk_device_close(d));
}

static void test_device_close(void) {
    lk_device* d = open_cpu(2, 8 << 20, 2e9);
    lk_device_info info = {.struct_size = sizeof info};
    lk_buffer *b1, *b2;
    lk_host_buffer* h;
    lk_stream *s1, *s2, *s3;
    lk_event *e1, *e2;
    OK(lk_buffer_alloc(d, 1 << 20, &b1));
    OK(lk_buffer_alloc(d, 2 << 20, &b2));
    OK(lk_host_buffer_alloc(d, 1 << 20, &h));
    OK(lk_device_get_info(d, &info));
    EXPECT(info.free_memory == 5u << 20, "free %zu", info.free_memory);
    OK(lk_stream_create(d, &s1));
    OK(lk_stream_create(d, &s2));
    OK(lk_stream_create(d, &s3));
    OK(lk_event_create(d, &e1));
    OK(lk_event_create(d, &e2));
    void *dp, *hp;
    OK(lk_buffer_ptr(b1, &dp));
    OK(lk_host_buffer_ptr(h, &hp));
    memset(hp, 3, 1 << 20);
    /* Pending work everywhere: close must wait for all of it. */
    atomic_int last = 0;
    OK(enqueue_sleep(s1, 60, NULL, 0));
    OK(lk_event_record(e1, s1));
    OK(lk_stream_wait_event(s2, e1)); /* s2 (created after s1) waits on s1 */
    OK(lk_copy_h2d(s2, dp, hp, 1 << 20));
    OK(lk_event_record(e2, s2));
    OK(lk_stream_wait_event(s1, e2)); /* and s1 waits on s2 in turn */
    OK(enqueue_sleep(s1, 0, &last, 1));
    OK(lk_stream_wait_event(s3, e2));
    OK(lk_event_destroy(e2));
    OK(lk_device_close(d));
    EXPECT(atomic_load(&last) == 1, "device_close did not wait for pending work");

    /* A pending stream error is reported by close (and everything is still freed). */
    lk_device* d2 = open_cpu(1, 0, 0);
    lk_stream* s;
    OK(lk_stream_create(d2, &s));
    fail_args f = {LK_ERR_DEVICE, 1};
    OK(lk_cpu_enqueue(s, fail_task, &f, sizeof f));
    EXPECT_ERROR(lk_device_close(d2), LK_ERR_DEVICE, "boom 42");
}

/* ---- validation in the dispatcher ----------------------------------------------------- */

static void test_validation(void) {
    lk_device* d = open_cpu(1, 1 << 20, 0);
    lk_device* other = open_cpu(1, 1 << 20, 0);
    lk_stream *s, *s_other;
    lk_event *e, *e_other;
    lk_buffer* b;
    OK(lk_stream_create(d, &s));
    OK(lk_stream_create(other, &s_other));
    OK(lk_event_create(d, &e));
    OK(lk_event_create(other, &e_other));
    OK(lk_buffer_alloc(d, 4096, &b));
    float* p;
    OK(lk_buffer_ptr(b, (void**)&p));
    const lk_status INV = LK_ERR_INVALID_ARGUMENT, UNS = LK_ERR_UNSUPPORTED;
    lk_device* dd;

    /* devices */
    EXPECT_ERROR(lk_device_open(NULL, NULL, &dd), INV, "lk_device_open: backend is NULL");
    EXPECT_ERROR(lk_device_open("cpu", NULL, NULL), INV, "out is NULL");
    EXPECT_ERROR(lk_device_open("tpu", NULL, &dd), INV, "unknown backend \"tpu\" (valid: \"cpu\", \"cuda\")");
    lk_device_options o = {.struct_size = 8};
    EXPECT_ERROR(lk_device_open("cpu", &o, &dd), INV, "options->struct_size is 8, expected at least 32");
    o = (lk_device_options){.struct_size = sizeof o, .threads = -2};
    EXPECT_ERROR(lk_device_open("cpu", &o, &dd), INV, "options->threads");
    o = (lk_device_options){.struct_size = sizeof o, .link_bytes_per_s = NAN};
    EXPECT_ERROR(lk_device_open("cpu", &o, &dd), INV, "link_bytes_per_s");
    lk_device_info info = {.struct_size = 16};
    EXPECT_ERROR(lk_device_get_info(d, &info), INV, "lk_device_get_info: out->struct_size is 16");
    EXPECT_ERROR(lk_device_get_info(d, NULL), INV, "out is NULL");
    EXPECT_ERROR(lk_device_close(NULL), INV, "lk_device_close: device is NULL");

    /* handles of the wrong kind, destroyed handles, foreign devices */
    EXPECT_ERROR(lk_buffer_free((lk_buffer*)s), INV,
                 "lk_buffer_free: buffer is a stream handle, not a buffer handle");
    EXPECT_ERROR(lk_stream_synchronize((lk_stream*)e), INV, "event handle, not a stream handle");
    EXPECT_ERROR(lk_device_close((lk_device*)b), INV, "buffer handle, not a device handle");
    struct { uint32_t kind, reserved; void* iface; void* device; } fake = {LK_HANDLE_FREED, 0, 0, 0};
    EXPECT_ERROR(lk_stream_synchronize((lk_stream*)&fake), INV,
                 "lk_stream_synchronize: stream handle already destroyed");
    fake.kind = 0x12345678;
    EXPECT_ERROR(lk_event_query((lk_event*)&fake), INV, "not a valid event handle");
    EXPECT_ERROR(lk_event_record(e, s_other), INV,
                 "lk_event_record: event and stream belong to different devices");
    EXPECT_ERROR(lk_stream_wait_event(s, e_other), INV, "different devices");
    float ms;
    EXPECT_ERROR(lk_event_elapsed_ms(e, e_other, &ms), INV, "different devices");
    EXPECT_ERROR(lk_event_elapsed_ms(e, e, NULL), INV, "out_ms is NULL");

    /* memory and copies */
    lk_buffer* bb;
    EXPECT_ERROR(lk_buffer_alloc(d, 0, &bb), INV, "lk_buffer_alloc: bytes must be > 0");
    EXPECT_ERROR(lk_host_buffer_alloc(d, 0, (lk_host_buffer**)&bb), INV, "bytes must be > 0");
    EXPECT_ERROR(lk_buffer_ptr(b, NULL), INV, "lk_buffer_ptr: out is NULL");
    EXPECT_ERROR(lk_copy_h2d(s, p, NULL, 16), INV, "lk_copy_h2d: src is NULL");
    EXPECT_ERROR(lk_copy_d2h(s, NULL, p, 16), INV, "lk_copy_d2h: dst is NULL");
    EXPECT_ERROR(lk_copy_d2d(s, p, p + 1, 0), INV, "lk_copy_d2d: bytes must be > 0");
    EXPECT_ERROR(lk_copy_d2d(s, p, p + 1, 64), INV, "overlap");
    EXPECT_ERROR(lk_memset(s, p, 256, 16), INV, "lk_memset: byte_value must be in [0, 255] (got 256)");
    EXPECT_ERROR(lk_fill_u32(s, NULL, 1, 4), INV, "lk_fill_u32: dst_device is NULL");
    EXPECT_ERROR(lk_fill_u32(s, (char*)p + 2, 1, 4), INV, "is not 4-byte aligned");
    EXPECT_ERROR(lk_fill_u32(s, p, 1, 0), INV, "lk_fill_u32: count must be > 0");

    /* ops */
    EXPECT_ERROR(lk_embedding(s, LK_I32, p, 10, 4, (int32_t*)p, 1, p), UNS,
                 "lk_embedding: table_dtype LK_I32 is not supported");
    EXPECT_ERROR(lk_embedding(s, (lk_dtype)9, p, 10, 4, (int32_t*)p, 1, p), INV,
                 "table_dtype 9 is not a valid lk_dtype");
    EXPECT_ERROR(lk_embedding(s, LK_F32, p, 0, 4, (int32_t*)p, 1, p), INV,
                 "lk_embedding: vocab must be > 0 (got 0)");
    EXPECT_ERROR(lk_embedding(NULL, LK_F32, p, 1, 4, (int32_t*)p, 1, p), INV, "stream is NULL");
    EXPECT_ERROR(lk_rmsnorm(s, p, LK_F16, p, 1, -3, 1e-5f, p), INV, "lk_rmsnorm: dim must be > 0 (got -3)");
    EXPECT_ERROR(lk_rmsnorm(s, p, LK_F16, p, 1, 3, -1.0f, p), INV, "eps");
    EXPECT_ERROR(lk_rope(s, p, 1, 2, 7, 0, 1e4f), INV, "lk_rope: head_dim 7 is not even");
    EXPECT_ERROR(lk_rope(s, p, 1, 2, 8, -1, 1e4f), INV, "pos0 must be >= 0");
    EXPECT_ERROR(lk_rope(s, p, 1, 2, 8, 0, 0.0f), INV, "theta");
    EXPECT_ERROR(lk_matmul(s, LK_BF16, p, p, 1, 0, 4, p), INV, "lk_matmul: rows must be > 0");
    EXPECT_ERROR(lk_matmul(s, LK_F32, p, p, 1, INT64_MAX / 2, 4, p), INV, "too large");
    EXPECT_ERROR(lk_swiglu(s, p, NULL, 4, p), INV, "lk_swiglu: up is NULL");
    EXPECT_ERROR(lk_add(s, p, p, 0), INV, "lk_add: n must be > 0");
    /* pointers must be aligned to their elements (a misaligned load faults on CUDA) */
    EXPECT_ERROR(lk_add(s, (float*)((char*)p + 2), p + 64, 4), INV, "is not 4-byte aligned");
    EXPECT_ERROR(lk_matmul(s, LK_F16, (char*)p + 1, p + 64, 1, 4, 4, p + 128), INV, "lk_matmul: w");
    EXPECT_ERROR(lk_gather_rows(s, p, (int32_t*)((char*)p + 1), 1, 4, p + 64), INV, "lk_gather_rows: idx");
    EXPECT_ERROR(lk_gather_rows(s, p, NULL, 1, 4, p), INV, "lk_gather_rows: idx is NULL");
    EXPECT_ERROR(lk_scatter_add_rows(s, p, p, NULL, NULL, 1, 0), INV, "lk_scatter_add_rows: dim must be > 0");
    EXPECT_ERROR(lk_convert(s, LK_F32, p, LK_F16, p, 4), INV,
                 "lk_convert: src == dst is only allowed when src_dtype == dst_dtype");
    EXPECT_ERROR(lk_convert(s, LK_F32, p, LK_F16, (char*)p + 2, 4), INV, "overlap");
    EXPECT_ERROR(lk_convert(s, LK_F32, p, LK_I32, p + 64, 4), UNS, "dst_dtype LK_I32");

    lk_qmatrix q = {.struct_size = sizeof q, .bits = 4, .group_size = 12, .rows = 4, .cols = 32,
                    .codes = p, .scales = p, .zeros = p};
    EXPECT_ERROR(lk_qmatvec(s, &q, p, p), INV, "lk_qmatvec: w->group_size 12 is not a multiple of 8");
    q.group_size = 2048;
    EXPECT_ERROR(lk_qmatvec(s, &q, p, p), INV, "w->group_size 2048 is not in [8, 1024]");
    q.group_size = 32;
    q.bits = 5;
    EXPECT_ERROR(lk_qmatmul(s, &q, p, 1, p), UNS, "lk_qmatmul: w->bits 5 is not supported");
    q.bits = 3;
    q.cols = 0;
    EXPECT_ERROR(lk_qmatvec(s, &q, p, p), INV, "w->cols must be > 0");
    q.cols = 32;
    q.zeros = NULL;
    EXPECT_ERROR(lk_qmatvec(s, &q, p, p), INV, "w->zeros is NULL");
    q.zeros = p;
    q.scales = (char*)p + 1;
    EXPECT_ERROR(lk_qmatvec(s, &q, p, p), INV, "lk_qmatvec: w->scales");
    q.scales = p;
    q.struct_size = 24;
    EXPECT_ERROR(lk_qmatvec(s, &q, p, p), INV, "w->struct_size is 24");
    q.struct_size = sizeof q;
    EXPECT_ERROR(lk_qmatmul(s, &q, p, 0, p), INV, "lk_qmatmul: n must be > 0");
    EXPECT_ERROR(lk_qmatvec(s, NULL, p, p), INV, "lk_qmatvec: w is NULL");

    /* lk_expert_swiglu: gate and up of one format [inter 4, hidden 32], down [32, 4], outputs apart */
    lk_qmatrix eg = q, eu = q, ed = q;
    ed.rows = 32;
    ed.cols = 4;
    eu.bits = 4;
    EXPECT_ERROR(lk_expert_swiglu(s, &eg, &eu, &ed, p, p + 64, p + 96, p + 128), INV,
                 "lk_expert_swiglu: up (4-bit g32, 4 x 32) differs from gate (3-bit g32, 4 x 32)");
    eu.bits = 3;
    EXPECT_ERROR(lk_expert_swiglu(s, &eg, &eu, &eg, p, p + 64, p + 96, p + 128), INV,
                 "lk_expert_swiglu: down is 4 x 32, expected 32 x 4 (gate transposed)");
    ed.bits = 5;
    EXPECT_ERROR(lk_expert_swiglu(s, &eg, &eu, &ed, p, p + 64, p + 96, p + 128), UNS,
                 "lk_expert_swiglu: down->bits 5 is not supported");
    ed.bits = 3;
    EXPECT_ERROR(lk_expert_swiglu(s, &eg, &eu, &ed, p, p + 64, p + 96, p + 64), INV,
                 "lk_expert_swiglu: y and h_gate overlap");
    EXPECT_ERROR(lk_expert_swiglu(s, &eg, NULL, &ed, p, p + 64, p + 96, p + 128), INV, "lk_expert_swiglu: up is NULL");
    /* a field of a qmatrix argument is named after that argument, in each kind of check */
    ed.rows = 0;
    EXPECT_ERROR(lk_expert_swiglu(s, &eg, &eu, &ed, p, p + 64, p + 96, p + 128), INV,
                 "lk_expert_swiglu: down->rows must be > 0 (got 0)");
    ed.rows = 32;
    eu.codes = NULL;
    EXPECT_ERROR(lk_expert_swiglu(s, &eg, &eu, &ed, p, p + 64, p + 96, p + 128), INV,
                 "lk_expert_swiglu: up->codes is NULL");
    eu.codes = p;
    eg.zeros = (char*)p + 1;
    EXPECT_ERROR(lk_expert_swiglu(s, &eg, &eu, &ed, p, p + 64, p + 96, p + 128), INV,
                 "lk_expert_swiglu: gate->zeros (");
    eg.zeros = p;

    lk_router_args r = {.struct_size = sizeof r, .logits = p, .n = 1, .n_experts = 8, .k = 9,
                        .topk_idx = (int32_t*)p, .topk_weight = p};
    EXPECT_ERROR(lk_router_topk(s, &r), INV, "lk_router_topk: args->k 9 is not in [1, n_experts = 8]");
    r.k = 2;
    r.n_experts = 257;
    EXPECT_ERROR(lk_router_topk(s, &r), INV, "args->n_experts 257 is not in [1, 256]");
    r.n_experts = 8;
    r.topk_weight = NULL;
    EXPECT_ERROR(lk_router_topk(s, &r), INV, "args->topk_weight is NULL");
    EXPECT_ERROR(lk_router_topk(s, NULL), INV, "args is NULL");

    /* p: a device buffer of at least 1 KiB; inputs at p, outputs further in */
    lk_router_heads_args rh = {.struct_size = sizeof rh, .x = p, .hidden = 16, .eps = 1e-5f,
                               .gain_dtype = LK_F16, .gain = p + 16, .router_dtype = LK_BF16,
                               .n_experts = 8, .router = p + 32, .k = 2, .n_heads = 1,
                               .heads = p + 128, .heads_bias = NULL, .xn_out = p + 512,
                               .out = p + 544};
    EXPECT_ERROR(lk_router_heads(s, NULL), INV, "lk_router_heads: args is NULL");
    rh.k = 0;
    EXPECT_ERROR(lk_router_heads(s, &rh), INV, "lk_router_heads: args->k 0 is not in [1, n_experts = 8]");
    rh.k = 2;
    rh.n_heads = 1025;
    EXPECT_ERROR(lk_router_heads(s, &rh), INV, "args->n_heads 1025 is not in [0, 1024]");
    rh.n_heads = 1;
    rh.heads = NULL;
    EXPECT_ERROR(lk_router_heads(s, &rh), INV, "args->heads is NULL");
    rh.heads = p + 128;
    rh.router_dtype = LK_I32;
    EXPECT_ERROR(lk_router_heads(s, &rh), UNS, "args->router_dtype LK_I32 is not supported");
    rh.router_dtype = LK_BF16;
    rh.xn_out = (float*)((char*)(p + 512) + 2);
    EXPECT_ERROR(lk_router_heads(s, &rh), INV, "is not 4-byte aligned");
    rh.xn_out = p + 540;
    EXPECT_ERROR(lk_router_heads(s, &rh), INV, "args->xn_out and args->out overlap");
    rh.xn_out = p + 512;
    rh.out = p + 130;
    EXPECT_ERROR(lk_router_heads(s, &rh), INV, "args->out and args->heads overlap");
    rh.out = p + 544;
    rh.eps = -1.0f;
    EXPECT_ERROR(lk_router_heads(s, &rh), INV, "args->eps must be finite and >= 0");
    rh.eps = 1e-5f;
    rh.struct_size = 64;
    EXPECT_ERROR(lk_router_heads(s, &rh), INV, "args->struct_size is 64");

    lk_attention_args at = {.struct_size = sizeof at, .q = p, .k_cache = p, .v_cache = p, .out = p,
                            .n_tokens = 4, .pos = 10, .ctx_capacity = 13, .n_heads = 8,
                            .n_kv_heads = 2, .head_dim = 64, .window = 0, .kv_dtype = LK_F16,
                            .scale = 0.125f};
    EXPECT_ERROR(lk_attention(s, &at), INV, "lk_attention: args->pos 10 + n_tokens 4 exceeds ctx_capacity 13");
    at.ctx_capacity = 14;
    at.n_kv_heads = 3;
    EXPECT_ERROR(lk_attention(s, &at), INV, "args->n_heads 8 is not a multiple of n_kv_heads 3");
    at.n_kv_heads = 2;
    at.head_dim = 257;
    EXPECT_ERROR(lk_attention(s, &at), INV, "args->head_dim 257 is not in [1, 256]");
    at.head_dim = 64;
    at.window = -1;
    EXPECT_ERROR(lk_attention(s, &at), INV, "args->window must be >= 0");
    at.window = 4096;
    at.kv_dtype = LK_I32;
    EXPECT_ERROR(lk_attention(s, &at), UNS, "args->kv_dtype LK_I32 is not supported");
    at.kv_dtype = LK_BF16;
    at.scale = INFINITY;
    EXPECT_ERROR(lk_attention(s, &at), INV, "args->scale must be finite and > 0");
    at.scale = 0.125f;
    at.pos = -1;
    EXPECT_ERROR(lk_attention(s, &at), INV, "args->pos must be >= 0");
    at.pos = 0;
    at.struct_size = offsetof(lk_attention_args, scale);
    EXPECT_ERROR(lk_attention(s, &at), INV, "args->struct_size is 84, expected at least 88");

    /* code bytes per the header's formula */
    EXPECT(lk_qmatrix_code_bytes(4, 32, 10, 64) == 10 * 32, "q4");
    EXPECT(lk_qmatrix_code_bytes(3, 128, 2, 129) == 2 * 2 * 48, "q3 with a partial group");
    EXPECT(lk_qmatrix_code_bytes(2, 8, 1, 1) == 2, "q2 tiny");
    EXPECT(lk_qmatrix_code_bytes(5, 32, 1, 1) == 0 && lk_qmatrix_code_bytes(4, 12, 1, 1) == 0 &&
               lk_qmatrix_code_bytes(4, 32, 0, 1) == 0 &&
               lk_qmatrix_code_bytes(4, 1024, INT64_MAX, INT64_MAX) == 0,
           "invalid code bytes");

    /* Nothing above reached the stream. */
    OK(lk_stream_synchronize(s));
    OK(lk_device_close(d));
    OK(lk_device_close(other));
}

/* ---- the CUDA backend on a machine without one ---------------------------------------- */

typedef lk_status (*open_fn)(const char*, const lk_device_options*, lk_device**);
typedef const char* (*last_error_fn)(void);
typedef lk_status (*close_fn)(lk_device*);

static void check_cuda_open(open_fn open, last_error_fn last_error, close_fn close,
                            const char* where) {
    lk_device* d = NULL;
    lk_status st = open("cuda", NULL, &d);
    const char* msg = last_error();
    printf("  cuda via %s: %s: %s\n", where, lk_status_name(st), st == LK_OK ? "" : msg);
    if (st == LK_OK) { /* a machine with a GPU */
        EXPECT(d != NULL, "device");
        EXPECT(close(d) == LK_OK, "close");
        return;
    }
    EXPECT((st == LK_ERR_BACKEND_UNAVAILABLE || st == LK_ERR_DEVICE) && msg[0] != '\0',
           "%s: %s \"%s\"", where, lk_status_name(st), msg);
    if (strstr(msg, "not found"))
        EXPECT(strstr(msg, "/liblookahead_cuda.so") && strstr(msg, "nvcc"), "message %s", msg);
}


/* Loads a liblookahead.so and runs `check` with its entry points. */
static void with_library(const char* path, void (*check)(open_fn, last_error_fn, close_fn, const char*)) {
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    EXPECT(lib != NULL, "dlopen %s: %s", path, dlerror());
    if (!lib) return;
    open_fn open;
    last_error_fn last_error;
    close_fn close;
    *(void**)&open = dlsym(lib, "lk_device_open");
    *(void**)&last_error = dlsym(lib, "lk_last_error");
    *(void**)&close = dlsym(lib, "lk_device_close");
    EXPECT(open && last_error && close, "symbols of %s", path);
    if (open && last_error && close) check(open, last_error, close, path);
    dlclose(lib);
}

static void check_cpu_and_cuda(open_fn open, last_error_fn last_error, close_fn close,
                               const char* path) {
    check_cuda_open(open, last_error, close, path);
    /* The library's own CPU backend works through the same entry point. */
    lk_device* d = NULL;
    EXPECT(open("cpu", NULL, &d) == LK_OK && close(d) == LK_OK, "cpu via %s", path);
}

static const char* expected_part;

static void check_cuda_fails(open_fn open, last_error_fn last_error, close_fn close,
                             const char* path) {
    lk_device* d = NULL;
    lk_status st = open("cuda", NULL, &d);
    printf("  broken cuda backend: %s: %s\n", lk_status_name(st), last_error());
    EXPECT(st == LK_ERR_BACKEND_UNAVAILABLE && strstr(last_error(), expected_part) &&
               strstr(last_error(), "/liblookahead_cuda.so"),
           "%s: %s \"%s\", expected \"%s\"", path, lk_status_name(st), last_error(),
           expected_part);
}

static int copy_file(const char* from, const char* to) {
    FILE* in = fopen(from, "rb");
    FILE* out = fopen(to, "wb");
    int ok = in && out;
    char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = 0;
    return ok;
}

static void test_cuda(const char* library) {
    check_cuda_open(lk_device_open, lk_last_error, lk_device_close, "this test binary");
    if (!library) return;
    with_library(library, check_cpu_and_cuda);

    /* A broken CUDA backend beside a copy of the library: a file that is not a
     * shared object, then a shared object without the entry point. */
    char dir[] = "/tmp/lk_runtime_test_XXXXXX";
    EXPECT(mkdtemp(dir) != NULL, "mkdtemp");
    char lib[256], cuda[256];
    snprintf(lib, sizeof lib, "%s/liblookahead.so", dir);
    snprintf(cuda, sizeof cuda, "%s/liblookahead_cuda.so", dir);
    EXPECT(copy_file(library, lib), "copy %s", library);
    FILE* f = fopen(cuda, "w");
    if (f) {
        fputs("not a shared object\n", f);
        fclose(f);
    }
    expected_part = "cannot load";
    with_library(lib, check_cuda_fails);
    EXPECT(copy_file(library, cuda), "copy %s", library);
    expected_part = "does not export lk_cuda_backend";
    with_library(lib, check_cuda_fails);
    unlink(cuda);
    unlink(lib);
    rmdir(dir);
}

int main(int argc, char** argv) {
    const char* library = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--library") == 0 && i + 1 < argc) library = argv[++i];
        else if (strcmp(argv[i], "--relaxed-timing") == 0) relaxed_timing = 1;
        else {
            fprintf(stderr, "usage: %s [--library liblookahead.so] [--relaxed-timing]\n", argv[0]);
            return 2;
        }
    }
    /* A deadlock must fail the test, not hang the build. */
    alarm(relaxed_timing ? 3600 : 300);
    struct { const char* name; void (*fn)(void); } tests[] = {
        {"core", test_core},
        {"device_info", test_device_info},
        {"in_order", test_in_order},
        {"fill", test_fill},
        {"events", test_events},
        {"sticky_error", test_sticky_error},
        {"memory", test_memory},
        {"throttle", test_throttle},
        {"device_clock", test_device_clock},
        {"back_to_back", test_back_to_back},
        {"overlap", test_overlap},
        {"parallel_for", test_parallel_for},
        {"threads", test_threads},
        {"event_chain", test_event_chain},
        {"device_close", test_device_close},
        {"validation", test_validation},
    };
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        int before = failures;
        double t0 = now_ms();
        tests[i].fn();
        printf("%s %s (%.0f ms)\n", failures == before ? "ok  " : "FAIL", tests[i].name,
               now_ms() - t0);
        fflush(stdout);
    }
    int before = failures;
    test_cuda(library);
    printf("%s cuda\n", failures == before ? "ok  " : "FAIL");
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
