#include <string>

#include "kiln/kernels/isa.h"
#include "kiln/kiln.h"
#include "kiln_version.h"

namespace {
thread_local std::string g_last_error;
}

extern "C" {

const char* kiln_version(void) { return KILN_VERSION_STRING; }

const char* kiln_isa(void) {
  const kiln::kernels::IsaChoice choice = kiln::kernels::choose_isa();
  if (!choice.ok) {
    g_last_error = choice.error;
    return nullptr;
  }
  // isa_name returns views of string literals, so data() is NUL-terminated.
  return kiln::kernels::isa_name(choice.isa).data();
}

const char* kiln_last_error(void) { return g_last_error.c_str(); }

}  // extern "C"
