/* Loading ONNX models through the C API (host builds: link kiln_onnx). The model is imported,
 * canonicalised and prepared exactly as kiln_model_load_file does for a kiln graph file. */
#ifndef KILN_KILN_ONNX_H
#define KILN_KILN_ONNX_H

#include "kiln/kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

kiln_status kiln_model_load_onnx_file(const char* path, kiln_model** out);
kiln_status kiln_model_load_onnx_memory(const void* data, size_t size, kiln_model** out);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KILN_ONNX_H */
