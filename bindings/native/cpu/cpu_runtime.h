/*
 * cpu_runtime.h — private structures of the CPU backend's runtime, shared by
 * cpu_device.c (device, arena, buffers, the function table), cpu_stream.c
 * (streams, tasks, events, copies) and cpu_pool.c (the compute thread pool).
 * Ops (cpu_ops_*.c) see only cpu_internal.h.
 */
#ifndef LOOKAHEAD_CPU_RUNTIME_H
#define LOOKAHEAD_CPU_RUNTIME_H

#include "cpu_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* The pause of a spin-wait loop (the pool's idle workers, a wait for an emulated copy's end). */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* ---- thread pool (cpu_pool.c) ------------------------------------------------ */

struct lk_cpu_pool {
    int threads;                  /* compute threads including the calling one      */
    int n_workers;                /* threads - 1 helper threads                     */
    pthread_t* workers;
    pthread_mutex_t run_lock;     /* one parallel_for at a time (streams overlap)   */

    /* The current job. Written by the caller before it publishes `ticket`. */
    lk_cpu_range_fn body;
    void* ctx;
    int64_t n;
    /* (generation << 32) | (chunk count << 16) | next unclaimed chunk index */
    _Atomic uint64_t ticket;
    _Atomic int chunks_done;

    pthread_mutex_t lock;         /* for sleeping only: the job itself is lock-free  */
    pthread_cond_t wake;          /* workers wait here for a new ticket              */
    pthread_cond_t done;          /* the caller waits here for chunks_done           */
    _Atomic int sleepers;
    _Atomic int caller_waiting;
    _Atomic int stop;
    /* Streams of the device with work queued or running (a wait on an event, a
     * copy over the emulated link included): while any is busy, the next job can
     * come at any moment, so idle workers stay ready instead of sleeping. */
    _Atomic int busy_streams;
};

lk_status lk_cpu_pool_init(lk_cpu_pool* pool, int threads);
void lk_cpu_pool_destroy(lk_cpu_pool* pool);

/* ---- device, buffers (cpu_device.c) -------------------------------------------- */

typedef struct cpu_stream cpu_stream;
typedef struct cpu_event cpu_event;
typedef struct cpu_buffer cpu_buffer;
typedef struct cpu_host_buffer cpu_host_buffer;

/* Intrusive doubly-linked list node: every handle a device owns is on one of its lists. */
typedef struct cpu_link {
    struct cpu_link* prev;
    struct cpu_link* next;
} cpu_link;

typedef struct cpu_device {
    lk_handle h;
    int threads;
    size_t capacity;              /* arena bytes                                    */
    size_t used;                  /* guarded by lock                                */
    double link_bytes_per_s;      /* 0 = copies are plain memcpy                    */
    char name[128];

    pthread_mutex_t lock;         /* guards `used` and the four lists               */
    cpu_link buffers, host_buffers, streams, events;

    /* Emulated host-to-device link: when it is free again (ns, monotonic). */
    pthread_mutex_t link_lock;
    int64_t link_free_at_ns;

    /* Event markers complete under this lock; waiters sleep on markers_cv. */
    pthread_mutex_t markers_lock;
    pthread_cond_t markers_cv;

    lk_cpu_pool pool;
} cpu_device;

struct cpu_buffer {
    lk_handle h;
    cpu_link link;
    void* ptr;
    size_t accounted;             /* bytes charged to the arena                     */
};

struct cpu_host_buffer {
    lk_handle h;
    cpu_link link;
    void* ptr;
};

void cpu_list_init(cpu_link* head);
void cpu_list_push(cpu_link* head, cpu_link* node);
void cpu_list_remove(cpu_link* node);

/* Monotonic clock in nanoseconds. */
int64_t cpu_now_ns(void);

/* Shorthand for the dispatcher's set_error. */
#define CPU_ERROR(status, ...) (lk_cpu_services()->set_error((status), __VA_ARGS__))

/* ---- streams and events (cpu_stream.c) ----------------------------------------- */

lk_status lk_cpu_stream_create(lk_device* device, lk_stream** out);
lk_status lk_cpu_stream_destroy(lk_stream* stream);
lk_status lk_cpu_stream_synchronize(lk_stream* stream);
lk_status lk_cpu_stream_wait_event(lk_stream* stream, lk_event* event);
lk_status lk_cpu_event_create(lk_device* device, lk_event** out);
lk_status lk_cpu_event_destroy(lk_event* event);
lk_status lk_cpu_event_record(lk_event* event, lk_stream* stream);
lk_status lk_cpu_event_query(lk_event* event);
lk_status lk_cpu_event_synchronize(lk_event* event);
lk_status lk_cpu_event_elapsed_ms(lk_event* start, lk_event* end, float* out_ms);
lk_status lk_cpu_copy_h2d(lk_stream* s, void* dst, const void* src, size_t bytes);
lk_status lk_cpu_copy_d2h(lk_stream* s, void* dst, const void* src, size_t bytes);
lk_status lk_cpu_copy_d2d(lk_stream* s, void* dst, const void* src, size_t bytes);
lk_status lk_cpu_memset(lk_stream* s, void* dst, int32_t value, size_t bytes);
lk_status lk_cpu_fill_u32(lk_stream* s, uint32_t* dst, uint32_t value, size_t count);

/* Used by device_close: the owner of a list node. */
cpu_stream* cpu_stream_of_link(cpu_link* link);
cpu_event* cpu_event_of_link(cpu_link* link);

#endif /* LOOKAHEAD_CPU_RUNTIME_H */
