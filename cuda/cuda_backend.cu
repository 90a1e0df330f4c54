/*
 * cuda_backend.cu — the CUDA backend's runtime half: device open/close/info, device
 * and pinned buffers, streams, events, async copies, and the function table the
 * dispatcher loads with dlsym(LK_CUDA_BACKEND_ENTRY).
 *
 * The dispatcher validated every argument it can see (null pointers, sizes, handle
 * kinds, same device); this file only reports what the CUDA runtime says.
 *
 * Choices:
 *  - cudart is linked statically: without a driver the library still loads and
 *    lk_device_open reports LK_ERR_BACKEND_UNAVAILABLE with the runtime's message.
 *  - Streams are cudaStreamNonBlocking, so they never serialize with the legacy
 *    default stream that a library in the same process might use.
 *  - Events keep timing enabled (lk_event_elapsed_ms) and use the default spin wait:
 *    the engine waits on events on its critical path, where the tens of
 *    microseconds of a blocking-sync wake-up would show in decode latency.
 *  - memory_limit caps what this device handle allocates (buffers and per-stream
 *    scratch), so a run can emulate a smaller GPU.
 *  - link_bytes_per_s > 0 emulates a slower host-to-device link, as the CPU backend
 *    does: each lk_copy_h2d is followed on its stream by a one-thread kernel that holds
 *    the stream until the copy's time on that link has passed (see link_hold_kernel).
 *    It lets a small model be measured with a real device and host at the transfer /
 *    compute ratio of a large one (bench --emulate-link).
 *  - Kernel-side errors (an embedding id out of range) go to a word per stream (see
 *    lk_cuda_kerr) and are reported by lk_stream_synchronize (once, then cleared) and
 *    by lk_event_query / lk_event_synchronize of events recorded on that stream.
 *    Unlike the CPU backend, later work of the stream still runs after such an error
 *    (a GPU stream cannot skip queued kernels); the faulty rows are zero.
 *    Faults of the CUDA runtime itself (an illegal address) are sticky in the CUDA
 *    context and surface as LK_ERR_DEVICE from every later call.
 */
#include "cuda_common.cuh"
#include <nvtx3/nvToolsExt.h>

#include <stdio.h>
#include <string.h>
#include <new>

const lk_host_services* g_lk_cuda_services = nullptr;

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

lk_status lk_cuda_fail(cudaError_t err, const char* what) {
    (void)cudaGetLastError(); /* clear the non-sticky last error */
    lk_status st = LK_ERR_DEVICE;
    if (err == cudaErrorMemoryAllocation) st = LK_ERR_OUT_OF_MEMORY;
    else if (err == cudaErrorNotReady) st = LK_ERR_NOT_READY;
    return LK_SET_ERROR(st, "cuda: %s: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
}

lk_status lk_cuda_check_launch(const char* what) {
    cudaError_t err = cudaGetLastError();
    /* cudaErrorNotReady is a query result, never a launch failure. */
    if (err == cudaSuccess || err == cudaErrorNotReady) return LK_OK;
    return lk_cuda_fail(err, what);
}

lk_status lk_cuda_bind(lk_device* dev) {
    cudaError_t err = cudaSetDevice(dev->ordinal);
    if (err != cudaSuccess) return lk_cuda_fail(err, "cudaSetDevice");
    return LK_OK;
}

/* ------------------------------------------------------------------------ */
/* Intrusive lists of what a device owns (under dev->mu)                     */
/* ------------------------------------------------------------------------ */

template <typename T> static void list_push(T*& head, T* item) {
    item->prev = nullptr;
    item->next = head;
    if (head) head->prev = item;
    head = item;
}
template <typename T> static void list_remove(T*& head, T* item) {
    if (item->prev) item->prev->next = item->next;
    else head = item->next;
    if (item->next) item->next->prev = item->prev;
    item->prev = item->next = nullptr;
}

static const lk_backend_iface* cuda_iface(void);

static void init_handle(lk_handle* h, uint32_t kind, lk_device* dev) {
    h->kind = kind;
    h->reserved = 0;
    h->iface = cuda_iface();
    h->device = dev;
}

/* Charges `bytes` against the memory limit; LK_ERR_OUT_OF_MEMORY if it would pass it. */
static lk_status charge(lk_device* dev, size_t bytes, const char* what) {
    std::lock_guard<std::mutex> lock(dev->mu);
    if (dev->memory_limit && (dev->charged > dev->memory_limit || bytes > dev->memory_limit - dev->charged))
        return LK_SET_ERROR(LK_ERR_OUT_OF_MEMORY,
                            "cuda: %s of %zu bytes exceeds the memory_limit of %zu bytes (%zu in use)",
                            what, bytes, dev->memory_limit, dev->charged);
    dev->charged += bytes;
    return LK_OK;
}
static void uncharge(lk_device* dev, size_t bytes) {
    std::lock_guard<std::mutex> lock(dev->mu);
    dev->charged = bytes > dev->charged ? 0 : dev->charged - bytes;
}

/* cudaMalloc hands out blocks in multiples of at least 256 bytes (its alignment):
 * charge what the allocation really occupies at that granularity. */
static size_t charged_size(size_t bytes) { return (bytes + 255) & ~(size_t)255; }

/* ------------------------------------------------------------------------ */
/* Device                                                                    */
/* ------------------------------------------------------------------------ */

static lk_status query_attr(int* out, cudaDeviceAttr attr, int ordinal, const char* what) {
    LK_CUDA_TRY(cudaDeviceGetAttribute(out, attr, ordinal), what);
    return LK_OK;
}

static lk_status cuda_device_open(const lk_device_options* options, lk_device** out) {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        return LK_SET_ERROR(LK_ERR_BACKEND_UNAVAILABLE, "cuda: no usable CUDA driver or device: %s (%s)",
                            cudaGetErrorString(err), cudaGetErrorName(err));
    }
    if (count <= 0)
        return LK_SET_ERROR(LK_ERR_BACKEND_UNAVAILABLE, "cuda: no CUDA device found");
    const int ordinal = options ? options->ordinal : 0;
    if (ordinal < 0 || ordinal >= count)
        return LK_SET_ERROR(LK_ERR_BACKEND_UNAVAILABLE, "cuda: device ordinal %d requested, %d device(s) present",
                            ordinal, count);

    int major = 0, minor = 0;
    lk_status st;
    if ((st = query_attr(&major, cudaDevAttrComputeCapabilityMajor, ordinal, "compute capability")) != LK_OK) return st;
    if ((st = query_attr(&minor, cudaDevAttrComputeCapabilityMinor, ordinal, "compute capability")) != LK_OK) return st;
    /* The library carries sm_80 and sm_90 code and sm_90 PTX; mma.sync bf16 needs sm_80. */
    if (major < 8)
        return LK_SET_ERROR(LK_ERR_BACKEND_UNAVAILABLE,
                            "cuda: device %d has compute capability %d.%d; this backend needs 8.0 or newer",
                            ordinal, major, minor);

    LK_CUDA_TRY(cudaSetDevice(ordinal), "cudaSetDevice");
    /* Creates the primary context now, so the first op does not pay for it. */
    LK_CUDA_TRY(cudaFree(nullptr), "context creation");

    lk_device* dev = new (std::nothrow) lk_device();
    if (!dev) return LK_SET_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "cuda: out of host memory for the device");
    init_handle(&dev->h, LK_HANDLE_DEVICE, dev);
    dev->ordinal = ordinal;
    dev->memory_limit = options ? options->memory_limit : 0;
    dev->cc_major = major;
    dev->cc_minor = minor;

    cudaDeviceProp prop;
    err = cudaGetDeviceProperties(&prop, ordinal);
    if (err != cudaSuccess) {
        delete dev;
        return lk_cuda_fail(err, "cudaGetDeviceProperties");
    }
    {
        size_t len = strnlen(prop.name, sizeof prop.name);
        if (len >= sizeof dev->name) len = sizeof dev->name - 1;
        memcpy(dev->name, prop.name, len);
        dev->name[len] = '\0';
    }
    dev->total_memory = prop.totalGlobalMem;
    if ((st = query_attr(&dev->async_engines, cudaDevAttrAsyncEngineCount, ordinal, "async engines")) != LK_OK ||
        (st = query_attr(&dev->sms, cudaDevAttrMultiProcessorCount, ordinal, "SM count")) != LK_OK ||
        (st = query_attr(&dev->smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, ordinal, "smem")) != LK_OK ||
        (st = query_attr(&dev->smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, ordinal, "smem")) != LK_OK ||
        (st = query_attr(&dev->smem_reserved, cudaDevAttrReservedSharedMemoryPerBlock, ordinal, "smem")) != LK_OK) {
        delete dev;
        return st;
    }
    if ((st = lk_cuda_quant_init(dev)) != LK_OK || (st = lk_cuda_attention_init(dev)) != LK_OK) {
        delete dev;
        return st;
    }
    dev->link_bytes_per_s = options ? options->link_bytes_per_s : 0.0;
    if (dev->link_bytes_per_s > 0) {
        err = cudaMalloc(&dev->link_free_ns, sizeof *dev->link_free_ns);
        if (err == cudaSuccess) err = cudaMemset(dev->link_free_ns, 0, sizeof *dev->link_free_ns);
        /* the legacy stream's memset does not order the engine's non-blocking streams: wait for it here */
        if (err == cudaSuccess) err = cudaDeviceSynchronize();
        if (err != cudaSuccess) {
            if (dev->link_free_ns) cudaFree(dev->link_free_ns);
            delete dev;
            return lk_cuda_fail(err, "the emulated link's clock word");
        }
        size_t len = strlen(dev->name);
        snprintf(dev->name + len, sizeof dev->name - len, " [emulated link %.3g GB/s]", dev->link_bytes_per_s / 1e9);
    }
    *out = dev;
    return LK_OK;
}

static void destroy_stream_resources(lk_stream* s);

static lk_status cuda_device_close(lk_device* dev) {
    lk_status first = lk_cuda_bind(dev);
    if (first == LK_OK) {
        cudaError_t err = cudaDeviceSynchronize();
        if (err != cudaSuccess) first = lk_cuda_fail(err, "cudaDeviceSynchronize at device close");
    }
    /* Detach the lists under the lock, free outside it (freeing a stream's scratch
     * takes the lock again). Everything is freed even after an error: the handle is
     * gone when this returns. */
    lk_event* events;
    lk_stream* streams;
    lk_buffer* buffers;
    lk_host_buffer* host_buffers;
    {
        std::lock_guard<std::mutex> lock(dev->mu);
        events = dev->events;
        streams = dev->streams;
        buffers = dev->buffers;
        host_buffers = dev->host_buffers;
        dev->events = nullptr;
        dev->streams = nullptr;
        dev->buffers = nullptr;
        dev->host_buffers = nullptr;
    }
    while (lk_event* e = events) {
        events = e->next;
        cudaEventDestroy(e->e);
        e->h.kind = LK_HANDLE_FREED;
        delete e;
    }
    while (lk_stream* s = streams) {
        streams = s->next;
        destroy_stream_resources(s);
        s->h.kind = LK_HANDLE_FREED;
        delete s;
    }
    while (lk_buffer* b = buffers) {
        buffers = b->next;
        cudaFree(b->ptr);
        b->h.kind = LK_HANDLE_FREED;
        delete b;
    }
    while (lk_host_buffer* b = host_buffers) {
        host_buffers = b->next;
        cudaFreeHost(b->ptr);
        b->h.kind = LK_HANDLE_FREED;
        delete b;
    }
    if (dev->link_free_ns) cudaFree(dev->link_free_ns);
    (void)cudaGetLastError();
    dev->h.kind = LK_HANDLE_FREED;
    delete dev;
    return first;
}

static lk_status cuda_device_get_info(lk_device* dev, lk_device_info* out) {
    lk_status st = lk_cuda_bind(dev);
    if (st != LK_OK) return st;
    size_t free_b = 0, total_b = 0;
    LK_CUDA_TRY(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");

    lk_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    snprintf(info.backend, sizeof info.backend, "cuda");
    memcpy(info.name, dev->name, sizeof info.name < sizeof dev->name ? sizeof info.name : sizeof dev->name);
    info.name[sizeof info.name - 1] = '\0';
    size_t total = dev->total_memory, free_m = free_b;
    {
        std::lock_guard<std::mutex> lock(dev->mu);
        if (dev->memory_limit) {
            if (dev->memory_limit < total) total = dev->memory_limit;
            size_t left = dev->charged >= dev->memory_limit ? 0 : dev->memory_limit - dev->charged;
            if (left < free_m) free_m = left;
        }
    }
    info.total_memory = total;
    info.free_memory = free_m;
    info.cc_major = dev->cc_major;
    info.cc_minor = dev->cc_minor;
    info.async_copy_engines = dev->async_engines;
    info.multiprocessors = dev->sms;
    info.link_bytes_per_s = dev->link_bytes_per_s;
    /* The caller's struct may be older (smaller) than ours: copy what it has room for. */
    size_t n = out->struct_size < sizeof info ? out->struct_size : sizeof info;
    memcpy((char*)out + sizeof(size_t), (const char*)&info + sizeof(size_t), n - sizeof(size_t));
    return LK_OK;
}

/* ------------------------------------------------------------------------ */
/* Buffers                                                                   */
/* ------------------------------------------------------------------------ */

static lk_status cuda_buffer_alloc(lk_device* dev, size_t bytes, lk_buffer** out) {
    lk_status st = lk_cuda_bind(dev);
    if (st != LK_OK) return st;
    const size_t charged = charged_size(bytes);
    if ((st = charge(dev, charged, "lk_buffer_alloc")) != LK_OK) return st;
    lk_buffer* b = new (std::nothrow) lk_buffer();
    if (!b) {
        uncharge(dev, charged);
        return LK_SET_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "cuda: out of host memory for a buffer handle");
    }
    cudaError_t err = cudaMalloc(&b->ptr, bytes); /* 256-byte aligned (at least) */
    if (err != cudaSuccess) {
        delete b;
        uncharge(dev, charged);
        (void)cudaGetLastError();
        if (err == cudaErrorMemoryAllocation)
            return LK_SET_ERROR(LK_ERR_OUT_OF_MEMORY, "cuda: cudaMalloc of %zu bytes failed: out of device memory",
                                bytes);
        return lk_cuda_fail(err, "cudaMalloc");
    }
    init_handle(&b->h, LK_HANDLE_BUFFER, dev);
    b->bytes = bytes;
    b->charged = charged;
    {
        std::lock_guard<std::mutex> lock(dev->mu);
        list_push(dev->buffers, b);
    }
    *out = b;
    return LK_OK;
}

static lk_status cuda_buffer_free(lk_buffer* b) {
    lk_device* dev = b->h.device;
    lk_status st = lk_cuda_bind(dev);
    {
        std::lock_guard<std::mutex> lock(dev->mu);
        list_remove(dev->buffers, b);
    }
    /* cudaFree waits for work that may still read the buffer. */
    cudaError_t err = cudaFree(b->ptr);
    uncharge(dev, b->charged);
    b->h.kind = LK_HANDLE_FREED;
    delete b;
    if (st != LK_OK) return st;
    if (err != cudaSuccess) return lk_cuda_fail(err, "cudaFree");
    return LK_OK;
}

static lk_status cuda_buffer_ptr(lk_buffer* b, void** out) {
    *out = b->ptr;
    return LK_OK;
}

static lk_status cuda_host_buffer_alloc(lk_device* dev, size_t bytes, lk_host_buffer** out) {
    lk_status st = lk_cuda_bind(dev);
    if (st != LK_OK) return st;
    lk_host_buffer* b = new (std::nothrow) lk_host_buffer();
    if (!b) return LK_SET_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "cuda: out of host memory for a host buffer handle");
    /* Page-locked, page-aligned (4096 or more). Portable would only matter with
     * several GPUs sharing one buffer. */
    cudaError_t err = cudaHostAlloc(&b->ptr, bytes, cudaHostAllocDefault);
    if (err != cudaSuccess) {
        delete b;
        (void)cudaGetLastError();
        return LK_SET_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "cuda: cudaHostAlloc of %zu pinned bytes failed: %s", bytes,
                            cudaGetErrorString(err));
    }
    init_handle(&b->h, LK_HANDLE_HOST_BUFFER, dev);
    b->bytes = bytes;
    {
        std::lock_guard<std::mutex> lock(dev->mu);
        list_push(dev->host_buffers, b);
    }
    *out = b;
    return LK_OK;
}

static lk_status cuda_host_buffer_free(lk_host_buffer* b) {
    lk_device* dev = b->h.device;
    lk_status st = lk_cuda_bind(dev);
    {
        std::lock_guard<std::mutex> lock(dev->mu);
        list_remove(dev->host_buffers, b);
    }
    cudaError_t err = cudaFreeHost(b->ptr); /* waits for copies still reading it */
    b->h.kind = LK_HANDLE_FREED;
    delete b;
    if (st != LK_OK) return st;
    if (err != cudaSuccess) return lk_cuda_fail(err, "cudaFreeHost");
    return LK_OK;
}

static lk_status cuda_host_buffer_ptr(lk_host_buffer* b, void** out) {
    *out = b->ptr;
    return LK_OK;
}

/* ------------------------------------------------------------------------ */
/* Streams and their error words                                             */
/* ------------------------------------------------------------------------ */

static void destroy_stream_resources(lk_stream* s) {
    if (s->s) {
        cudaStreamSynchronize(s->s);
        cudaStreamDestroy(s->s);
    }
    if (s->ws) {
        cudaFree(s->ws);
        uncharge(s->h.device, s->ws_bytes);
    }
    if (s->kerr_host) cudaFreeHost(s->kerr_host);
    s->s = nullptr;
    s->ws = nullptr;
    s->kerr_host = nullptr;
}

static lk_status cuda_stream_create(lk_device* dev, lk_stream** out) {
    lk_status st = lk_cuda_bind(dev);
    if (st != LK_OK) return st;
    lk_stream* s = new (std::nothrow) lk_stream();
    if (!s) return LK_SET_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "cuda: out of host memory for a stream handle");
    init_handle(&s->h, LK_HANDLE_STREAM, dev);
    cudaError_t err = cudaStreamCreateWithFlags(&s->s, cudaStreamNonBlocking);
    if (err != cudaSuccess) {
        s->s = nullptr;
        delete s;
        return lk_cuda_fail(err, "cudaStreamCreateWithFlags");
    }
    err = cudaHostAlloc((void**)&s->kerr_host, sizeof(lk_cuda_kerr), cudaHostAllocMapped);
    if (err == cudaSuccess) err = cudaHostGetDevicePointer((void**)&s->kerr_dev, s->kerr_host, 0);
    if (err != cudaSuccess) {
        st = lk_cuda_fail(err, "mapped error word of a stream");
        destroy_stream_resources(s);
        delete s;
        return st;
    }
    memset(s->kerr_host, 0, sizeof(lk_cuda_kerr));
    {
        std::lock_guard<std::mutex> lock(dev->mu);
        list_push(dev->streams, s);
    }
    *out = s;
    return LK_OK;
}

static lk_status kerr_message(const lk_cuda_kerr* k, char* msg, size_t n);

static lk_status cuda_stream_destroy(lk_stream* s) {
    lk_device* dev = s->h.device;
    lk_status st = lk_cuda_bind(dev);
    {
        std::lock_guard<std::mutex> lock(dev->mu);
        list_remove(dev->streams, s);
        /* Events recorded on this stream must not read its error word any more. */
        for (lk_event* e = dev->events; e; e = e->next)
            if (e->stream == s) e->stream = nullptr;
    }
    /* A kernel-side error not reported yet must not vanish with the stream (the CPU backend says so too). */
    char msg[256];
    lk_status pending = LK_OK;
    if (st == LK_OK && s->s && s->kerr_host) {
        cudaError_t err = cudaStreamSynchronize(s->s);
        if (err != cudaSuccess) st = lk_cuda_fail(err, "cudaStreamSynchronize in lk_stream_destroy");
        else pending = kerr_message(s->kerr_host, msg, sizeof msg);
    }
    destroy_stream_resources(s);
    s->h.kind = LK_HANDLE_FREED;
    delete s;
    if (pending != LK_OK)
        return LK_SET_ERROR(pending, "cuda: lk_stream_destroy: stream destroyed; it had a pending error: %s", msg);
    return st;
}

/* The status and message of a kernel-side error word (the word is left as is); LK_OK when clear. */
static lk_status kerr_message(const lk_cuda_kerr* k, char* msg, size_t n) {
    const volatile lk_cuda_kerr* v = k;
    unsigned code = v->code;
    if (code == LK_KERR_NONE) return LK_OK;
    unsigned long long info = v->info;
    unsigned op_arg = v->op_arg;
    unsigned row = (unsigned)(info >> 32);
    int value = (int)(uint32_t)info;
    switch (code) {
    case LK_KERR_EMBED_ID:
        snprintf(msg, n, "cuda: lk_embedding: token id %d at row %u is outside [0, %u); its row was zeroed", value,
                 row, op_arg);
        return LK_ERR_INVALID_ARGUMENT;
    case LK_KERR_GATHER_IDX:
        snprintf(msg, n, "cuda: lk_gather_rows: negative index %d at row %u; its row was zeroed", value, row);
        return LK_ERR_INVALID_ARGUMENT;
    case LK_KERR_SCATTER_IDX:
        snprintf(msg, n, "cuda: lk_scatter_add_rows: negative index %d at row %u; that row was skipped", value, row);
        return LK_ERR_INVALID_ARGUMENT;
    default:
        snprintf(msg, n, "cuda: unknown kernel error code %u", code);
        return LK_ERR_INTERNAL;
    }
}

/* Reports a kernel-side error word as the calling thread's error (the word is left as is). */
static lk_status report_kerr(const lk_cuda_kerr* k) {
    char msg[256];
    lk_status st = kerr_message(k, msg, sizeof msg);
    return st == LK_OK ? LK_OK : LK_SET_ERROR(st, "%s", msg);
}

static lk_status cuda_stream_synchronize(lk_stream* s) {
    LK_BIND_STREAM(s);
    LK_CUDA_TRY(cudaStreamSynchronize(s->s), "cudaStreamSynchronize");
    lk_status st = report_kerr(s->kerr_host);
    if (st != LK_OK) {
        /* Reported once, like the CPU backend's sticky error: the stream is clean again. */
        volatile lk_cuda_kerr* v = s->kerr_host;
        v->code = 0;
    }
    return st;
}

static lk_status cuda_stream_wait_event(lk_stream* s, lk_event* e) {
    LK_BIND_STREAM(s);
    LK_CUDA_TRY(cudaStreamWaitEvent(s->s, e->e, 0), "cudaStreamWaitEvent");
    return LK_OK;
}

lk_status lk_cuda_stream_scratch(lk_stream* s, size_t bytes, void** out) {
    if (s->ws_bytes >= bytes) {
        *out = s->ws;
        return LK_OK;
    }
    lk_device* dev = s->h.device;
    /* Grow geometrically from 1 MiB so a longer context rarely reallocates. */
    size_t want = s->ws_bytes ? s->ws_bytes * 2 : ((size_t)1 << 20);
    while (want < bytes) want *= 2;
    if (s->ws) {
        /* Earlier kernels of this stream may still read the old block. */
        cudaError_t err = cudaStreamSynchronize(s->s);
        if (err != cudaSuccess) return lk_cuda_fail(err, "cudaStreamSynchronize before growing scratch");
        cudaFree(s->ws);
        uncharge(dev, s->ws_bytes);
        s->ws = nullptr;
        s->ws_bytes = 0;
    }
    lk_status st = charge(dev, want, "attention scratch");
    if (st != LK_OK) return st;
    cudaError_t err = cudaMalloc(&s->ws, want);
    if (err != cudaSuccess) {
        s->ws = nullptr;
        uncharge(dev, want);
        return lk_cuda_fail(err, "cudaMalloc of stream scratch");
    }
    s->ws_bytes = want;
    *out = s->ws;
    return LK_OK;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

static lk_status cuda_event_create(lk_device* dev, lk_event** out) {
    lk_status st = lk_cuda_bind(dev);
    if (st != LK_OK) return st;
    lk_event* e = new (std::nothrow) lk_event();
    if (!e) return LK_SET_ERROR(LK_ERR_HOST_OUT_OF_MEMORY, "cuda: out of host memory for an event handle");
    cudaError_t err = cudaEventCreateWithFlags(&e->e, cudaEventDefault);
    if (err != cudaSuccess) {
        delete e;
        return lk_cuda_fail(err, "cudaEventCreate");
    }
    init_handle(&e->h, LK_HANDLE_EVENT, dev);
    {
        std::lock_guard<std::mutex> lock(dev->mu);
        list_push(dev->events, e);
    }
    *out = e;
    return LK_OK;
}

static lk_status cuda_event_destroy(lk_event* e) {
    lk_device* dev = e->h.device;
    lk_status st = lk_cuda_bind(dev);
    {
        std::lock_guard<std::mutex> lock(dev->mu);
        list_remove(dev->events, e);
    }
    cudaError_t err = cudaEventDestroy(e->e);
    e->h.kind = LK_HANDLE_FREED;
    delete e;
    if (st != LK_OK) return st;
    if (err != cudaSuccess) return lk_cuda_fail(err, "cudaEventDestroy");
    return LK_OK;
}

static lk_status cuda_event_record(lk_event* e, lk_stream* s) {
    LK_BIND_STREAM(s);
    LK_CUDA_TRY(cudaEventRecord(e->e, s->s), "cudaEventRecord");
    std::lock_guard<std::mutex> lock(e->h.device->mu);
    e->stream = s;
    e->recorded = 1;
    return LK_OK;
}

/* The error word of the event's stream. It may also hold an error of work enqueued
 * after the record that has already run: reported early rather than lost. It is
 * cleared only by lk_stream_synchronize. */
static lk_status event_kerr(lk_event* e) {
    std::lock_guard<std::mutex> lock(e->h.device->mu);
    return e->stream ? report_kerr(e->stream->kerr_host) : LK_OK;
}

static lk_status cuda_event_query(lk_event* e) {
    lk_status st = lk_cuda_bind(e->h.device);
    if (st != LK_OK) return st;
    cudaError_t err = cudaEventQuery(e->e);
    if (err == cudaErrorNotReady) {
        (void)cudaGetLastError();
        return LK_SET_ERROR(LK_ERR_NOT_READY, "cuda: event not reached yet");
    }
    if (err != cudaSuccess) return lk_cuda_fail(err, "cudaEventQuery");
    return event_kerr(e);
}

static lk_status cuda_event_synchronize(lk_event* e) {
    lk_status st = lk_cuda_bind(e->h.device);
    if (st != LK_OK) return st;
    LK_CUDA_TRY(cudaEventSynchronize(e->e), "cudaEventSynchronize");
    return event_kerr(e);
}

static lk_status cuda_event_elapsed_ms(lk_event* start, lk_event* end, float* out_ms) {
    lk_status st = lk_cuda_bind(start->h.device);
    if (st != LK_OK) return st;
    if (!start->recorded || !end->recorded)
        return LK_SET_ERROR(LK_ERR_INVALID_ARGUMENT, "cuda: lk_event_elapsed_ms: an event was never recorded");
    cudaError_t err = cudaEventElapsedTime(out_ms, start->e, end->e);
    if (err == cudaErrorNotReady) {
        (void)cudaGetLastError();
        return LK_SET_ERROR(LK_ERR_NOT_READY, "cuda: lk_event_elapsed_ms: an event has not completed");
    }
    if (err != cudaSuccess) return lk_cuda_fail(err, "cudaEventElapsedTime");
    return LK_OK;
}

/* ------------------------------------------------------------------------ */
/* Copies                                                                    */
/* ------------------------------------------------------------------------ */

/* The device's clock in nanoseconds, the same on every SM. */
__device__ static unsigned long long global_ns() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

/* Holds the stream of a host-to-device copy until the copy's time on the emulated link has passed, so that what
 * follows the copy on its stream (an event, the expert that reads it) waits as it would behind a slower link. The
 * link is one per device, as the bus is: a copy's time starts when its stream reached it (this kernel follows the
 * real copy, which takes microseconds) or when the previous copy's time ends, whichever is later, and reservations
 * are taken atomically, so copies on several streams queue as on one link. One thread sleeping in 1 us steps: it
 * takes one block slot of one SM while compute runs on the rest. */
__global__ void link_hold_kernel(unsigned long long* link_free_ns, unsigned long long duration_ns) {
    const unsigned long long now = global_ns();
    unsigned long long seen = *(volatile unsigned long long*)link_free_ns;
    unsigned long long end;
    for (;;) {
        const unsigned long long start = seen > now ? seen : now;
        end = start + duration_ns;
        const unsigned long long prev = atomicCAS(link_free_ns, seen, end);
        if (prev == seen) break;
        seen = prev;
    }
    while (global_ns() < end) __nanosleep(1000);
}

/* From pinned memory these return as soon as the DMA is queued. From pageable memory
 * the runtime stages through its own pinned buffer and may return only after the
 * data was taken (the header asks for pinned memory for true asynchrony). Read-backs
 * are never throttled, as on the CPU backend. */
static lk_status cuda_copy_h2d(lk_stream* s, void* dst, const void* src, size_t bytes) {
    LK_BIND_STREAM(s);
    LK_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s->s), "cudaMemcpyAsync H2D");
    const lk_device* dev = lk_stream_device(s);
    if (dev->link_bytes_per_s > 0) {
        const unsigned long long ns = (unsigned long long)((double)bytes * 1e9 / dev->link_bytes_per_s);
        link_hold_kernel<<<1, 1, 0, s->s>>>(dev->link_free_ns, ns);
        return lk_cuda_check_launch("link_hold_kernel");
    }
    return LK_OK;
}
static lk_status cuda_copy_d2h(lk_stream* s, void* dst, const void* src, size_t bytes) {
    LK_BIND_STREAM(s);
    LK_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s->s), "cudaMemcpyAsync D2H");
    return LK_OK;
}
static lk_status cuda_copy_d2d(lk_stream* s, void* dst, const void* src, size_t bytes) {
    LK_BIND_STREAM(s);
    LK_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s->s), "cudaMemcpyAsync D2D");
    return LK_OK;
}
static lk_status cuda_memset(lk_stream* s, void* dst, int32_t value, size_t bytes) {
    LK_BIND_STREAM(s);
    LK_CUDA_TRY(cudaMemsetAsync(dst, value & 0xFF, bytes, s->s), "cudaMemsetAsync");
    return LK_OK;
}

/* ------------------------------------------------------------------------ */
/* The function table                                                        */
/* ------------------------------------------------------------------------ */

/* NVTX ranges on the calling thread: Nsight Systems shows them on the host timeline above the
 * kernels they launched (header-only NVTX 3; without a profiler attached they cost a branch). */
static lk_status cuda_range_push(lk_device*, const char* name) {
    nvtxRangePushA(name);
    return LK_OK;
}

static lk_status cuda_range_pop(lk_device*) {
    nvtxRangePop();
    return LK_OK;
}

static lk_backend_iface make_iface(void) {
    lk_backend_iface t;
    memset(&t, 0, sizeof t);
    t.struct_size = sizeof t;
    t.name = "cuda";
    t.device_open = cuda_device_open;
    t.device_close = cuda_device_close;
    t.device_get_info = cuda_device_get_info;
    t.buffer_alloc = cuda_buffer_alloc;
    t.buffer_free = cuda_buffer_free;
    t.buffer_ptr = cuda_buffer_ptr;
    t.host_buffer_alloc = cuda_host_buffer_alloc;
    t.host_buffer_free = cuda_host_buffer_free;
    t.host_buffer_ptr = cuda_host_buffer_ptr;
    t.stream_create = cuda_stream_create;
    t.stream_destroy = cuda_stream_destroy;
    t.stream_synchronize = cuda_stream_synchronize;
    t.stream_wait_event = cuda_stream_wait_event;
    t.event_create = cuda_event_create;
    t.event_destroy = cuda_event_destroy;
    t.event_record = cuda_event_record;
    t.event_query = cuda_event_query;
    t.event_synchronize = cuda_event_synchronize;
    t.event_elapsed_ms = cuda_event_elapsed_ms;
    t.copy_h2d = cuda_copy_h2d;
    t.copy_d2h = cuda_copy_d2h;
    t.copy_d2d = cuda_copy_d2d;
    t.memset = cuda_memset;
    t.fill_u32 = lk_cuda_fill_u32;
    t.embedding = lk_cuda_embedding;
    t.rmsnorm = lk_cuda_rmsnorm;
    t.rope = lk_cuda_rope;
    t.matmul = lk_cuda_matmul;
    t.qmatvec = lk_cuda_qmatvec;
    t.qmatmul = lk_cuda_qmatmul;
    t.swiglu = lk_cuda_swiglu;
    t.add = lk_cuda_add;
    t.gather_rows = lk_cuda_gather_rows;
    t.scatter_add_rows = lk_cuda_scatter_add_rows;
    t.convert = lk_cuda_convert;
    t.router_topk = lk_cuda_router_topk;
    t.attention = lk_cuda_attention;
    t.range_push = cuda_range_push;
    t.range_pop = cuda_range_pop;
    t.router_heads = lk_cuda_router_heads;
    t.expert_swiglu = lk_cuda_expert_swiglu;
    return t;
}

static const lk_backend_iface* cuda_iface(void) {
    static const lk_backend_iface table = make_iface();
    return &table;
}

bool lk_cuda_owns(const lk_handle* h) { return h && h->iface == cuda_iface(); }

extern "C" __attribute__((visibility("default")))
lk_status lk_cuda_backend(const lk_host_services* services, const lk_backend_iface** out) {
    if (!services || !out || !services->set_error) return LK_ERR_INVALID_ARGUMENT;
    g_lk_cuda_services = services;
    *out = cuda_iface();
    return LK_OK;
}
