/*
 * cpu_device.c — the CPU backend's device: options, the capacity-limited arena of
 * "device memory", pinned (here: page-aligned ordinary) host buffers, and the
 * backend's function table.
 */
#define _GNU_SOURCE
#include "cpu_runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { DEVICE_ALIGN = 256, HOST_ALIGN = 4096 };

static const lk_host_services* services;
/* Defined at the end of the file; every handle points at it. */
static const lk_backend_iface cpu_iface;

const lk_host_services* lk_cpu_services(void) { return services; }

int64_t cpu_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- lists ----------------------------------------------------------------------- */

void cpu_list_init(cpu_link* head) { head->prev = head->next = head; }

void cpu_list_push(cpu_link* head, cpu_link* node) {
    node->next = head;
    node->prev = head->prev;
    head->prev->next = node;
    head->prev = node;
}

void cpu_list_remove(cpu_link* node) {
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

/* First node of a list or NULL, under the device lock (device_close drains lists). */
static cpu_link* first_of(cpu_device* dev, cpu_link* head) {
    pthread_mutex_lock(&dev->lock);
    cpu_link* first = head->next == head ? NULL : head->next;
    pthread_mutex_unlock(&dev->lock);
    return first;
}

#define CONTAINER_OF(ptr, type, member) ((type*)((char*)(ptr) - offsetof(type, member)))

/* ---- byte amounts in messages ------------------------------------------------------ */

/* The three numbers of an out-of-memory message share the unit of the largest. */
static void unit_for(size_t largest, double* div, const char** unit) {
    if (largest >= ((size_t)1 << 30)) { *div = (double)((size_t)1 << 30); *unit = "GiB"; }
    else if (largest >= ((size_t)1 << 20)) { *div = (double)((size_t)1 << 20); *unit = "MiB"; }
    else if (largest >= 1024) { *div = 1024.0; *unit = "KiB"; }
    else { *div = 1.0; *unit = "B"; }
}

/* ---- device ------------------------------------------------------------------------ */

static size_t physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return (size_t)1 << 30;
    return (size_t)pages * (size_t)page;
}

static lk_status cpu_device_open(const lk_device_options* options, lk_device** out) {
    cpu_device* dev = calloc(1, sizeof *dev);
    if (!dev) return CPU_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "lk_device_open: out of host memory");
    int threads = options ? options->threads : 0;
    if (threads <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        threads = online > 0 ? (int)(online > 1024 ? 1024 : online) : 1;
    }
    dev->threads = threads;
    dev->capacity = options && options->memory_limit ? options->memory_limit : physical_memory() / 2;
    dev->link_bytes_per_s = options ? options->link_bytes_per_s : 0.0;
    int len = snprintf(dev->name, sizeof dev->name, "cpu (%d thread%s)", threads,
                       threads == 1 ? "" : "s");
    if (dev->link_bytes_per_s > 0)
        snprintf(dev->name + len, sizeof dev->name - (size_t)len, " [emulated link %.3g GB/s]",
                 dev->link_bytes_per_s / 1e9);

    lk_status st = lk_cpu_pool_init(&dev->pool, threads);
    if (st != LK_OK) {
        free(dev);
        return st;
    }
    pthread_mutex_init(&dev->lock, NULL);
    pthread_mutex_init(&dev->link_lock, NULL);
    pthread_mutex_init(&dev->markers_lock, NULL);
    pthread_cond_init(&dev->markers_cv, NULL);
    cpu_list_init(&dev->buffers);
    cpu_list_init(&dev->host_buffers);
    cpu_list_init(&dev->streams);
    cpu_list_init(&dev->events);
    dev->h.kind = LK_HANDLE_DEVICE;
    dev->h.iface = &cpu_iface;
    dev->h.device = (lk_device*)dev;
    *out = (lk_device*)dev;
    return LK_OK;
}

static void free_buffer(cpu_device* dev, cpu_buffer* b) {
    pthread_mutex_lock(&dev->lock);
    cpu_list_remove(&b->link);
    dev->used -= b->accounted;
    pthread_mutex_unlock(&dev->lock);
    free(b->ptr);
    b->h.kind = LK_HANDLE_FREED;
    free(b);
}

static void free_host_buffer(cpu_device* dev, cpu_host_buffer* b) {
    pthread_mutex_lock(&dev->lock);
    cpu_list_remove(&b->link);
    pthread_mutex_unlock(&dev->lock);
    free(b->ptr);
    b->h.kind = LK_HANDLE_FREED;
    free(b);
}

static lk_status cpu_device_close(lk_device* device) {
    cpu_device* dev = (cpu_device*)device;
    /* Streams first: destroying one drains it. A stream may wait on an event
     * recorded on another; the other keeps running, so the order does not matter.
     * The first pending stream error is reported after everything is freed. */
    lk_status result = LK_OK;
    char* first_message = NULL;
    cpu_link* node;
    while ((node = first_of(dev, &dev->streams)) != NULL) {
        lk_status st = lk_cpu_stream_destroy((lk_stream*)cpu_stream_of_link(node));
        if (st != LK_OK && result == LK_OK) {
            result = st;
            first_message = strdup(lk_last_error());
        }
    }
    while ((node = first_of(dev, &dev->events)) != NULL)
        lk_cpu_event_destroy((lk_event*)cpu_event_of_link(node));
    while ((node = first_of(dev, &dev->buffers)) != NULL)
        free_buffer(dev, CONTAINER_OF(node, cpu_buffer, link));
    while ((node = first_of(dev, &dev->host_buffers)) != NULL)
        free_host_buffer(dev, CONTAINER_OF(node, cpu_host_buffer, link));

    lk_cpu_pool_destroy(&dev->pool);
    pthread_mutex_destroy(&dev->lock);
    pthread_mutex_destroy(&dev->link_lock);
    pthread_mutex_destroy(&dev->markers_lock);
    pthread_cond_destroy(&dev->markers_cv);
    dev->h.kind = LK_HANDLE_FREED;
    free(dev);
    if (result != LK_OK) {
        CPU_ERROR(result, "lk_device_close: device closed; a stream had a pending error: %s",
                  first_message ? first_message : "(message lost: out of memory)");
        free(first_message);
    }
    return result;
}

static lk_status cpu_device_get_info(lk_device* device, lk_device_info* out) {
    cpu_device* dev = (cpu_device*)device;
    snprintf(out->backend, sizeof out->backend, "cpu");
    snprintf(out->name, sizeof out->name, "%s", dev->name);
    pthread_mutex_lock(&dev->lock);
    out->total_memory = dev->capacity;
    out->free_memory = dev->capacity - dev->used;
    pthread_mutex_unlock(&dev->lock);
    out->cc_major = 0;
    out->cc_minor = 0;
    out->async_copy_engines = 1;
    out->multiprocessors = dev->threads;
    out->link_bytes_per_s = dev->link_bytes_per_s;
    return LK_OK;
}

/* ---- device memory ------------------------------------------------------------------- */

static lk_status cpu_buffer_alloc(lk_device* device, size_t bytes, lk_buffer** out) {
    cpu_device* dev = (cpu_device*)device;
    /* posix_memalign needs no multiple, but charging whole 256-byte blocks keeps
     * the accounting close to what a GPU allocator would report. */
    size_t rounded = (bytes + DEVICE_ALIGN - 1) / DEVICE_ALIGN * DEVICE_ALIGN;
    pthread_mutex_lock(&dev->lock);
    size_t free_bytes = dev->capacity - dev->used;
    if (rounded < bytes || rounded > free_bytes) {
        size_t capacity = dev->capacity;
        pthread_mutex_unlock(&dev->lock);
        double div;
        const char* unit;
        unit_for(bytes > capacity ? bytes : capacity, &div, &unit);
        return CPU_ERROR(LK_ERR_OUT_OF_MEMORY,
                         "lk_buffer_alloc: %.1f %s requested, %.1f %s free of %.1f %s",
                         (double)bytes / div, unit, (double)free_bytes / div, unit,
                         (double)capacity / div, unit);
    }
    dev->used += rounded;
    pthread_mutex_unlock(&dev->lock);

    cpu_buffer* b = calloc(1, sizeof *b);
    void* ptr = NULL;
    int err = b ? posix_memalign(&ptr, DEVICE_ALIGN, rounded) : ENOMEM;
    if (err != 0) {
        free(b);
        pthread_mutex_lock(&dev->lock);
        dev->used -= rounded;
        pthread_mutex_unlock(&dev->lock);
        return CPU_ERROR(LK_ERR_OUT_OF_MEMORY,
                         "lk_buffer_alloc: the host cannot back %zu bytes of CPU device memory "
                         "(%s)", bytes, strerror(err));
    }
    b->h.kind = LK_HANDLE_BUFFER;
    b->h.iface = dev->h.iface;
    b->h.device = device;
    b->ptr = ptr;
    b->accounted = rounded;
    pthread_mutex_lock(&dev->lock);
    cpu_list_push(&dev->buffers, &b->link);
    pthread_mutex_unlock(&dev->lock);
    *out = (lk_buffer*)b;
    return LK_OK;
}

static lk_status cpu_buffer_free(lk_buffer* buffer) {
    cpu_buffer* b = (cpu_buffer*)buffer;
    free_buffer((cpu_device*)b->h.device, b);
    return LK_OK;
}

static lk_status cpu_buffer_ptr(lk_buffer* buffer, void** out) {
    *out = ((cpu_buffer*)buffer)->ptr;
    return LK_OK;
}

static lk_status cpu_host_buffer_alloc(lk_device* device, size_t bytes, lk_host_buffer** out) {
    cpu_device* dev = (cpu_device*)device;
    cpu_host_buffer* b = calloc(1, sizeof *b);
    void* ptr = NULL;
    int err = b ? posix_memalign(&ptr, HOST_ALIGN, bytes) : ENOMEM;
    if (err != 0) {
        free(b);
        return CPU_ERROR(LK_ERR_HOST_OUT_OF_MEMORY,
                         "lk_host_buffer_alloc: cannot allocate %zu bytes of host memory (%s)",
                         bytes, strerror(err));
    }
    b->h.kind = LK_HANDLE_HOST_BUFFER;
    b->h.iface = dev->h.iface;
    b->h.device = device;
    b->ptr = ptr;
    pthread_mutex_lock(&dev->lock);
    cpu_list_push(&dev->host_buffers, &b->link);
    pthread_mutex_unlock(&dev->lock);
    *out = (lk_host_buffer*)b;
    return LK_OK;
}

static lk_status cpu_host_buffer_free(lk_host_buffer* buffer) {
    cpu_host_buffer* b = (cpu_host_buffer*)buffer;
    free_host_buffer((cpu_device*)b->h.device, b);
    return LK_OK;
}

static lk_status cpu_host_buffer_ptr(lk_host_buffer* buffer, void** out) {
    *out = ((cpu_host_buffer*)buffer)->ptr;
    return LK_OK;
}

/* ---- the function table ------------------------------------------------------------- */

/* Profiler ranges: the CPU backend has no external profiler to feed (the dispatcher checks
 * nesting for every backend); `lookahead profile` records CPU timelines with events instead. */
static lk_status cpu_range_push(lk_device* device, const char* name) {
    (void)device;
    (void)name;
    return LK_OK;
}

static lk_status cpu_range_pop(lk_device* device) {
    (void)device;
    return LK_OK;
}

static const lk_backend_iface cpu_iface = {
    .struct_size = sizeof(lk_backend_iface),
    .name = "cpu",
    .device_open = cpu_device_open,
    .device_close = cpu_device_close,
    .device_get_info = cpu_device_get_info,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_ptr = cpu_buffer_ptr,
    .host_buffer_alloc = cpu_host_buffer_alloc,
    .host_buffer_free = cpu_host_buffer_free,
    .host_buffer_ptr = cpu_host_buffer_ptr,
    .stream_create = lk_cpu_stream_create,
    .stream_destroy = lk_cpu_stream_destroy,
    .stream_synchronize = lk_cpu_stream_synchronize,
    .stream_wait_event = lk_cpu_stream_wait_event,
    .event_create = lk_cpu_event_create,
    .event_destroy = lk_cpu_event_destroy,
    .event_record = lk_cpu_event_record,
    .event_query = lk_cpu_event_query,
    .event_synchronize = lk_cpu_event_synchronize,
    .event_elapsed_ms = lk_cpu_event_elapsed_ms,
    .copy_h2d = lk_cpu_copy_h2d,
    .copy_d2h = lk_cpu_copy_d2h,
    .copy_d2d = lk_cpu_copy_d2d,
    .memset = lk_cpu_memset,
    .fill_u32 = lk_cpu_fill_u32,
    .embedding = lk_cpu_embedding,
    .rmsnorm = lk_cpu_rmsnorm,
    .rope = lk_cpu_rope,
    .matmul = lk_cpu_matmul,
    .qmatvec = lk_cpu_qmatvec,
    .qmatmul = lk_cpu_qmatmul,
    .swiglu = lk_cpu_swiglu,
    .add = lk_cpu_add,
    .gather_rows = lk_cpu_gather_rows,
    .scatter_add_rows = lk_cpu_scatter_add_rows,
    .convert = lk_cpu_convert,
    .router_topk = lk_cpu_router_topk,
    .attention = lk_cpu_attention,
    .range_push = cpu_range_push,
    .range_pop = cpu_range_pop,
    .router_heads = lk_cpu_router_heads,
    .expert_swiglu = lk_cpu_expert_swiglu,
};

lk_status lk_cpu_backend(const lk_host_services* host, const lk_backend_iface** out) {
    /* Called once by the dispatcher, under its lock, before any device exists. */
    services = host;
    *out = &cpu_iface;
    return LK_OK;
}
