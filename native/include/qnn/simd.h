// Run-time choice between the AVX2+FMA build of a hot loop and the portable one.
// Pattern: an always_inline template body, instantiated once plainly and once inside a function
// with __attribute__((target("avx2,fma"))), picked by use_avx2(). QNN_CPU_KERNEL=portable forces
// the portable path (tests use it to cover both).
#pragma once

namespace qnn {

bool use_avx2();

}  // namespace qnn

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define QNN_HAS_AVX2_CLONES 1
#define QNN_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define QNN_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define QNN_TARGET_AVX2
#define QNN_ALWAYS_INLINE inline
#endif
