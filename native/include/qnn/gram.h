// Streaming Gram accumulation (FIELD.md 2.2): for batches of layer inputs X (analog network) and
// Xq (partially quantized network),  G += Xq^T X,  H += Xq^T Xq,  K += X^T X.
// Only the lower triangles of H and K are updated (call mirror_lower() before using the upper);
// G is not symmetric and is updated fully. With xq == nullptr ("same inputs", X~ = X) only H is
// updated and it plays all three roles.
#pragma once

#include "qnn/common.h"
#include "qnn/im2col.h"

namespace qnn {

// x, xq: rows x d, row stride ldx (>= d). G may be null only when xq is null; K may be null.
// sx / sxq (optional, d doubles): column sums of x / xq are added to them (for bias correction).
template <typename T>
void gram_accumulate(T* G, T* H, T* K, index_t d, const float* x, const float* xq, index_t rows, index_t ldx,
                     int threads, double* sx = nullptr, double* sxq = nullptr);

// Conv layer inputs (NHWC batch described by spec). G, H, K hold spec.groups blocks of dg x dg
// (dg = kh*kw*Cin/groups), one per group, contiguous. Patches are built in bounded chunks and
// never kept; rows follow patch_positions() (ZZS sampling is seeded per image).
// sx / sxq (optional, groups * dg doubles): column sums of the patches of x / xq.
template <typename T>
void gram_accumulate_conv(T* G, T* H, T* K, const ConvSpec& spec, const float* x, const float* xq, int threads,
                          double* sx = nullptr, double* sxq = nullptr);

// Patch rows one conv batch contributes (for callers that track m).
index_t conv_rows(const ConvSpec& spec);

}  // namespace qnn
