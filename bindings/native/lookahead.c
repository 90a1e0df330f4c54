/*
 * lookahead.c — the dispatcher: exports every function of lookahead.h, validates
 * all arguments that can be checked without touching device memory (once, for all
 * backends, with the same messages), then forwards to the handle's backend.
 *
 * Handle lifetime: a destroy function validates the handle and lets the backend
 * free it. Backends write LK_HANDLE_FREED into the header just before freeing, so
 * a stale handle whose memory has not been reused yet is reported as "already
 * destroyed" — a best-effort check only (reading freed memory is undefined). The
 * real protection against reuse is the Java layer, which forgets a handle when it
 * closes it. The kind check does reliably catch a handle of the wrong kind.
 */
#define _GNU_SOURCE
#include "backend.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- errors ------------------------------------------------------------------ */

enum { LK_ERROR_CAPACITY = 2048 };
static _Thread_local char tls_error[LK_ERROR_CAPACITY];
/* Incremented by every set_error on this thread: tells the dispatcher whether a
 * backend that returned an error also left a message. */
static _Thread_local unsigned long tls_error_seq;

static lk_status lk_vset_error(lk_status status, const char* fmt, va_list ap) {
    vsnprintf(tls_error, sizeof tls_error, fmt, ap);
    tls_error_seq++;
    return status;
}

__attribute__((format(printf, 2, 3)))
static lk_status set_error(lk_status status, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lk_vset_error(status, fmt, ap);
    va_end(ap);
    return status;
}

static const lk_host_services host_services = {
    .struct_size = sizeof(lk_host_services),
    .set_error = set_error,
};

LK_API const char* lk_last_error(void) { return tls_error; }

LK_API const char* lk_status_name(lk_status status) {
    switch (status) {
    case LK_OK: return "LK_OK";
    case LK_ERR_INVALID_ARGUMENT: return "LK_ERR_INVALID_ARGUMENT";
    case LK_ERR_OUT_OF_MEMORY: return "LK_ERR_OUT_OF_MEMORY";
    case LK_ERR_HOST_OUT_OF_MEMORY: return "LK_ERR_HOST_OUT_OF_MEMORY";
    case LK_ERR_UNSUPPORTED: return "LK_ERR_UNSUPPORTED";
    case LK_ERR_BACKEND_UNAVAILABLE: return "LK_ERR_BACKEND_UNAVAILABLE";
    case LK_ERR_NOT_READY: return "LK_ERR_NOT_READY";
    case LK_ERR_DEVICE: return "LK_ERR_DEVICE";
    case LK_ERR_INTERNAL: return "LK_ERR_INTERNAL";
    }
    return "LK_ERR_UNKNOWN_STATUS";
}

LK_API int32_t lk_abi_version(void) { return LK_ABI_VERSION; }

/* Runs a backend call; if it failed without a message, supplies one. */
#define FORWARD(fn_name, call)                                                        \
    do {                                                                              \
        unsigned long seq_before_ = tls_error_seq;                                    \
        lk_status st_ = (call);                                                       \
        if (st_ != LK_OK && tls_error_seq == seq_before_)                             \
            set_error(st_, "%s: backend failed with %s (no message)", fn_name,        \
                      lk_status_name(st_));                                           \
        return st_;                                                                   \
    } while (0)

/* ---- backends ---------------------------------------------------------------- */

static pthread_mutex_t backends_lock = PTHREAD_MUTEX_INITIALIZER;
static const lk_backend_iface* cpu_iface;
static const lk_backend_iface* cuda_iface;

/* The iface a backend hands back must be at least as large as ours. */
static lk_status check_iface(const char* name, const lk_backend_iface* iface) {
    if (!iface || iface->struct_size < sizeof(lk_backend_iface))
        return set_error(LK_ERR_BACKEND_UNAVAILABLE,
                         "lk_device_open: backend \"%s\" has an incompatible function table "
                         "(%zu bytes, expected %zu)", name, iface ? iface->struct_size : 0,
                         sizeof(lk_backend_iface));
    return LK_OK;
}

static lk_status load_cpu(const lk_backend_iface** out) {
    if (!cpu_iface) {
        const lk_backend_iface* iface = NULL;
        lk_status st = lk_cpu_backend(&host_services, &iface);
        if (st != LK_OK) return st;
        if ((st = check_iface("cpu", iface)) != LK_OK) return st;
        cpu_iface = iface;
    }
    *out = cpu_iface;
    return LK_OK;
}

/* Directory of liblookahead.so itself (the CUDA backend lives beside it). */
static lk_status own_directory(char* dir, size_t cap) {
    Dl_info info;
    if (!dladdr((void*)&lk_device_open, &info) || !info.dli_fname)
        return set_error(LK_ERR_INTERNAL, "lk_device_open: dladdr cannot locate liblookahead.so");
    const char* slash = strrchr(info.dli_fname, '/');
    if (!slash) {
        snprintf(dir, cap, ".");
    } else {
        size_t len = (size_t)(slash - info.dli_fname);
        if (len + 1 > cap)
            return set_error(LK_ERR_INTERNAL, "lk_device_open: library path too long");
        memcpy(dir, info.dli_fname, len);
        dir[len] = '\0';
        if (len == 0) snprintf(dir, cap, "/");
    }
    return LK_OK;
}

static lk_status load_cuda(const lk_backend_iface** out) {
    if (cuda_iface) {
        *out = cuda_iface;
        return LK_OK;
    }
    char dir[1024], path[1200];
    lk_status st = own_directory(dir, sizeof dir);
    if (st != LK_OK) return st;
    snprintf(path, sizeof path, "%s/liblookahead_cuda.so", dir);

    struct stat sb;
    if (stat(path, &sb) != 0)
        return set_error(LK_ERR_BACKEND_UNAVAILABLE,
                         "lk_device_open: CUDA backend library %s not found (%s); it is built by "
                         "CMake when nvcc is present", path, strerror(errno));
    /* Clear a stale dlerror() state before our calls. */
    (void)dlerror();
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char* why = dlerror();
        return set_error(LK_ERR_BACKEND_UNAVAILABLE, "lk_device_open: cannot load %s: %s", path,
                         why ? why : "unknown dlopen error");
    }
    lk_backend_entry_fn entry;
    *(void**)&entry = dlsym(lib, LK_CUDA_BACKEND_ENTRY);
    if (!entry) {
        const char* why = dlerror();
        set_error(LK_ERR_BACKEND_UNAVAILABLE, "lk_device_open: %s does not export %s: %s", path,
                  LK_CUDA_BACKEND_ENTRY, why ? why : "symbol missing");
        dlclose(lib);
        return LK_ERR_BACKEND_UNAVAILABLE;
    }
    const lk_backend_iface* iface = NULL;
    unsigned long seq = tls_error_seq;
    st = entry(&host_services, &iface);
    if (st == LK_OK) st = check_iface("cuda", iface);
    if (st != LK_OK) {
        if (tls_error_seq == seq)
            set_error(st, "lk_device_open: CUDA backend initialisation failed with %s",
                      lk_status_name(st));
        dlclose(lib);
        return st;
    }
    /* Kept loaded for the life of the process: its iface is cached. */
    cuda_iface = iface;
    *out = iface;
    return LK_OK;
}

static lk_status find_backend(const char* name, const lk_backend_iface** out) {
    lk_status st;
    if (strcmp(name, "cpu") == 0) {
        pthread_mutex_lock(&backends_lock);
        st = load_cpu(out);
        pthread_mutex_unlock(&backends_lock);
    } else if (strcmp(name, "cuda") == 0) {
        pthread_mutex_lock(&backends_lock);
        st = load_cuda(out);
        pthread_mutex_unlock(&backends_lock);
    } else {
        st = set_error(LK_ERR_INVALID_ARGUMENT,
                       "lk_device_open: unknown backend \"%.64s\" (valid: \"cpu\", \"cuda\")", name);
    }
    return st;
}

/* ---- argument checks ---------------------------------------------------------- */

/* Each check returns LK_OK or sets the message and returns the error; CHECK
 * propagates the failure. */
#define CHECK(expr)                                  \
    do {                                             \
        lk_status chk_ = (expr);                     \
        if (chk_ != LK_OK) return chk_;              \
    } while (0)

static const char* kind_name(uint32_t kind) {
    switch (kind) {
    case LK_HANDLE_DEVICE: return "device";
    case LK_HANDLE_BUFFER: return "buffer";
    case LK_HANDLE_HOST_BUFFER: return "host buffer";
    case LK_HANDLE_STREAM: return "stream";
    case LK_HANDLE_EVENT: return "event";
    case LK_HANDLE_FREED: return "destroyed";
    }
    return NULL;
}

static lk_status check_handle(const char* fn, const char* arg, const void* handle, uint32_t kind) {
    if (!handle) return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, arg);
    const lk_handle* h = (const lk_handle*)handle;
    if (h->kind == kind) return LK_OK;
    if (h->kind == LK_HANDLE_FREED)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s handle already destroyed", fn, arg);
    const char* actual = kind_name(h->kind);
    if (actual)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s is a %s handle, not a %s handle", fn,
                         arg, actual, kind_name(kind));
    return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s is not a valid %s handle (kind 0x%08x)", fn,
                     arg, kind_name(kind), h->kind);
}

static const lk_backend_iface* iface_of(const void* handle) {
    return ((const lk_handle*)handle)->iface;
}

static lk_device* device_of(const void* handle) { return ((const lk_handle*)handle)->device; }

static lk_status check_same_device(const char* fn, const char* a, const void* ha, const char* b,
                                   const void* hb) {
    if (device_of(ha) != device_of(hb))
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s and %s belong to different devices", fn,
                         a, b);
    return LK_OK;
}

/* The checks below name an argument, or a field of a struct argument ("w->rows": field "rows",
 * NULL for none). The name is formatted only in a failure's message: they run on every enqueue,
 * on the host's critical path. */
#define FIELD_SEP(field) ((field) ? "->" : "")
#define FIELD_NAME(field) ((field) ? (field) : "")

static lk_status check_field_ptr(const char* fn, const char* arg, const char* field, const void* p) {
    if (!p)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s%s%s is NULL", fn, arg, FIELD_SEP(field),
                         FIELD_NAME(field));
    return LK_OK;
}

static lk_status check_ptr(const char* fn, const char* arg, const void* p) {
    return check_field_ptr(fn, arg, NULL, p);
}

static lk_status check_field_positive(const char* fn, const char* arg, const char* field, int64_t v) {
    if (v <= 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s%s%s must be > 0 (got %lld)", fn, arg,
                         FIELD_SEP(field), FIELD_NAME(field), (long long)v);
    return LK_OK;
}

static lk_status check_positive(const char* fn, const char* arg, int64_t v) {
    return check_field_positive(fn, arg, NULL, v);
}

static lk_status check_bytes(const char* fn, size_t bytes) {
    if (bytes == 0) return set_error(LK_ERR_INVALID_ARGUMENT, "%s: bytes must be > 0", fn);
    if (bytes > (size_t)INT64_MAX)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: bytes %zu is too large", fn, bytes);
    return LK_OK;
}

/* struct_size must cover the struct up to (and including) its last field. */
#define CHECK_STRUCT_SIZE(fn, arg, ptr, type, last_field)                                \
    CHECK(check_struct_size(fn, arg, (ptr)->struct_size,                                 \
                            offsetof(type, last_field) + sizeof(((type*)0)->last_field), \
                            #type))

static lk_status check_struct_size(const char* fn, const char* arg, size_t got, size_t need,
                                   const char* type) {
    if (got < need)
        return set_error(LK_ERR_INVALID_ARGUMENT,
                         "%s: %s->struct_size is %zu, expected at least %zu (sizeof(%s))", fn, arg,
                         got, need, type);
    return LK_OK;
}

static const char* dtype_name(int32_t d) {
    switch (d) {
    case LK_F32: return "LK_F32";
    case LK_F16: return "LK_F16";
    case LK_BF16: return "LK_BF16";
    case LK_I32: return "LK_I32";
    }
    return NULL;
}

static size_t dtype_size(int32_t d) { return d == LK_F16 || d == LK_BF16 ? 2 : 4; }

/* A floating-point storage dtype: F32, F16 or BF16. */
static lk_status check_float_dtype(const char* fn, const char* arg, int32_t dtype) {
    if (dtype == LK_F32 || dtype == LK_F16 || dtype == LK_BF16) return LK_OK;
    if (dtype_name(dtype))
        return set_error(LK_ERR_UNSUPPORTED, "%s: %s %s is not supported (F32, F16 or BF16)", fn,
                         arg, dtype_name(dtype));
    return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s %d is not a valid lk_dtype", fn, arg,
                     (int)dtype);
}

/* The byte extent a * b * c * elem must fit in int64 (and hence in size_t). */
static lk_status check_extent(const char* fn, const char* what, int64_t a, int64_t b, int64_t c,
                              int64_t elem) {
    int64_t t;
    if (__builtin_mul_overflow(a, b, &t) || __builtin_mul_overflow(t, c, &t) ||
        __builtin_mul_overflow(t, elem, &t))
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s is too large (%lld x %lld x %lld elements)",
                         fn, what, (long long)a, (long long)b, (long long)c);
    return LK_OK;
}

/* ---- device -------------------------------------------------------------------- */

LK_API lk_status lk_device_open(const char* backend, const lk_device_options* options,
                                lk_device** out) {
    static const char fn[] = "lk_device_open";
    CHECK(check_ptr(fn, "backend", backend));
    CHECK(check_ptr(fn, "out", out));
    *out = NULL;
    if (options) {
        CHECK_STRUCT_SIZE(fn, "options", options, lk_device_options, link_bytes_per_s);
        if (options->ordinal < 0)
            return set_error(LK_ERR_INVALID_ARGUMENT, "%s: options->ordinal must be >= 0 (got %d)",
                             fn, options->ordinal);
        if (options->threads < 0 || options->threads > 1024)
            return set_error(LK_ERR_INVALID_ARGUMENT,
                             "%s: options->threads must be in [0, 1024] (got %d)", fn,
                             options->threads);
        if (!isfinite(options->link_bytes_per_s) || options->link_bytes_per_s < 0)
            return set_error(LK_ERR_INVALID_ARGUMENT,
                             "%s: options->link_bytes_per_s must be finite and >= 0 (got %g)", fn,
                             options->link_bytes_per_s);
    }
    const lk_backend_iface* iface;
    CHECK(find_backend(backend, &iface));
    FORWARD(fn, iface->device_open(options, out));
}

LK_API lk_status lk_device_close(lk_device* device) {
    CHECK(check_handle("lk_device_close", "device", device, LK_HANDLE_DEVICE));
    FORWARD("lk_device_close", iface_of(device)->device_close(device));
}

LK_API lk_status lk_device_get_info(lk_device* device, lk_device_info* out) {
    static const char fn[] = "lk_device_get_info";
    CHECK(check_handle(fn, "device", device, LK_HANDLE_DEVICE));
    CHECK(check_ptr(fn, "out", out));
    CHECK_STRUCT_SIZE(fn, "out", out, lk_device_info, link_bytes_per_s);
    FORWARD(fn, iface_of(device)->device_get_info(device, out));
}

/* ---- memory -------------------------------------------------------------------- */

LK_API lk_status lk_buffer_alloc(lk_device* device, size_t bytes, lk_buffer** out) {
    static const char fn[] = "lk_buffer_alloc";
    CHECK(check_handle(fn, "device", device, LK_HANDLE_DEVICE));
    CHECK(check_ptr(fn, "out", out));
    *out = NULL;
    CHECK(check_bytes(fn, bytes));
    FORWARD(fn, iface_of(device)->buffer_alloc(device, bytes, out));
}

LK_API lk_status lk_buffer_free(lk_buffer* buffer) {
    CHECK(check_handle("lk_buffer_free", "buffer", buffer, LK_HANDLE_BUFFER));
    FORWARD("lk_buffer_free", iface_of(buffer)->buffer_free(buffer));
}

LK_API lk_status lk_buffer_ptr(lk_buffer* buffer, void** out) {
    CHECK(check_handle("lk_buffer_ptr", "buffer", buffer, LK_HANDLE_BUFFER));
    CHECK(check_ptr("lk_buffer_ptr", "out", out));
    FORWARD("lk_buffer_ptr", iface_of(buffer)->buffer_ptr(buffer, out));
}

LK_API lk_status lk_host_buffer_alloc(lk_device* device, size_t bytes, lk_host_buffer** out) {
    static const char fn[] = "lk_host_buffer_alloc";
    CHECK(check_handle(fn, "device", device, LK_HANDLE_DEVICE));
    CHECK(check_ptr(fn, "out", out));
    *out = NULL;
    CHECK(check_bytes(fn, bytes));
    FORWARD(fn, iface_of(device)->host_buffer_alloc(device, bytes, out));
}

LK_API lk_status lk_host_buffer_free(lk_host_buffer* buffer) {
    CHECK(check_handle("lk_host_buffer_free", "buffer", buffer, LK_HANDLE_HOST_BUFFER));
    FORWARD("lk_host_buffer_free", iface_of(buffer)->host_buffer_free(buffer));
}

LK_API lk_status lk_host_buffer_ptr(lk_host_buffer* buffer, void** out) {
    CHECK(check_handle("lk_host_buffer_ptr", "buffer", buffer, LK_HANDLE_HOST_BUFFER));
    CHECK(check_ptr("lk_host_buffer_ptr", "out", out));
    FORWARD("lk_host_buffer_ptr", iface_of(buffer)->host_buffer_ptr(buffer, out));
}

LK_API lk_status lk_stream_create(lk_device* device, lk_stream** out) {
    CHECK(check_handle("lk_stream_create", "device", device, LK_HANDLE_DEVICE));
    CHECK(check_ptr("lk_stream_create", "out", out));
    *out = NULL;
    FORWARD("lk_stream_create", iface_of(device)->stream_create(device, out));
}

LK_API lk_status lk_stream_destroy(lk_stream* stream) {
    CHECK(check_handle("lk_stream_destroy", "stream", stream, LK_HANDLE_STREAM));
    FORWARD("lk_stream_destroy", iface_of(stream)->stream_destroy(stream));
}

LK_API lk_status lk_stream_synchronize(lk_stream* stream) {
    CHECK(check_handle("lk_stream_synchronize", "stream", stream, LK_HANDLE_STREAM));
    FORWARD("lk_stream_synchronize", iface_of(stream)->stream_synchronize(stream));
}

LK_API lk_status lk_stream_wait_event(lk_stream* stream, lk_event* event) {
    static const char fn[] = "lk_stream_wait_event";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_handle(fn, "event", event, LK_HANDLE_EVENT));
    CHECK(check_same_device(fn, "stream", stream, "event", event));
    FORWARD(fn, iface_of(stream)->stream_wait_event(stream, event));
}

LK_API lk_status lk_event_create(lk_device* device, lk_event** out) {
    CHECK(check_handle("lk_event_create", "device", device, LK_HANDLE_DEVICE));
    CHECK(check_ptr("lk_event_create", "out", out));
    *out = NULL;
    FORWARD("lk_event_create", iface_of(device)->event_create(device, out));
}

LK_API lk_status lk_event_destroy(lk_event* event) {
    CHECK(check_handle("lk_event_destroy", "event", event, LK_HANDLE_EVENT));
    FORWARD("lk_event_destroy", iface_of(event)->event_destroy(event));
}

LK_API lk_status lk_event_record(lk_event* event, lk_stream* stream) {
    static const char fn[] = "lk_event_record";
    CHECK(check_handle(fn, "event", event, LK_HANDLE_EVENT));
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_same_device(fn, "event", event, "stream", stream));
    FORWARD(fn, iface_of(event)->event_record(event, stream));
}

LK_API lk_status lk_event_query(lk_event* event) {
    CHECK(check_handle("lk_event_query", "event", event, LK_HANDLE_EVENT));
    FORWARD("lk_event_query", iface_of(event)->event_query(event));
}

LK_API lk_status lk_event_synchronize(lk_event* event) {
    CHECK(check_handle("lk_event_synchronize", "event", event, LK_HANDLE_EVENT));
    FORWARD("lk_event_synchronize", iface_of(event)->event_synchronize(event));
}

LK_API lk_status lk_event_elapsed_ms(lk_event* start, lk_event* end, float* out_ms) {
    static const char fn[] = "lk_event_elapsed_ms";
    CHECK(check_handle(fn, "start", start, LK_HANDLE_EVENT));
    CHECK(check_handle(fn, "end", end, LK_HANDLE_EVENT));
    CHECK(check_same_device(fn, "start", start, "end", end));
    CHECK(check_ptr(fn, "out_ms", out_ms));
    FORWARD(fn, iface_of(start)->event_elapsed_ms(start, end, out_ms));
}

static lk_status check_copy(const char* fn, lk_stream* stream, const void* dst, const void* src,
                            size_t bytes) {
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "dst", dst));
    CHECK(check_ptr(fn, "src", src));
    CHECK(check_bytes(fn, bytes));
    const char* d = dst;
    const char* s = src;
    if (d != s && d < s + bytes && s < d + bytes)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: src and dst ranges overlap", fn);
    return LK_OK;
}

LK_API lk_status lk_copy_h2d(lk_stream* stream, void* dst_device, const void* src_host,
                             size_t bytes) {
    CHECK(check_copy("lk_copy_h2d", stream, dst_device, src_host, bytes));
    FORWARD("lk_copy_h2d", iface_of(stream)->copy_h2d(stream, dst_device, src_host, bytes));
}

LK_API lk_status lk_copy_d2h(lk_stream* stream, void* dst_host, const void* src_device,
                             size_t bytes) {
    CHECK(check_copy("lk_copy_d2h", stream, dst_host, src_device, bytes));
    FORWARD("lk_copy_d2h", iface_of(stream)->copy_d2h(stream, dst_host, src_device, bytes));
}

LK_API lk_status lk_copy_d2d(lk_stream* stream, void* dst_device, const void* src_device,
                             size_t bytes) {
    CHECK(check_copy("lk_copy_d2d", stream, dst_device, src_device, bytes));
    FORWARD("lk_copy_d2d", iface_of(stream)->copy_d2d(stream, dst_device, src_device, bytes));
}

LK_API lk_status lk_memset(lk_stream* stream, void* dst_device, int32_t byte_value, size_t bytes) {
    static const char fn[] = "lk_memset";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "dst_device", dst_device));
    if (byte_value < 0 || byte_value > 255)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: byte_value must be in [0, 255] (got %d)", fn,
                         byte_value);
    CHECK(check_bytes(fn, bytes));
    FORWARD(fn, iface_of(stream)->memset(stream, dst_device, byte_value, bytes));
}

LK_API lk_status lk_fill_u32(lk_stream* stream, void* dst_device, uint32_t value, size_t count) {
    static const char fn[] = "lk_fill_u32";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "dst_device", dst_device));
    if ((uintptr_t)dst_device % 4 != 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: dst_device %p is not 4-byte aligned", fn,
                         dst_device);
    if (count == 0) return set_error(LK_ERR_INVALID_ARGUMENT, "%s: count must be > 0", fn);
    if (count > (size_t)INT64_MAX / 4)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: count %zu is too large", fn, count);
    FORWARD(fn, iface_of(stream)->fill_u32(stream, dst_device, value, count));
}

/* ---- ops ------------------------------------------------------------------------- */

/* p must be a multiple of `align` bytes. Every op asks its pointers for the alignment of their
 * elements: the CUDA kernels load elements (and vectors of them when the address allows) at their
 * natural alignment, and a misaligned load faults and poisons the CUDA context for good. */
static lk_status check_field_aligned(const char* fn, const char* arg, const char* field, const void* p,
                                     size_t align) {
    if ((uintptr_t)p % align != 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s%s%s (%p) is not %zu-byte aligned", fn, arg,
                         FIELD_SEP(field), FIELD_NAME(field), p, align);
    return LK_OK;
}

static lk_status check_aligned(const char* fn, const char* arg, const void* p, size_t align) {
    return check_field_aligned(fn, arg, NULL, p, align);
}

static int qmatrix_bits_ok(int32_t bits) { return bits == 2 || bits == 3 || bits == 4; }
static int qmatrix_group_ok(int32_t g) { return g >= 8 && g <= 1024 && g % 8 == 0; }

LK_API size_t lk_qmatrix_code_bytes(int32_t bits, int32_t group_size, int64_t rows, int64_t cols) {
    if (!qmatrix_bits_ok(bits) || !qmatrix_group_ok(group_size) || rows <= 0 || cols <= 0) return 0;
    int64_t ngroups = (cols + group_size - 1) / group_size;
    /* group_size is a multiple of 8, so a group is a whole number of bytes. */
    int64_t row_bytes = ngroups * (group_size / 8) * bits;
    int64_t total;
    if (__builtin_mul_overflow(rows, row_bytes, &total)) return 0;
    return (size_t)total;
}

static lk_status check_disjoint(const char* fn, const char* an_, const void* a, size_t an,
                                const char* bn_, const void* b, size_t bn);

/* A qmatrix argument, called `name` ("w", "gate", ...) in the messages. */
static lk_status check_qmatrix_named(const char* fn, const char* name, const lk_qmatrix* w) {
    CHECK(check_ptr(fn, name, w));
    CHECK_STRUCT_SIZE(fn, name, w, lk_qmatrix, zeros);
    if (!qmatrix_bits_ok(w->bits))
        return set_error(LK_ERR_UNSUPPORTED, "%s: %s->bits %d is not supported (2, 3 or 4)", fn,
                         name, w->bits);
    if (w->group_size % 8 != 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s->group_size %d is not a multiple of 8",
                         fn, name, w->group_size);
    if (w->group_size < 8 || w->group_size > 1024)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s->group_size %d is not in [8, 1024]", fn,
                         name, w->group_size);
    CHECK(check_field_positive(fn, name, "rows", w->rows));
    CHECK(check_field_positive(fn, name, "cols", w->cols));
    if (lk_qmatrix_code_bytes(w->bits, w->group_size, w->rows, w->cols) == 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s of %lld x %lld is too large", fn, name,
                         (long long)w->rows, (long long)w->cols);
    CHECK(check_field_ptr(fn, name, "codes", w->codes));
    CHECK(check_field_ptr(fn, name, "scales", w->scales));
    CHECK(check_field_ptr(fn, name, "zeros", w->zeros));
    CHECK(check_field_aligned(fn, name, "scales", w->scales, 2));
    CHECK(check_field_aligned(fn, name, "zeros", w->zeros, 2));
    return LK_OK;
}

static lk_status check_qmatrix(const char* fn, const lk_qmatrix* w) {
    return check_qmatrix_named(fn, "w", w);
}

LK_API lk_status lk_embedding(lk_stream* stream, lk_dtype table_dtype, const void* table,
                              int64_t vocab, int64_t dim, const int32_t* ids, int64_t n,
                              float* out) {
    static const char fn[] = "lk_embedding";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_float_dtype(fn, "table_dtype", table_dtype));
    CHECK(check_ptr(fn, "table", table));
    CHECK(check_positive(fn, "vocab", vocab));
    CHECK(check_positive(fn, "dim", dim));
    CHECK(check_ptr(fn, "ids", ids));
    CHECK(check_positive(fn, "n", n));
    CHECK(check_ptr(fn, "out", out));
    CHECK(check_extent(fn, "table", vocab, dim, 1, dtype_size(table_dtype)));
    CHECK(check_extent(fn, "out", n, dim, 1, 4));
    CHECK(check_aligned(fn, "table", table, dtype_size(table_dtype)));
    CHECK(check_aligned(fn, "ids", ids, 4));
    CHECK(check_aligned(fn, "out", out, 4));
    FORWARD(fn, iface_of(stream)->embedding(stream, table_dtype, table, vocab, dim, ids, n, out));
}

LK_API lk_status lk_rmsnorm(lk_stream* stream, const float* x, lk_dtype weight_dtype,
                            const void* weight, int64_t n, int64_t dim, float eps, float* out) {
    static const char fn[] = "lk_rmsnorm";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "x", x));
    CHECK(check_float_dtype(fn, "weight_dtype", weight_dtype));
    CHECK(check_ptr(fn, "weight", weight));
    CHECK(check_positive(fn, "n", n));
    CHECK(check_positive(fn, "dim", dim));
    if (!isfinite(eps) || eps < 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: eps must be finite and >= 0 (got %g)", fn,
                         (double)eps);
    CHECK(check_ptr(fn, "out", out));
    CHECK(check_extent(fn, "x", n, dim, 1, 4));
    CHECK(check_aligned(fn, "x", x, 4));
    CHECK(check_aligned(fn, "weight", weight, dtype_size(weight_dtype)));
    CHECK(check_aligned(fn, "out", out, 4));
    FORWARD(fn, iface_of(stream)->rmsnorm(stream, x, weight_dtype, weight, n, dim, eps, out));
}

LK_API lk_status lk_rope(lk_stream* stream, float* x, int64_t n, int32_t n_heads,
                         int32_t head_dim, int64_t pos0, float theta) {
    static const char fn[] = "lk_rope";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "x", x));
    CHECK(check_positive(fn, "n", n));
    CHECK(check_positive(fn, "n_heads", n_heads));
    CHECK(check_positive(fn, "head_dim", head_dim));
    if (head_dim % 2 != 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: head_dim %d is not even", fn, head_dim);
    if (pos0 < 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: pos0 must be >= 0 (got %lld)", fn,
                         (long long)pos0);
    if (!isfinite(theta) || theta <= 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: theta must be finite and > 0 (got %g)", fn,
                         (double)theta);
    CHECK(check_extent(fn, "x", n, n_heads, head_dim, 4));
    CHECK(check_aligned(fn, "x", x, 4));
    FORWARD(fn, iface_of(stream)->rope(stream, x, n, n_heads, head_dim, pos0, theta));
}

LK_API lk_status lk_matmul(lk_stream* stream, lk_dtype w_dtype, const void* w, const float* x,
                           int64_t n, int64_t rows, int64_t cols, float* y) {
    static const char fn[] = "lk_matmul";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_float_dtype(fn, "w_dtype", w_dtype));
    CHECK(check_ptr(fn, "w", w));
    CHECK(check_ptr(fn, "x", x));
    CHECK(check_positive(fn, "n", n));
    CHECK(check_positive(fn, "rows", rows));
    CHECK(check_positive(fn, "cols", cols));
    CHECK(check_ptr(fn, "y", y));
    CHECK(check_extent(fn, "w", rows, cols, 1, dtype_size(w_dtype)));
    CHECK(check_extent(fn, "x", n, cols, 1, 4));
    CHECK(check_extent(fn, "y", n, rows, 1, 4));
    CHECK(check_aligned(fn, "w", w, dtype_size(w_dtype)));
    CHECK(check_aligned(fn, "x", x, 4));
    CHECK(check_aligned(fn, "y", y, 4));
    FORWARD(fn, iface_of(stream)->matmul(stream, w_dtype, w, x, n, rows, cols, y));
}

LK_API lk_status lk_qmatvec(lk_stream* stream, const lk_qmatrix* w, const float* x, float* y) {
    static const char fn[] = "lk_qmatvec";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_qmatrix(fn, w));
    CHECK(check_ptr(fn, "x", x));
    CHECK(check_ptr(fn, "y", y));
    CHECK(check_aligned(fn, "x", x, 4));
    CHECK(check_aligned(fn, "y", y, 4));
    FORWARD(fn, iface_of(stream)->qmatvec(stream, w, x, y));
}

LK_API lk_status lk_qmatmul(lk_stream* stream, const lk_qmatrix* w, const float* x, int64_t n,
                            float* y) {
    static const char fn[] = "lk_qmatmul";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_qmatrix(fn, w));
    CHECK(check_ptr(fn, "x", x));
    CHECK(check_positive(fn, "n", n));
    CHECK(check_ptr(fn, "y", y));
    CHECK(check_extent(fn, "x", n, w->cols, 1, 4));
    CHECK(check_extent(fn, "y", n, w->rows, 1, 4));
    CHECK(check_aligned(fn, "x", x, 4));
    CHECK(check_aligned(fn, "y", y, 4));
    FORWARD(fn, iface_of(stream)->qmatmul(stream, w, x, n, y));
}

LK_API lk_status lk_expert_swiglu(lk_stream* stream, const lk_qmatrix* gate, const lk_qmatrix* up,
                                  const lk_qmatrix* down, const float* x, float* h_gate, float* h_up,
                                  float* y) {
    static const char fn[] = "lk_expert_swiglu";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_qmatrix_named(fn, "gate", gate));
    CHECK(check_qmatrix_named(fn, "up", up));
    CHECK(check_qmatrix_named(fn, "down", down));
    if (up->bits != gate->bits || up->group_size != gate->group_size || up->rows != gate->rows ||
        up->cols != gate->cols)
        return set_error(LK_ERR_INVALID_ARGUMENT,
                         "%s: up (%d-bit g%d, %lld x %lld) differs from gate (%d-bit g%d, %lld x %lld)",
                         fn, up->bits, up->group_size, (long long)up->rows, (long long)up->cols,
                         gate->bits, gate->group_size, (long long)gate->rows, (long long)gate->cols);
    if (down->cols != gate->rows || down->rows != gate->cols)
        return set_error(LK_ERR_INVALID_ARGUMENT,
                         "%s: down is %lld x %lld, expected %lld x %lld (gate transposed)", fn,
                         (long long)down->rows, (long long)down->cols, (long long)gate->cols,
                         (long long)gate->rows);
    CHECK(check_ptr(fn, "x", x));
    CHECK(check_ptr(fn, "h_gate", h_gate));
    CHECK(check_ptr(fn, "h_up", h_up));
    CHECK(check_ptr(fn, "y", y));
    CHECK(check_aligned(fn, "x", x, 4));
    CHECK(check_aligned(fn, "h_gate", h_gate, 4));
    CHECK(check_aligned(fn, "h_up", h_up, 4));
    CHECK(check_aligned(fn, "y", y, 4));
    /* x is read while h_gate and h_up are written, and y while h_gate is read */
    size_t hidden = (size_t)gate->cols * 4, inter = (size_t)gate->rows * 4;
    CHECK(check_disjoint(fn, "h_gate", h_gate, inter, "h_up", h_up, inter));
    CHECK(check_disjoint(fn, "h_gate", h_gate, inter, "x", x, hidden));
    CHECK(check_disjoint(fn, "h_up", h_up, inter, "x", x, hidden));
    CHECK(check_disjoint(fn, "y", y, hidden, "x", x, hidden));
    CHECK(check_disjoint(fn, "y", y, hidden, "h_gate", h_gate, inter));
    CHECK(check_disjoint(fn, "y", y, hidden, "h_up", h_up, inter));
    FORWARD(fn, iface_of(stream)->expert_swiglu(stream, gate, up, down, x, h_gate, h_up, y));
}

LK_API lk_status lk_swiglu(lk_stream* stream, const float* gate, const float* up, int64_t n,
                           float* out) {
    static const char fn[] = "lk_swiglu";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "gate", gate));
    CHECK(check_ptr(fn, "up", up));
    CHECK(check_positive(fn, "n", n));
    CHECK(check_ptr(fn, "out", out));
    CHECK(check_extent(fn, "gate", n, 1, 1, 4));
    CHECK(check_aligned(fn, "gate", gate, 4));
    CHECK(check_aligned(fn, "up", up, 4));
    CHECK(check_aligned(fn, "out", out, 4));
    FORWARD(fn, iface_of(stream)->swiglu(stream, gate, up, n, out));
}

LK_API lk_status lk_add(lk_stream* stream, float* y, const float* x, int64_t n) {
    static const char fn[] = "lk_add";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "y", y));
    CHECK(check_ptr(fn, "x", x));
    CHECK(check_positive(fn, "n", n));
    CHECK(check_extent(fn, "y", n, 1, 1, 4));
    CHECK(check_aligned(fn, "y", y, 4));
    CHECK(check_aligned(fn, "x", x, 4));
    FORWARD(fn, iface_of(stream)->add(stream, y, x, n));
}

LK_API lk_status lk_gather_rows(lk_stream* stream, const float* src, const int32_t* idx,
                                int64_t m, int64_t dim, float* dst) {
    static const char fn[] = "lk_gather_rows";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "src", src));
    CHECK(check_ptr(fn, "idx", idx));
    CHECK(check_positive(fn, "m", m));
    CHECK(check_positive(fn, "dim", dim));
    CHECK(check_ptr(fn, "dst", dst));
    CHECK(check_extent(fn, "dst", m, dim, 1, 4));
    CHECK(check_aligned(fn, "src", src, 4));
    CHECK(check_aligned(fn, "idx", idx, 4));
    CHECK(check_aligned(fn, "dst", dst, 4));
    FORWARD(fn, iface_of(stream)->gather_rows(stream, src, idx, m, dim, dst));
}

LK_API lk_status lk_scatter_add_rows(lk_stream* stream, float* dst, const float* src,
                                     const int32_t* idx, const float* weight, int64_t m,
                                     int64_t dim) {
    static const char fn[] = "lk_scatter_add_rows";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "dst", dst));
    CHECK(check_ptr(fn, "src", src));
    CHECK(check_positive(fn, "m", m));
    CHECK(check_positive(fn, "dim", dim));
    CHECK(check_extent(fn, "src", m, dim, 1, 4));
    CHECK(check_aligned(fn, "dst", dst, 4));
    CHECK(check_aligned(fn, "src", src, 4));
    if (idx) CHECK(check_aligned(fn, "idx", idx, 4));
    if (weight) CHECK(check_aligned(fn, "weight", weight, 4));
    FORWARD(fn, iface_of(stream)->scatter_add_rows(stream, dst, src, idx, weight, m, dim));
}

LK_API lk_status lk_convert(lk_stream* stream, lk_dtype src_dtype, const void* src,
                            lk_dtype dst_dtype, void* dst, int64_t n) {
    static const char fn[] = "lk_convert";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_float_dtype(fn, "src_dtype", src_dtype));
    CHECK(check_ptr(fn, "src", src));
    CHECK(check_float_dtype(fn, "dst_dtype", dst_dtype));
    CHECK(check_ptr(fn, "dst", dst));
    CHECK(check_positive(fn, "n", n));
    CHECK(check_extent(fn, "src", n, 1, 1, 4));
    CHECK(check_aligned(fn, "src", src, dtype_size(src_dtype)));
    CHECK(check_aligned(fn, "dst", dst, dtype_size(dst_dtype)));
    const char* s = src;
    const char* d = dst;
    size_t sbytes = (size_t)n * dtype_size(src_dtype), dbytes = (size_t)n * dtype_size(dst_dtype);
    if (s == d && src_dtype != dst_dtype)
        return set_error(LK_ERR_INVALID_ARGUMENT,
                         "%s: src == dst is only allowed when src_dtype == dst_dtype (%s -> %s)",
                         fn, dtype_name(src_dtype), dtype_name(dst_dtype));
    if (s != d && s < d + dbytes && d < s + sbytes)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: src and dst overlap partially", fn);
    FORWARD(fn, iface_of(stream)->convert(stream, src_dtype, src, dst_dtype, dst, n));
}

LK_API lk_status lk_router_topk(lk_stream* stream, const lk_router_args* args) {
    static const char fn[] = "lk_router_topk";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "args", args));
    CHECK_STRUCT_SIZE(fn, "args", args, lk_router_args, topk_weight);
    CHECK(check_ptr(fn, "args->logits", args->logits));
    CHECK(check_positive(fn, "args->n", args->n));
    if (args->n_experts < 1 || args->n_experts > 256)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: args->n_experts %d is not in [1, 256]", fn,
                         args->n_experts);
    if (args->k < 1 || args->k > args->n_experts)
        return set_error(LK_ERR_INVALID_ARGUMENT,
                         "%s: args->k %d is not in [1, n_experts = %d]", fn, args->k,
                         args->n_experts);
    CHECK(check_ptr(fn, "args->topk_idx", args->topk_idx));
    CHECK(check_ptr(fn, "args->topk_weight", args->topk_weight));
    CHECK(check_extent(fn, "args->logits", args->n, args->n_experts, 1, 4));
    CHECK(check_aligned(fn, "args->logits", args->logits, 4));
    if (args->probs_out) CHECK(check_aligned(fn, "args->probs_out", args->probs_out, 4));
    CHECK(check_aligned(fn, "args->topk_idx", args->topk_idx, 4));
    CHECK(check_aligned(fn, "args->topk_weight", args->topk_weight, 4));
    FORWARD(fn, iface_of(stream)->router_topk(stream, args));
}

/* [a, a + an) and [b, b + bn) (bytes) share no byte. */
static lk_status check_disjoint(const char* fn, const char* an_, const void* a, size_t an,
                                const char* bn_, const void* b, size_t bn) {
    const char* pa = a;
    const char* pb = b;
    if (pa && pb && pa < pb + bn && pb < pa + an)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: %s and %s overlap", fn, an_, bn_);
    return LK_OK;
}

LK_API lk_status lk_router_heads(lk_stream* stream, const lk_router_heads_args* args) {
    static const char fn[] = "lk_router_heads";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "args", args));
    CHECK_STRUCT_SIZE(fn, "args", args, lk_router_heads_args, out);
    const lk_router_heads_args* a = args;
    CHECK(check_ptr(fn, "args->x", a->x));
    CHECK(check_positive(fn, "args->hidden", a->hidden));
    if (!isfinite(a->eps) || a->eps < 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: args->eps must be finite and >= 0 (got %g)",
                         fn, (double)a->eps);
    CHECK(check_float_dtype(fn, "args->gain_dtype", a->gain_dtype));
    CHECK(check_ptr(fn, "args->gain", a->gain));
    CHECK(check_float_dtype(fn, "args->router_dtype", a->router_dtype));
    CHECK(check_ptr(fn, "args->router", a->router));
    if (a->n_experts < 1 || a->n_experts > 256)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: args->n_experts %d is not in [1, 256]", fn,
                         a->n_experts);
    if (a->k < 1 || a->k > a->n_experts)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: args->k %d is not in [1, n_experts = %d]",
                         fn, a->k, a->n_experts);
    if (a->n_heads < 0 || a->n_heads > 1024)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: args->n_heads %d is not in [0, 1024]", fn,
                         a->n_heads);
    if (a->reserved != 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: args->reserved must be 0 (got %d)", fn,
                         a->reserved);
    if (a->n_heads > 0) CHECK(check_ptr(fn, "args->heads", a->heads));
    CHECK(check_ptr(fn, "args->xn_out", a->xn_out));
    CHECK(check_ptr(fn, "args->out", a->out));
    CHECK(check_extent(fn, "args->router", a->n_experts, a->hidden, 1, dtype_size(a->router_dtype)));
    CHECK(check_extent(fn, "args->heads", a->n_heads, a->n_experts, a->hidden, 4));

    CHECK(check_aligned(fn, "args->x", a->x, 4));
    CHECK(check_aligned(fn, "args->gain", a->gain, dtype_size(a->gain_dtype)));
    CHECK(check_aligned(fn, "args->router", a->router, dtype_size(a->router_dtype)));
    CHECK(check_aligned(fn, "args->xn_out", a->xn_out, 4));
    CHECK(check_aligned(fn, "args->out", a->out, 4));
    int with_heads = a->n_heads > 0;
    if (with_heads) {
        CHECK(check_aligned(fn, "args->heads", a->heads, 4));
        if (a->heads_bias) CHECK(check_aligned(fn, "args->heads_bias", a->heads_bias, 4));
    }

    /* The outputs must not overlap an input or each other (a backend may read inputs
     * after writing outputs). */
    size_t vec = (size_t)a->hidden * 4;
    size_t out_bytes = lk_router_heads_out_bytes(a->k, with_heads ? a->n_heads : 0, a->n_experts);
    size_t hb = with_heads ? (size_t)a->n_heads * (size_t)a->n_experts : 0;
    const struct { const char* name; const void* p; size_t bytes; } in[] = {
        {"args->x", a->x, vec},
        {"args->gain", a->gain, (size_t)a->hidden * dtype_size(a->gain_dtype)},
        {"args->router", a->router, (size_t)a->n_experts * vec / 4 * dtype_size(a->router_dtype)},
        {"args->heads", with_heads ? a->heads : NULL, hb * vec},
        {"args->heads_bias", with_heads ? a->heads_bias : NULL, hb * 4},
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        CHECK(check_disjoint(fn, "args->xn_out", a->xn_out, vec, in[i].name, in[i].p, in[i].bytes));
        CHECK(check_disjoint(fn, "args->out", a->out, out_bytes, in[i].name, in[i].p, in[i].bytes));
    }
    CHECK(check_disjoint(fn, "args->xn_out", a->xn_out, vec, "args->out", a->out, out_bytes));
    FORWARD(fn, iface_of(stream)->router_heads(stream, args));
}

LK_API lk_status lk_attention(lk_stream* stream, const lk_attention_args* args) {
    static const char fn[] = "lk_attention";
    CHECK(check_handle(fn, "stream", stream, LK_HANDLE_STREAM));
    CHECK(check_ptr(fn, "args", args));
    CHECK_STRUCT_SIZE(fn, "args", args, lk_attention_args, scale);
    const lk_attention_args* a = args;
    CHECK(check_ptr(fn, "args->q", a->q));
    CHECK(check_ptr(fn, "args->k_cache", a->k_cache));
    CHECK(check_ptr(fn, "args->v_cache", a->v_cache));
    CHECK(check_ptr(fn, "args->out", a->out));
    CHECK(check_positive(fn, "args->n_tokens", a->n_tokens));
    if (a->pos < 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: args->pos must be >= 0 (got %lld)", fn,
                         (long long)a->pos);
    CHECK(check_positive(fn, "args->ctx_capacity", a->ctx_capacity));
    if (a->n_tokens > a->ctx_capacity || a->pos > a->ctx_capacity - a->n_tokens)
        return set_error(LK_ERR_INVALID_ARGUMENT,
                         "%s: args->pos %lld + n_tokens %lld exceeds ctx_capacity %lld", fn,
                         (long long)a->pos, (long long)a->n_tokens, (long long)a->ctx_capacity);
    CHECK(check_positive(fn, "args->n_heads", a->n_heads));
    CHECK(check_positive(fn, "args->n_kv_heads", a->n_kv_heads));
    if (a->n_heads % a->n_kv_heads != 0)
        return set_error(LK_ERR_INVALID_ARGUMENT,
                         "%s: args->n_heads %d is not a multiple of n_kv_heads %d", fn, a->n_heads,
                         a->n_kv_heads);
    if (a->head_dim < 1 || a->head_dim > 256)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: args->head_dim %d is not in [1, 256]", fn,
                         a->head_dim);
    if (a->window < 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: args->window must be >= 0 (got %d)", fn,
                         a->window);
    CHECK(check_float_dtype(fn, "args->kv_dtype", a->kv_dtype));
    if (!isfinite(a->scale) || a->scale <= 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: args->scale must be finite and > 0 (got %g)",
                         fn, (double)a->scale);
    CHECK(check_extent(fn, "args->k_cache", a->ctx_capacity, a->n_kv_heads, a->head_dim,
                       dtype_size(a->kv_dtype)));
    CHECK(check_extent(fn, "args->q", a->n_tokens, a->n_heads, a->head_dim, 4));
    CHECK(check_aligned(fn, "args->q", a->q, 4));
    CHECK(check_aligned(fn, "args->k_cache", a->k_cache, dtype_size(a->kv_dtype)));
    CHECK(check_aligned(fn, "args->v_cache", a->v_cache, dtype_size(a->kv_dtype)));
    CHECK(check_aligned(fn, "args->out", a->out, 4));
    FORWARD(fn, iface_of(stream)->attention(stream, args));
}

/* ---- profiling ------------------------------------------------------------------ */

/* Open ranges of the calling thread, so an unbalanced pop is reported for every backend. */
static _Thread_local int tls_range_depth;

LK_API lk_status lk_range_push(lk_device* device, const char* name) {
    static const char fn[] = "lk_range_push";
    CHECK(check_handle(fn, "device", device, LK_HANDLE_DEVICE));
    CHECK(check_ptr(fn, "name", name));
    size_t len = strnlen(name, 256);
    if (len == 0 || len > 255)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: name must be 1 .. 255 bytes (got %s)", fn,
                         len == 0 ? "an empty string" : "more than 255");
    unsigned long seq = tls_error_seq;
    lk_status st = iface_of(device)->range_push(device, name);
    if (st != LK_OK) {
        if (tls_error_seq == seq) set_error(st, "%s: backend failed with %s", fn, lk_status_name(st));
        return st;
    }
    tls_range_depth++;
    return LK_OK;
}

LK_API lk_status lk_range_pop(lk_device* device) {
    static const char fn[] = "lk_range_pop";
    CHECK(check_handle(fn, "device", device, LK_HANDLE_DEVICE));
    if (tls_range_depth == 0)
        return set_error(LK_ERR_INVALID_ARGUMENT, "%s: no range is open on this thread", fn);
    unsigned long seq = tls_error_seq;
    lk_status st = iface_of(device)->range_pop(device);
    if (st != LK_OK) {
        if (tls_error_seq == seq) set_error(st, "%s: backend failed with %s", fn, lk_status_name(st));
        return st;
    }
    tls_range_depth--;
    return LK_OK;
}
