/*
 * cpu_stream.c — streams (one worker thread with a FIFO task queue each), the
 * sticky error of a stream, events, and the asynchronous copies.
 *
 * Events follow CUDA: each lk_event_record creates a new "marker" that completes
 * when the stream reaches it; the event refers to its latest marker (query,
 * synchronize, elapsed time), while lk_stream_wait_event captures the marker that
 * is latest at the time of the call. Markers are reference-counted because a
 * pending record or wait task may outlive a re-record or the event itself.
 */
#define _GNU_SOURCE
#include "cpu_runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <time.h>

enum { MESSAGE_CAPACITY = 1024 };

#define CONTAINER_OF(ptr, type, member) ((type*)((char*)(ptr) - offsetof(type, member)))

typedef struct cpu_marker {
    int refs;                     /* all fields guarded by the device's markers_lock */
    int done;
    int waiters;                  /* threads sleeping on markers_cv for this marker  */
    int64_t time_ns;              /* completion time (CLOCK_MONOTONIC)               */
    lk_status status;             /* the stream's sticky error when it got here      */
    char message[MESSAGE_CAPACITY];
} cpu_marker;

typedef enum { TASK_RUN, TASK_RECORD, TASK_WAIT } task_kind;

typedef struct cpu_task {
    struct cpu_task* next;
    task_kind kind;
    int64_t enqueued_ns;          /* when the host enqueued it (CLOCK_MONOTONIC)     */
    int on_link;                  /* TASK_RUN: a copy over the emulated link        */
    lk_cpu_task_fn fn;            /* TASK_RUN                                       */
    cpu_marker* marker;           /* TASK_RECORD, TASK_WAIT (holds a reference)     */
    max_align_t args[];           /* TASK_RUN: the copied argument block            */
} cpu_task;

struct cpu_stream {
    lk_handle h;
    cpu_link link;
    cpu_device* dev;
    pthread_t thread;

    pthread_mutex_t lock;         /* guards everything below                        */
    pthread_cond_t work;          /* the worker waits for tasks                     */
    pthread_cond_t idle;          /* synchronizers wait for `completed`             */
    cpu_task* head;
    cpu_task* tail;
    uint64_t enqueued, completed; /* task counts                                    */
    int64_t done_at_ns;           /* when its completed tasks are done on the device's
                                     clock: an emulated copy is done when the link
                                     finishes it, which may be later than now       */
    uint64_t wake_at;             /* smallest `completed` a synchronizer sleeps for;
                                     UINT64_MAX when none sleeps                     */
    int stop;
    int sleeping;                 /* the worker waits on `work`                     */
    lk_status error;              /* sticky: the first failure since the last sync  */
    char error_message[MESSAGE_CAPACITY];
};

struct cpu_event {
    lk_handle h;
    cpu_link link;
    cpu_marker* latest;           /* NULL until recorded; guarded by markers_lock   */
};

cpu_stream* cpu_stream_of_link(cpu_link* link) { return CONTAINER_OF(link, cpu_stream, link); }
cpu_event* cpu_event_of_link(cpu_link* link) { return CONTAINER_OF(link, cpu_event, link); }

/* Drops a reference; call with the markers lock held. */
static void marker_unref(cpu_marker* m) {
    if (m && --m->refs == 0) free(m);
}

/* No printf: the stream thread copies a marker's (mostly empty) message at every recorded event. */
static void copy_message(char* dst, const char* src) {
    size_t n = strnlen(src, MESSAGE_CAPACITY - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Sleeps until `deadline` on the monotonic clock. The sleeps that wait for an
 * emulated copy's end are short: the calling thread's timer slack (50 us by
 * default) is cut to 1 us first, so that the kernel does not stretch them. */
static void sleep_until_ns(int64_t deadline) {
    static _Thread_local int slack_cut;
    if (!slack_cut) {
        prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
        slack_cut = 1;
    }
    struct timespec ts = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* How long before an emulated copy's end a waiter stops sleeping and spins: a
 * sleeping thread wakes tens of microseconds late on a virtual machine, while a
 * GPU's stream resumes within microseconds of its copy's end. */
static const int64_t SPIN_TAIL_NS = 50000;

/* Waits until `deadline`: sleeps through most of it, spins the last stretch. */
static void wait_until_ns(int64_t deadline) {
    if (deadline - cpu_now_ns() > SPIN_TAIL_NS) sleep_until_ns(deadline - SPIN_TAIL_NS);
    for (int i = 1; cpu_now_ns() < deadline; i++) {
        CPU_RELAX();
        if ((i & 63) == 0) sched_yield();
    }
}

/* Waits until `deadline` with `lock` released, when the deadline is still ahead:
 * a synchronizer that found its work run waits for an emulated copy's end. */
static void wait_until_unlocked(pthread_mutex_t* lock, int64_t deadline) {
    if (deadline <= cpu_now_ns()) return;
    pthread_mutex_unlock(lock);
    wait_until_ns(deadline);
    pthread_mutex_lock(lock);
}

/* Whether a marker's work is complete: its stream reached it, and the device's
 * clock passed its time (an emulated copy it follows may still be on the link). */
static int marker_complete(const cpu_marker* m) { return m->done && m->time_ns <= cpu_now_ns(); }

/* ---- the worker ---------------------------------------------------------------- */

/* When the task a stream worker runs could have started on a real device: once
 * it was enqueued and the stream's previous task had finished. A copy over the
 * emulated link starts then, like a DMA engine, rather than whenever the worker
 * thread got a core (tens of microseconds late on a busy virtual machine). */
static _Thread_local int64_t task_start_ns;
/* Set by a TASK_WAIT: when the awaited work completed. */
static _Thread_local int64_t awaited_done_ns;
/* Set by a copy over the emulated link: when it finishes on the link (possibly
 * later than now). The stream's next task starts then on the device's clock. */
static _Thread_local int64_t emulated_done_ns;

/* Runs one task outside the stream lock; returns its status and, on failure,
 * leaves the message in `message`. `sticky` is the stream's error when the task
 * was taken: tasks that compute are skipped then, markers still complete. */
static lk_status run_task(cpu_stream* s, cpu_task* t, lk_status sticky, char* message) {
    cpu_device* dev = s->dev;
    switch (t->kind) {
    case TASK_RUN: {
        if (sticky != LK_OK) return LK_OK;
        /* Clear this worker's last error so a missing message can be detected. The
         * CPU backend is linked into the dispatcher's library, so it can read the
         * message back with the public lk_last_error(). */
        CPU_ERROR(LK_OK, "%s", "");
        lk_status st = t->fn(&dev->pool, t->args);
        if (st != LK_OK) {
            const char* msg = lk_last_error();
            if (msg[0]) copy_message(message, msg);
            else snprintf(message, MESSAGE_CAPACITY, "a task failed with %s (no message)",
                          lk_status_name(st));
        }
        return st;
    }
    case TASK_RECORD: {
        /* The marker's status and message were filled in when the task was taken.
         * Its time is when the stream reached it on the device's clock (see
         * task_start_ns), the clock the emulated copies run on: stamped when this
         * thread got a core instead, a span around a copy that started on time
         * could come out shorter than the copy. */
        pthread_mutex_lock(&dev->markers_lock);
        t->marker->time_ns = task_start_ns > 0 ? task_start_ns : cpu_now_ns();
        t->marker->done = 1;
        /* markers_cv is shared by all markers: wake its sleepers only when one of
         * them waits for this marker, not on every record (most have no waiter).
         * Waking after the unlock keeps the woken thread from blocking at once on
         * the lock this thread still holds; a sleeper that checked `done` under
         * the lock is registered on the condition by then, so none is missed. */
        int wake = t->marker->waiters > 0;
        marker_unref(t->marker);
        pthread_mutex_unlock(&dev->markers_lock);
        if (wake) pthread_cond_broadcast(&dev->markers_cv);
        return LK_OK;
    }
    case TASK_WAIT: {
        cpu_marker* m = t->marker;
        lk_status st = LK_OK;
        pthread_mutex_lock(&dev->markers_lock);
        if (sticky == LK_OK) {
            m->waiters++;
            while (!m->done) pthread_cond_wait(&dev->markers_cv, &dev->markers_lock);
            m->waiters--;
            awaited_done_ns = m->time_ns;
            if (m->status != LK_OK) {
                /* Work after the wait depends on the failed work: fail this stream too. */
                st = m->status;
                snprintf(message, MESSAGE_CAPACITY, "lk_stream_wait_event: the awaited work failed: %.900s",
                         m->message);
            }
        }
        marker_unref(m);
        pthread_mutex_unlock(&dev->markers_lock);
        return st;
    }
    }
    return LK_OK;
}

static void* stream_main(void* arg) {
    cpu_stream* s = arg;
    char message[MESSAGE_CAPACITY];
    int busy = 0; /* counted in the pool's busy_streams */
    int64_t previous_done = 0; /* when the previous task would have finished on a device */
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->head && !s->stop) {
            if (busy) {
                atomic_fetch_sub(&s->dev->pool.busy_streams, 1);
                busy = 0;
            }
            s->sleeping = 1;
            pthread_cond_wait(&s->work, &s->lock);
            s->sleeping = 0;
        }
        if (!s->head) break; /* stopping and drained */
        if (!busy) {
            atomic_fetch_add(&s->dev->pool.busy_streams, 1);
            busy = 1;
        }
        cpu_task* t = s->head;
        s->head = t->next;
        if (!s->head) s->tail = NULL;
        lk_status sticky = s->error;
        if (t->kind == TASK_RECORD) {
            /* The marker reports the state of the stream at this point. The marker
             * is not done yet, so nobody reads these fields concurrently. */
            t->marker->status = sticky;
            copy_message(t->marker->message, sticky != LK_OK ? s->error_message : "");
        }
        pthread_mutex_unlock(&s->lock);

        message[0] = '\0';
        /* Device work starts once the stream's previous task is done on the device's
         * clock (an awaited or earlier copy may still be on the link). A copy over the
         * link needs no wait: it reserves its time after the previous task's end. */
        if (t->kind == TASK_RUN && !t->on_link && previous_done > cpu_now_ns()) wait_until_ns(previous_done);
        task_start_ns = t->enqueued_ns > previous_done ? t->enqueued_ns : previous_done;
        awaited_done_ns = 0;
        emulated_done_ns = 0;
        lk_status st = run_task(s, t, sticky, message);
        if (t->kind == TASK_WAIT)
            /* the wait is over when the awaited work is, not when this thread woke */
            previous_done = awaited_done_ns > task_start_ns ? awaited_done_ns : task_start_ns;
        else if (t->kind == TASK_RUN)
            previous_done = emulated_done_ns > 0 ? emulated_done_ns : cpu_now_ns();
        /* a record takes no time */
        free(t);

        pthread_mutex_lock(&s->lock);
        if (st != LK_OK && s->error == LK_OK) {
            s->error = st;
            copy_message(s->error_message, message);
        }
        s->completed++;
        s->done_at_ns = previous_done;
        /* Wake synchronizers only when the first of them is due: waking the host
         * thread after every task costs a context switch per op on a busy machine. */
        if (s->completed >= s->wake_at) {
            s->wake_at = UINT64_MAX;
            /* Outside the lock (see TASK_RECORD); the sleepers are registered. */
            pthread_mutex_unlock(&s->lock);
            pthread_cond_broadcast(&s->idle);
            pthread_mutex_lock(&s->lock);
        }
    }
    if (busy) atomic_fetch_sub(&s->dev->pool.busy_streams, 1);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void push_task(cpu_stream* s, cpu_task* t) {
    t->next = NULL;
    t->enqueued_ns = cpu_now_ns();
    pthread_mutex_lock(&s->lock);
    if (s->tail) s->tail->next = t;
    else s->head = t;
    s->tail = t;
    s->enqueued++;
    int wake = s->sleeping;
    pthread_mutex_unlock(&s->lock);
    /* After the unlock: the woken worker would otherwise preempt this thread only
     * to block on the lock it still holds. Only a sleeping worker needs the call. */
    if (wake) pthread_cond_signal(&s->work);
}

static cpu_task* new_task(const char* fn, task_kind kind, size_t args_size) {
    cpu_task* t = malloc(sizeof(cpu_task) + args_size);
    if (!t) {
        CPU_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "%s: out of host memory for a %zu-byte task", fn,
                  args_size);
        return NULL;
    }
    t->kind = kind;
    t->on_link = 0;
    t->fn = NULL;
    t->marker = NULL;
    return t;
}

static lk_status enqueue_task(lk_stream* stream, lk_cpu_task_fn fn, const void* args, size_t args_size,
                              int on_link) {
    cpu_task* t = new_task("lk_cpu_enqueue", TASK_RUN, args_size);
    if (!t) return LK_ERR_HOST_OUT_OF_MEMORY;
    t->fn = fn;
    t->on_link = on_link;
    if (args_size) memcpy(t->args, args, args_size);
    push_task((cpu_stream*)stream, t);
    return LK_OK;
}

lk_status lk_cpu_enqueue(lk_stream* stream, lk_cpu_task_fn fn, const void* args, size_t args_size) {
    return enqueue_task(stream, fn, args, args_size, 0);
}

/* ---- streams --------------------------------------------------------------------- */

lk_status lk_cpu_stream_create(lk_device* device, lk_stream** out) {
    cpu_device* dev = (cpu_device*)device;
    cpu_stream* s = calloc(1, sizeof *s);
    if (!s) return CPU_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "lk_stream_create: out of host memory");
    s->h.kind = LK_HANDLE_STREAM;
    s->h.iface = dev->h.iface;
    s->h.device = device;
    s->dev = dev;
    s->error = LK_OK;
    s->wake_at = UINT64_MAX;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->idle, NULL);
    int err = pthread_create(&s->thread, NULL, stream_main, s);
    if (err != 0) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->work);
        pthread_cond_destroy(&s->idle);
        free(s);
        return CPU_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "lk_stream_create: cannot start a worker thread (%s)",
                         strerror(err));
    }
    pthread_setname_np(s->thread, "lk-stream");
    pthread_mutex_lock(&dev->lock);
    cpu_list_push(&dev->streams, &s->link);
    pthread_mutex_unlock(&dev->lock);
    *out = (lk_stream*)s;
    return LK_OK;
}

/* Waits until every task enqueued before the call has run; returns the sticky error
 * (message copied into `message`) and clears it. Call with s->lock held. */
static lk_status drain_locked(cpu_stream* s, char* message) {
    uint64_t target = s->enqueued;
    while (s->completed < target) {
        /* Every wake-up resets wake_at, so each sleeper registers again. */
        if (target < s->wake_at) s->wake_at = target;
        pthread_cond_wait(&s->idle, &s->lock);
    }
    wait_until_unlocked(&s->lock, s->done_at_ns); /* an emulated copy may still be on the link */
    lk_status st = s->error;
    if (st != LK_OK) copy_message(message, s->error_message);
    s->error = LK_OK;
    s->error_message[0] = '\0';
    return st;
}

lk_status lk_cpu_stream_synchronize(lk_stream* stream) {
    cpu_stream* s = (cpu_stream*)stream;
    char message[MESSAGE_CAPACITY];
    pthread_mutex_lock(&s->lock);
    lk_status st = drain_locked(s, message);
    pthread_mutex_unlock(&s->lock);
    if (st != LK_OK) return CPU_ERROR(st, "%s", message);
    return LK_OK;
}

lk_status lk_cpu_stream_destroy(lk_stream* stream) {
    cpu_stream* s = (cpu_stream*)stream;
    char message[MESSAGE_CAPACITY];
    pthread_mutex_lock(&s->lock);
    lk_status st = drain_locked(s, message);
    s->stop = 1;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);

    cpu_device* dev = s->dev;
    pthread_mutex_lock(&dev->lock);
    cpu_list_remove(&s->link);
    pthread_mutex_unlock(&dev->lock);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->idle);
    s->h.kind = LK_HANDLE_FREED;
    free(s);
    /* The handle is gone either way; a pending error must still not be lost. */
    if (st != LK_OK)
        return CPU_ERROR(st, "lk_stream_destroy: stream destroyed; it had a pending error: %s",
                         message);
    return LK_OK;
}

lk_status lk_cpu_stream_wait_event(lk_stream* stream, lk_event* event) {
    cpu_stream* s = (cpu_stream*)stream;
    cpu_event* e = (cpu_event*)event;
    cpu_device* dev = s->dev;
    cpu_task* t = new_task("lk_stream_wait_event", TASK_WAIT, 0);
    if (!t) return LK_ERR_HOST_OUT_OF_MEMORY;
    pthread_mutex_lock(&dev->markers_lock);
    cpu_marker* m = e->latest;
    /* Never recorded, or already completed without error: nothing to wait for. */
    if (!m || (marker_complete(m) && m->status == LK_OK)) {
        pthread_mutex_unlock(&dev->markers_lock);
        free(t);
        return LK_OK;
    }
    m->refs++;
    pthread_mutex_unlock(&dev->markers_lock);
    t->marker = m;
    push_task(s, t);
    return LK_OK;
}

/* ---- events ------------------------------------------------------------------------ */

lk_status lk_cpu_event_create(lk_device* device, lk_event** out) {
    cpu_device* dev = (cpu_device*)device;
    cpu_event* e = calloc(1, sizeof *e);
    if (!e) return CPU_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "lk_event_create: out of host memory");
    e->h.kind = LK_HANDLE_EVENT;
    e->h.iface = dev->h.iface;
    e->h.device = device;
    pthread_mutex_lock(&dev->lock);
    cpu_list_push(&dev->events, &e->link);
    pthread_mutex_unlock(&dev->lock);
    *out = (lk_event*)e;
    return LK_OK;
}

lk_status lk_cpu_event_destroy(lk_event* event) {
    cpu_event* e = (cpu_event*)event;
    cpu_device* dev = (cpu_device*)e->h.device;
    /* A pending record keeps its own reference to the marker. */
    pthread_mutex_lock(&dev->markers_lock);
    marker_unref(e->latest);
    e->latest = NULL;
    pthread_mutex_unlock(&dev->markers_lock);
    pthread_mutex_lock(&dev->lock);
    cpu_list_remove(&e->link);
    pthread_mutex_unlock(&dev->lock);
    e->h.kind = LK_HANDLE_FREED;
    free(e);
    return LK_OK;
}

lk_status lk_cpu_event_record(lk_event* event, lk_stream* stream) {
    cpu_event* e = (cpu_event*)event;
    cpu_stream* s = (cpu_stream*)stream;
    cpu_device* dev = s->dev;
    cpu_task* t = new_task("lk_event_record", TASK_RECORD, 0);
    cpu_marker* m = calloc(1, sizeof *m);
    if (!t || !m) {
        free(t);
        free(m);
        return CPU_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "lk_event_record: out of host memory");
    }
    /* A stream whose thread sleeps with nothing queued has run all its work: the event completes then, at
     * once or when an emulated copy still on the link ends, as a GPU's would, without waking the thread.
     * On a busy 2-core machine that wake is a context switch, and the staging records one on the idle
     * copy stream at every decode layer. */
    pthread_mutex_lock(&s->lock);
    int idle = !s->head && s->sleeping && !s->stop;
    int64_t done_at = s->done_at_ns;
    if (idle) {
        m->status = s->error;
        copy_message(m->message, s->error != LK_OK ? s->error_message : "");
    }
    pthread_mutex_unlock(&s->lock);
    if (idle) {
        free(t);
        m->refs = 1; /* the event */
        m->done = 1;
        int64_t now = cpu_now_ns();
        m->time_ns = done_at > now ? done_at : now; /* after a copy still on the link */
    } else {
        m->refs = 2; /* the event and the task */
        t->marker = m;
    }
    pthread_mutex_lock(&dev->markers_lock);
    marker_unref(e->latest);
    e->latest = m;
    pthread_mutex_unlock(&dev->markers_lock);
    if (!idle) push_task(s, t);
    return LK_OK;
}

lk_status lk_cpu_event_query(lk_event* event) {
    cpu_event* e = (cpu_event*)event;
    cpu_device* dev = (cpu_device*)e->h.device;
    lk_status st = LK_OK;
    pthread_mutex_lock(&dev->markers_lock);
    cpu_marker* m = e->latest;
    if (m && !marker_complete(m))
        st = CPU_ERROR(LK_ERR_NOT_READY, "lk_event_query: the recorded work is still pending");
    else if (m && m->status != LK_OK)
        st = CPU_ERROR(m->status, "lk_event_query: the recorded work failed: %s", m->message);
    pthread_mutex_unlock(&dev->markers_lock);
    return st;
}

lk_status lk_cpu_event_synchronize(lk_event* event) {
    cpu_event* e = (cpu_event*)event;
    cpu_device* dev = (cpu_device*)e->h.device;
    lk_status st = LK_OK;
    pthread_mutex_lock(&dev->markers_lock);
    cpu_marker* m = e->latest;
    if (m) {
        m->refs++; /* the event may be re-recorded while we wait */
        m->waiters++;
        while (!m->done) pthread_cond_wait(&dev->markers_cv, &dev->markers_lock);
        m->waiters--;
        wait_until_unlocked(&dev->markers_lock, m->time_ns); /* a copy may still be on the link */
        if (m->status != LK_OK)
            st = CPU_ERROR(m->status, "lk_event_synchronize: the recorded work failed: %s",
                           m->message);
        marker_unref(m);
    }
    pthread_mutex_unlock(&dev->markers_lock);
    return st;
}

/* A completed, successful marker of `e` or an error naming argument `arg`. */
static lk_status completed_marker(cpu_event* e, const char* arg, cpu_marker** out) {
    cpu_marker* m = e->latest;
    if (!m)
        return CPU_ERROR(LK_ERR_INVALID_ARGUMENT, "lk_event_elapsed_ms: %s was never recorded", arg);
    if (!marker_complete(m))
        return CPU_ERROR(LK_ERR_NOT_READY, "lk_event_elapsed_ms: %s has not completed", arg);
    if (m->status != LK_OK)
        return CPU_ERROR(m->status, "lk_event_elapsed_ms: the work recorded by %s failed: %s", arg,
                         m->message);
    *out = m;
    return LK_OK;
}

lk_status lk_cpu_event_elapsed_ms(lk_event* start, lk_event* end, float* out_ms) {
    cpu_device* dev = (cpu_device*)((cpu_event*)start)->h.device;
    cpu_marker *a = NULL, *b = NULL;
    pthread_mutex_lock(&dev->markers_lock);
    lk_status st = completed_marker((cpu_event*)start, "start", &a);
    if (st == LK_OK) st = completed_marker((cpu_event*)end, "end", &b);
    if (st == LK_OK) *out_ms = (float)((double)(b->time_ns - a->time_ns) / 1e6);
    pthread_mutex_unlock(&dev->markers_lock);
    return st;
}

/* ---- copies --------------------------------------------------------------------- */

typedef enum { COPY_H2D, COPY_D2H, COPY_D2D, COPY_MEMSET, COPY_FILL_U32 } copy_kind;

typedef struct copy_args {
    cpu_device* dev;
    copy_kind kind;
    int value;       /* COPY_MEMSET's byte */
    uint32_t word;   /* COPY_FILL_U32's word */
    void* dst;
    const void* src;
    size_t bytes;
} copy_args;

/* A host-to-device copy over the emulated link. The link is one resource shared
 * by all streams, like a DMA engine: the copy reserves bytes / bandwidth on it,
 * from when it became ready on its stream or the link became free, whichever is
 * later, and is done when that reservation ends (emulated_done_ns). The bytes
 * move at once and the stream's thread goes on: it does not sleep through the
 * transfer (its wake at the copy's end would take a core from the compute threads
 * and come tens of microseconds late on a virtual machine). Whatever follows the
 * copy, on any stream or on the host, waits for its end on the device's clock
 * (stream_main, the markers, drain_locked). */
static void throttled_copy(cpu_device* dev, char* dst, const char* src, size_t bytes) {
    int64_t duration = (int64_t)((double)bytes * 1e9 / dev->link_bytes_per_s);
    pthread_mutex_lock(&dev->link_lock);
    int64_t earliest = task_start_ns > 0 ? task_start_ns : cpu_now_ns();
    int64_t begin = dev->link_free_at_ns > earliest ? dev->link_free_at_ns : earliest;
    dev->link_free_at_ns = begin + duration;
    emulated_done_ns = begin + duration;
    pthread_mutex_unlock(&dev->link_lock);
    /* In 1 MiB pieces, yielding between them: a large copy's memcpy is host CPU a DMA
     * engine would not take, so it gives way to a thread that waits for the core
     * (the host that enqueued it, a compute thread). */
    const size_t piece = (size_t)1 << 20;
    for (size_t off = 0; off < bytes; off += piece) {
        if (off > 0) sched_yield();
        memcpy(dst + off, src + off, bytes - off < piece ? bytes - off : piece);
    }
}

static lk_status copy_task(lk_cpu_pool* pool, void* p) {
    const copy_args* a = p;
    cpu_device* dev = a->dev;
    switch (a->kind) {
    case COPY_H2D:
        if (dev->link_bytes_per_s > 0) throttled_copy(dev, a->dst, a->src, a->bytes);
        else memcpy(a->dst, a->src, a->bytes);
        break;
    case COPY_D2H: /* read-backs are not throttled (see lk_device_options) */
        memcpy(a->dst, a->src, a->bytes);
        break;
    case COPY_D2D:
        memcpy(a->dst, a->src, a->bytes);
        break;
    case COPY_MEMSET:
        memset(a->dst, a->value, a->bytes);
        break;
    case COPY_FILL_U32: /* device work: never over the emulated link */
        for (size_t i = 0; i < a->bytes / 4; i++) ((uint32_t*)a->dst)[i] = a->word;
        break;
    }
    return LK_OK;
}

static lk_status enqueue_copy(lk_stream* stream, copy_kind kind, void* dst, const void* src,
                              int value, size_t bytes) {
    cpu_device* dev = ((cpu_stream*)stream)->dev;
    copy_args a = {.dev = dev, .kind = kind, .value = value, .dst = dst, .src = src, .bytes = bytes};
    int on_link = dev->link_bytes_per_s > 0 && kind == COPY_H2D;
    return enqueue_task(stream, copy_task, &a, sizeof a, on_link);
}

lk_status lk_cpu_copy_h2d(lk_stream* s, void* dst, const void* src, size_t bytes) {
    return enqueue_copy(s, COPY_H2D, dst, src, 0, bytes);
}

lk_status lk_cpu_copy_d2h(lk_stream* s, void* dst, const void* src, size_t bytes) {
    return enqueue_copy(s, COPY_D2H, dst, src, 0, bytes);
}

lk_status lk_cpu_copy_d2d(lk_stream* s, void* dst, const void* src, size_t bytes) {
    return enqueue_copy(s, COPY_D2D, dst, src, 0, bytes);
}

lk_status lk_cpu_memset(lk_stream* s, void* dst, int32_t value, size_t bytes) {
    return enqueue_copy(s, COPY_MEMSET, dst, NULL, value, bytes);
}

lk_status lk_cpu_fill_u32(lk_stream* s, uint32_t* dst, uint32_t value, size_t count) {
    copy_args a = {.dev = ((cpu_stream*)s)->dev, .kind = COPY_FILL_U32, .word = value, .dst = dst,
                   .bytes = count * 4};
    return lk_cpu_enqueue(s, copy_task, &a, sizeof a);
}
