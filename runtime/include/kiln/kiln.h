/* kiln: integer inference runtime, C API. No function throws; calls that can fail return a
 * kiln_status (KILN_OK = 0) and leave a message for kiln_last_error() on the calling thread.
 *
 * A model is loaded once and is immutable: any number of sessions, on any threads, share it (its
 * weights are never copied). A session holds one caller's inputs, outputs and working memory; use
 * one session per thread. Tensors cross the API in logical order (NCHW for images), row-major.
 *
 * Model files: .kiln (runtime/format/README.md), float or quantized, written by `kiln quantize` or
 * saved from an imported float model. The file's graph runs as stored (it is not canonicalised
 * again). ONNX files are loaded through kiln_model_load_onnx_file() in <kiln/kiln_onnx.h> (host
 * builds, library kiln_onnx). */
#ifndef KILN_KILN_H
#define KILN_KILN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library version, "MAJOR.MINOR.PATCH". */
const char* kiln_version(void);

/* The kernel path this process uses: "ref", "avx2", "avx512vnni", "neondot" or "i8mm". Honours
 * KILN_ISA; returns NULL when KILN_ISA names a path this build or CPU cannot run, with the reason
 * in kiln_last_error(). */
const char* kiln_isa(void);

/* The message of the last failed call on this thread, or "" if none. */
const char* kiln_last_error(void);

typedef enum kiln_status { KILN_OK = 0, KILN_ERROR = 1 } kiln_status;

/* Element types (values match kiln::DType). */
typedef enum kiln_dtype {
  KILN_F32 = 0,
  KILN_U8 = 1,
  KILN_S8 = 2,
  KILN_S32 = 4,
  KILN_S64 = 5
} kiln_dtype;

typedef struct kiln_model kiln_model;
typedef struct kiln_session kiln_session;

/* Loads a .kiln model. From a file: the file is mapped read-only and the weights are used in place
 * (no copy; the mapping lives until the model and its sessions are freed). From memory: the bytes
 * are copied once into aligned storage, so the buffer may be freed after the call. Both verify the
 * file (checksum and structure) and fail with a message for anything malformed or truncated. */
kiln_status kiln_model_load_file(const char* path, kiln_model** out);
kiln_status kiln_model_load_memory(const void* data, size_t size, kiln_model** out);
/* Frees the caller's reference; sessions keep the model alive until they are freed. NULL is fine. */
void kiln_model_free(kiln_model* model);

size_t kiln_model_input_count(const kiln_model* model);
size_t kiln_model_output_count(const kiln_model* model);
/* The i-th input/output name, or NULL when i is out of range. Valid while the model lives. */
const char* kiln_model_input_name(const kiln_model* model, size_t i);
const char* kiln_model_output_name(const kiln_model* model, size_t i);
/* The declared shape of the i-th input (-1 for a dimension that varies, such as the batch). The
 * array is valid while the model lives. */
kiln_status kiln_model_input_shape(const kiln_model* model, size_t i, const int64_t** shape, size_t* rank);

/* A session on `model` running on `threads` threads (<= 0: one per hardware thread). */
kiln_status kiln_session_create(kiln_model* model, int threads, kiln_session** out);
void kiln_session_free(kiln_session* session);

/* Copies a tensor in as the named input. shape has `rank` entries. */
kiln_status kiln_session_set_input(kiln_session* session, const char* name, kiln_dtype dtype, const void* data,
                                   const int64_t* shape, size_t rank);
kiln_status kiln_session_run(kiln_session* session);

/* A view of the named output of the last run, valid until the next run or kiln_session_free. */
typedef struct kiln_tensor_view {
  kiln_dtype dtype;
  const void* data;
  const int64_t* shape;
  size_t rank;
} kiln_tensor_view;
kiln_status kiln_session_get_output(kiln_session* session, const char* name, kiln_tensor_view* out);

/* Bytes of working memory (the activation arena) the last run planned: the peak. */
size_t kiln_session_peak_memory(const kiln_session* session);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KILN_H */
