/* Client-to-server masking (RFC 6455 section 5.3) in C: payload byte i XOR key byte i % 4.
 *
 * Optional: masking.py uses it when it was built and falls back to NumPy, bitarray
 * and big integers otherwise. Each call is one pass over the payload, 16 bytes at a
 * time, into a new bytes object (or into a buffer the caller prepared), with a fixed
 * cost of a C call: what the connection's receive loop needs at every frame size. A large
 * new object's fresh memory is mapped in before it is written, as prefault.py does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define WSX_SSE2 1
#endif

#ifdef __linux__
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* linux/mman.h, since Linux 5.14 */
#endif
#endif

#define KEY_BYTES 4
/* From this size on the GIL is let go while the bytes are XORed (another thread may run). */
#define RELEASE_GIL_FROM (64 * 1024)
/* From this size on a new object's fresh memory is mapped in first: buffers.LARGE_FROM (prefault.py). */
#define PREFAULT_FROM (256 * 1024)

#ifdef __linux__
static int populate_works = 1; /* cleared when the kernel (before 5.14) does not know MADV_POPULATE_WRITE */

/* prefault.prefault in C: the pages of [p, p + n) not mapped in yet, mapped in for writing with one
 * system call instead of a page fault each (a capture keeps large payloads: fresh memory). */
static void
prefault(unsigned char *p, Py_ssize_t n)
{
    static long page = 0;
    unsigned char small[512], *vec;
    uintptr_t start, end;
    size_t pages, first, last;
    if (!populate_works) {
        return;
    }
    if (page == 0) {
        page = sysconf(_SC_PAGESIZE);
    }
    start = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1);
    end = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
    if (end <= start) {
        return;
    }
    pages = (end - start) / page;
    vec = pages <= sizeof(small) ? small : PyMem_RawMalloc(pages);
    if (vec == NULL) {
        return;
    }
    if (mincore((void *)start, end - start, vec) == 0) {
        for (first = 0; first < pages && (vec[first] & 1); first++) {
        }
        if (first < pages) { /* reused memory is resident already: nothing to do */
            for (last = pages - 1; vec[last] & 1; last--) {
            }
            if (madvise((void *)(start + first * page), (last + 1 - first) * page, MADV_POPULATE_WRITE) != 0
                && errno == EINVAL) {
                populate_works = 0;
            }
        }
    }
    if (vec != small) {
        PyMem_RawFree(vec);
    }
}
#else
#define prefault(p, n) ((void)0)
#endif

/* dst[i] = src[i] ^ key[i % 4]; dst may be src. */
static void
xor_key(unsigned char *dst, const unsigned char *src, Py_ssize_t n, const unsigned char *key)
{
    Py_ssize_t i = 0;
    uint32_t k32;
    uint64_t k64;
    memcpy(&k32, key, KEY_BYTES);
    /* The key twice, in memory order, whatever the machine's byte order. */
    memcpy(&k64, key, KEY_BYTES);
    memcpy((unsigned char *)&k64 + KEY_BYTES, key, KEY_BYTES);
#ifdef WSX_SSE2
    {
        __m128i k128 = _mm_set_epi32((int)k32, (int)k32, (int)k32, (int)k32);
        for (; i + 64 <= n; i += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k128));
            _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, k128));
            _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, k128));
            _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, k128));
        }
        for (; i + 16 <= n; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k128));
        }
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= k64;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++) {
        dst[i] = src[i] ^ key[i & 3];
    }
}

/* xor_key, without the GIL from RELEASE_GIL_FROM bytes on; ``fresh``: dst is a new object's memory,
 * mapped in first from PREFAULT_FROM bytes on. */
static void
xor_key_released(unsigned char *dst, const unsigned char *src, Py_ssize_t n, const unsigned char *key, int fresh)
{
    if (n < RELEASE_GIL_FROM) {
        xor_key(dst, src, n, key);
        return;
    }
    Py_BEGIN_ALLOW_THREADS
    if (fresh && n >= PREFAULT_FROM) {
        prefault(dst, n);
    }
    xor_key(dst, src, n, key);
    Py_END_ALLOW_THREADS
}

/* A new bytes object: src XOR the key, n bytes. */
static PyObject *
masked_bytes(const unsigned char *src, Py_ssize_t n, const unsigned char *key)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL) {
        return NULL;
    }
    xor_key_released((unsigned char *)PyBytes_AS_STRING(out), src, n, key, 1);
    return out;
}

/* args[0] as the data and args[1] as the 4-byte key, for a function that takes ``wanted`` arguments;
 * -1 with an exception set (nothing held then). */
static int
data_and_key(const char *name, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t wanted, Py_buffer *data,
             Py_buffer *key)
{
    if (nargs != wanted) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, wanted, nargs);
        return -1;
    }
    if (PyObject_GetBuffer(args[0], data, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (PyObject_GetBuffer(args[1], key, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(data);
        return -1;
    }
    if (key->len != KEY_BYTES) {
        PyErr_Format(PyExc_ValueError, "masking key must be 4 bytes, got %zd", key->len);
        PyBuffer_Release(key);
        PyBuffer_Release(data);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(apply_mask_doc,
"apply_mask(data, key, /)\n--\n\n"
"``data`` XOR the 4-byte ``key`` repeated, as a new bytes object (section 5.3).");

static PyObject *
apply_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, key;
    PyObject *out;
    if (data_and_key("apply_mask", args, nargs, 2, &data, &key) < 0) {
        return NULL;
    }
    out = masked_bytes((const unsigned char *)data.buf, data.len, (const unsigned char *)key.buf);
    PyBuffer_Release(&key);
    PyBuffer_Release(&data);
    return out;
}

PyDoc_STRVAR(mask_into_doc,
"mask_into(data, key, out, /)\n--\n\n"
"Write ``data`` XOR the 4-byte ``key`` repeated into ``out``, a writable buffer of the same length.");

static PyObject *
mask_into(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, key, out;
    PyObject *result = NULL;
    if (data_and_key("mask_into", args, nargs, 3, &data, &key) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &out, PyBUF_WRITABLE) < 0) {
        goto done_key;
    }
    if (out.len != data.len) {
        PyErr_Format(PyExc_ValueError, "mask_into: out holds %zd bytes, data %zd", out.len, data.len);
        goto done_out;
    }
    xor_key_released((unsigned char *)out.buf, (const unsigned char *)data.buf, data.len,
                     (const unsigned char *)key.buf, 0);
    result = Py_NewRef(Py_None);
done_out:
    PyBuffer_Release(&out);
done_key:
    PyBuffer_Release(&key);
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(unmask_frame_doc,
"unmask_frame(frame, header_length, length, /)\n--\n\n"
"The ``length``-byte payload of a whole masked ``frame`` whose header, masking key last, is\n"
"``header_length`` bytes, unmasked into a new bytes object.");

static PyObject *
unmask_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer frame;
    Py_ssize_t header_length, length;
    PyObject *out = NULL;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "unmask_frame() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    header_length = PyLong_AsSsize_t(args[1]);
    if (header_length == -1 && PyErr_Occurred()) {
        return NULL;
    }
    length = PyLong_AsSsize_t(args[2]);
    if (length == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &frame, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (header_length < KEY_BYTES || length < 0 || length > frame.len - header_length) {
        PyErr_Format(PyExc_ValueError,
                     "unmask_frame: a %zd-byte header and a %zd-byte payload do not fit a %zd-byte frame",
                     header_length, length, frame.len);
    }
    else {
        const unsigned char *buf = (const unsigned char *)frame.buf;
        out = masked_bytes(buf + header_length, length, buf + header_length - KEY_BYTES);
    }
    PyBuffer_Release(&frame);
    return out;
}

PyDoc_STRVAR(unmask_into_doc,
"unmask_into(payload, at, data, skip, key, /)\n--\n\n"
"Unmask ``data[skip:]`` into ``payload[at:]``, as far as ``payload`` goes, with the 4-byte ``key``\n"
"as it stands at payload byte ``at``; return how many bytes were written. ``payload`` is a new\n"
"bytes object that nobody else holds yet: a large frame's payload, filled read by read.");

static PyObject *
unmask_into(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *payload;
    Py_ssize_t at, skip, n, j;
    Py_buffer data, key;
    unsigned char turned[KEY_BYTES];
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "unmask_into() takes 5 arguments (%zd given)", nargs);
        return NULL;
    }
    payload = args[0];
    if (!PyBytes_CheckExact(payload)) {
        PyErr_SetString(PyExc_TypeError, "unmask_into: payload must be a bytes object");
        return NULL;
    }
    at = PyLong_AsSsize_t(args[1]);
    if (at == -1 && PyErr_Occurred()) {
        return NULL;
    }
    skip = PyLong_AsSsize_t(args[3]);
    if (skip == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[4], &key, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (key.len != KEY_BYTES || at < 0 || at > PyBytes_GET_SIZE(payload) || skip < 0 || skip > data.len) {
        PyErr_Format(PyExc_ValueError, "unmask_into: a %zd-byte key, %zd bytes in of %zd, %zd bytes skipped of %zd",
                     key.len, at, PyBytes_GET_SIZE(payload), skip, data.len);
        PyBuffer_Release(&key);
        PyBuffer_Release(&data);
        return NULL;
    }
    n = data.len - skip;
    if (n > PyBytes_GET_SIZE(payload) - at) {
        n = PyBytes_GET_SIZE(payload) - at;
    }
    for (j = 0; j < KEY_BYTES; j++) { /* the key as it stands at payload byte ``at`` */
        turned[j] = ((const unsigned char *)key.buf)[(at + j) % KEY_BYTES];
    }
    xor_key_released((unsigned char *)PyBytes_AS_STRING(payload) + at, (const unsigned char *)data.buf + skip, n,
                     turned, 0);
    PyBuffer_Release(&key);
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL, apply_mask_doc},
    {"mask_into", (PyCFunction)(void (*)(void))mask_into, METH_FASTCALL, mask_into_doc},
    {"unmask_frame", (PyCFunction)(void (*)(void))unmask_frame, METH_FASTCALL, unmask_frame_doc},
    {"unmask_into", (PyCFunction)(void (*)(void))unmask_into, METH_FASTCALL, unmask_into_doc},
    {NULL, NULL, 0, NULL},
};

static int
speedups_exec(PyObject *module)
{
    return PyModule_AddIntConstant(module, "PREFAULT_FROM", PREFAULT_FROM);
}

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, speedups_exec},
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "wsexplore.protocol._speedups",
    "Masking (RFC 6455 section 5.3) in C; optional, see masking.py.",
    0,
    speedups_methods,
    speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
