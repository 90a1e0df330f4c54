/*
 * cpu_pool.c — the compute thread pool of a CPU device.
 *
 * parallel_for is called thousands of times per second during decode, so a job is
 * handed out without locks: the caller writes the job, then publishes a 64-bit
 * ticket (generation | chunk count | next chunk index). Threads claim chunks by
 * compare-and-swap on the ticket; a claim can only succeed for the current job, and
 * the job's fields stay valid until its last claimed chunk is done, which is what
 * the caller waits for. Idle workers spin briefly for the next ticket, then sleep on
 * a condition variable (the caller wakes them only when some are asleep).
 */
#define _GNU_SOURCE
#include "cpu_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>

/* How long idle threads spin after the device went idle (no stream busy) before
 * they sleep: longer than the host's turn between two layers of a decode step
 * (read-back, expert planning), short enough to waste little CPU. While a stream
 * is busy they spin on: a stream that waits for a copy resumes within a few
 * microseconds of its completion, while waking a sleeping thread onto an idle
 * core takes tens of microseconds on a virtual machine. The spin yields the core
 * regularly, so a thread that is runnable on the same core (the stream or host
 * thread) is not delayed by it. */
static const int64_t SPIN_NS = 50000;
/* Chunks per thread: more chunks than threads balance load when a thread is slow
 * (e.g. descheduled on a shared machine). */
static const int64_t CHUNKS_PER_THREAD = 4;

#define TICKET_INDEX(t) ((int64_t)((t)&0xFFFF))
#define TICKET_CHUNKS(t) ((int64_t)(((t) >> 16) & 0xFFFF))
#define TICKET_GEN(t) ((t) >> 32)

/* Set while a thread runs chunks: a nested parallel_for runs serially. */
static _Thread_local int in_parallel_for;

int lk_cpu_pool_threads(const lk_cpu_pool* pool) { return pool->threads; }

/* Claims the next chunk of the current job; returns 0 when none is left. */
static int claim(lk_cpu_pool* pool, int64_t* index, int64_t* chunks) {
    uint64_t t = atomic_load(&pool->ticket);
    for (;;) {
        if (TICKET_INDEX(t) >= TICKET_CHUNKS(t)) return 0;
        if (atomic_compare_exchange_weak(&pool->ticket, &t, t + 1)) {
            *index = TICKET_INDEX(t);
            *chunks = TICKET_CHUNKS(t);
            return 1;
        }
    }
}

/* Runs claimed chunks until the job is exhausted. */
static void run_chunks(lk_cpu_pool* pool) {
    int64_t i, chunks;
    in_parallel_for = 1;
    while (claim(pool, &i, &chunks)) {
        /* chunk i of n split evenly: the first n % chunks chunks get one extra item */
        int64_t n = pool->n, base = n / chunks, extra = n % chunks;
        int64_t begin = i * base + (i < extra ? i : extra);
        int64_t end = begin + base + (i < extra ? 1 : 0);
        pool->body(pool->ctx, begin, end);
        if (atomic_fetch_add(&pool->chunks_done, 1) + 1 == chunks &&
            atomic_load(&pool->caller_waiting)) {
            /* Lock and unlock first: a caller that saw the job unfinished under the
             * lock is then registered on `done`; signalling after the unlock keeps it
             * from waking only to block on the lock this thread would hold. */
            pthread_mutex_lock(&pool->lock);
            pthread_mutex_unlock(&pool->lock);
            pthread_cond_signal(&pool->done);
        }
    }
    in_parallel_for = 0;
}

static void* worker_main(void* arg) {
    lk_cpu_pool* pool = arg;
    for (;;) {
        run_chunks(pool);
        uint64_t seen = atomic_load(&pool->ticket);
        if (TICKET_INDEX(seen) < TICKET_CHUNKS(seen)) continue;
        int64_t spin_until = cpu_now_ns() + SPIN_NS;
        for (int i = 1; atomic_load_explicit(&pool->ticket, memory_order_relaxed) == seen &&
                        !atomic_load_explicit(&pool->stop, memory_order_relaxed);
             i++) {
            CPU_RELAX();
            if ((i & 63) == 0) {
                int64_t now = cpu_now_ns();
                if (atomic_load_explicit(&pool->busy_streams, memory_order_relaxed) > 0)
                    spin_until = now + SPIN_NS;
                else if (now > spin_until)
                    break;
                sched_yield();
            }
        }
        if (atomic_load(&pool->ticket) == seen && !atomic_load(&pool->stop)) {
            pthread_mutex_lock(&pool->lock);
            atomic_fetch_add(&pool->sleepers, 1);
            while (atomic_load(&pool->ticket) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->lock);
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->lock);
        }
        if (atomic_load(&pool->stop)) return NULL;
    }
}

void lk_cpu_parallel_for(lk_cpu_pool* pool, int64_t n, int64_t grain, lk_cpu_range_fn body,
                         void* ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int64_t chunks = n / grain;
    if (chunks > pool->threads * CHUNKS_PER_THREAD) chunks = pool->threads * CHUNKS_PER_THREAD;
    if (pool->n_workers == 0 || chunks <= 1 || in_parallel_for) {
        body(ctx, 0, n);
        return;
    }
    /* Two streams may compute at once; they share the pool one job at a time. */
    pthread_mutex_lock(&pool->run_lock);
    pool->body = body;
    pool->ctx = ctx;
    pool->n = n;
    atomic_store(&pool->chunks_done, 0);
    uint64_t gen = TICKET_GEN(atomic_load(&pool->ticket)) + 1;
    atomic_store(&pool->ticket, (gen << 32) | ((uint64_t)chunks << 16));
    if (atomic_load(&pool->sleepers) > 0) {
        /* As in run_chunks: sleepers are registered once the lock was free. */
        pthread_mutex_lock(&pool->lock);
        pthread_mutex_unlock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
    }
    run_chunks(pool);

    int64_t spin_until = cpu_now_ns() + SPIN_NS;
    for (int i = 1; atomic_load_explicit(&pool->chunks_done, memory_order_acquire) != chunks; i++) {
        CPU_RELAX();
        if ((i & 63) == 0 && cpu_now_ns() > spin_until) break;
    }
    if (atomic_load(&pool->chunks_done) != chunks) {
        pthread_mutex_lock(&pool->lock);
        atomic_store(&pool->caller_waiting, 1);
        while (atomic_load(&pool->chunks_done) != chunks)
            pthread_cond_wait(&pool->done, &pool->lock);
        atomic_store(&pool->caller_waiting, 0);
        pthread_mutex_unlock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->run_lock);
}

lk_status lk_cpu_pool_init(lk_cpu_pool* pool, int threads) {
    memset(pool, 0, sizeof *pool);
    pool->threads = threads;
    pool->n_workers = threads - 1;
    pthread_mutex_init(&pool->run_lock, NULL);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->ticket, 0);
    atomic_init(&pool->chunks_done, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->caller_waiting, 0);
    atomic_init(&pool->stop, 0);
    atomic_init(&pool->busy_streams, 0);
    if (pool->n_workers == 0) return LK_OK;
    pool->workers = calloc((size_t)pool->n_workers, sizeof(pthread_t));
    if (!pool->workers) {
        pool->n_workers = 0;
        lk_cpu_pool_destroy(pool);
        return CPU_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "lk_device_open: out of host memory");
    }
    for (int i = 0; i < pool->n_workers; i++) {
        int err = pthread_create(&pool->workers[i], NULL, worker_main, pool);
        if (err != 0) {
            pool->n_workers = i; /* stop and join the ones started */
            lk_cpu_pool_destroy(pool);
            return CPU_ERROR(LK_ERR_HOST_OUT_OF_MEMORY,
                             "lk_device_open: cannot start compute thread %d of %d (%s)", i + 2,
                             threads, strerror(err));
        }
        pthread_setname_np(pool->workers[i], "lk-compute");
    }
    return LK_OK;
}

void lk_cpu_pool_destroy(lk_cpu_pool* pool) {
    atomic_store(&pool->stop, 1);
    pthread_mutex_lock(&pool->lock);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_workers; i++) pthread_join(pool->workers[i], NULL);
    free(pool->workers);
    pool->workers = NULL;
    pthread_mutex_destroy(&pool->run_lock);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
}
