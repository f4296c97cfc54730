// uint8 x int8 dot product, one variant per ISA. The smallest kernel that exercises each ISA's
// integer multiply-accumulate instructions; `kiln selfcheck` and every test lane run it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/kernels/isa.h"

namespace kiln::kernels {

using DotU8S8Fn = int32_t (*)(const uint8_t* a, const int8_t* b, size_t n);

int32_t dot_u8s8__ref(const uint8_t* a, const int8_t* b, size_t n);
int32_t dot_u8s8__avx2(const uint8_t* a, const int8_t* b, size_t n);
int32_t dot_u8s8__avx512vnni(const uint8_t* a, const int8_t* b, size_t n);
int32_t dot_u8s8__neondot(const uint8_t* a, const int8_t* b, size_t n);
int32_t dot_u8s8__i8mm(const uint8_t* a, const int8_t* b, size_t n);

// The variant for `isa`, or nullptr when this build does not contain it.
DotU8S8Fn dot_u8s8_for(Isa isa);

}  // namespace kiln::kernels
