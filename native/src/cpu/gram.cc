#include "qnn/gram.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "qnn/gemm.h"
#include "qnn/parallel.h"

namespace qnn {

namespace {

// sums[c] += sum over rows of a[r * ld + c], c < d.
void column_sums(const float* a, index_t rows, index_t d, index_t ld, double* sums) {
  for (index_t r = 0; r < rows; ++r) {
    const float* row = a + r * ld;
    for (index_t c = 0; c < d; ++c) sums[c] += row[c];
  }
}

}  // namespace

template <typename T>
void gram_accumulate(T* G, T* H, T* K, index_t d, const float* x, const float* xq, index_t rows, index_t ldx,
                     int threads, double* sx, double* sxq) {
  if (rows <= 0 || d <= 0) return;
  if (sx) column_sums(x, rows, d, ldx, sx);
  if (sxq && xq) column_sums(xq, rows, d, ldx, sxq);
  GemmOptions full, lower;
  full.threads = lower.threads = threads;
  lower.lower_only = true;
  if (!xq) {
    GemmSeg s = seg(Trans::kT, x, ldx, x, ldx, rows);
    gemm<T>(d, d, &s, 1, H, d, lower);
    return;
  }
  GemmSeg sg = seg(Trans::kT, xq, ldx, x, ldx, rows);
  gemm<T>(d, d, &sg, 1, G, d, full);
  GemmSeg sh = seg(Trans::kT, xq, ldx, xq, ldx, rows);
  gemm<T>(d, d, &sh, 1, H, d, lower);
  if (K) {
    GemmSeg sk = seg(Trans::kT, x, ldx, x, ldx, rows);
    gemm<T>(d, d, &sk, 1, K, d, lower);
  }
}

namespace {

// acc[(a*kk + b)*C + c] += sum_r P[r][a][c] * Q[r][b][c] for rows in [0, rows): the per-channel
// kk x kk Gram matrices of depthwise / channel-parallel patches, vectorised across channels.
template <typename T>
void channel_gram(const float* P, const float* Q, index_t rows, index_t kk, index_t C, T* acc, bool lower,
                  int threads) {
  constexpr index_t CB = 64, RT = 64;
  const index_t nblk = (C + CB - 1) / CB;
  parallel_for(nblk, threads, [&](index_t blk, int) {
    const index_t c0 = blk * CB, cn = std::min(CB, C - c0);
    T sums[CB];
    for (index_t r0 = 0; r0 < rows; r0 += RT) {
      const index_t rn = std::min(RT, rows - r0);
      for (index_t a = 0; a < kk; ++a) {
        for (index_t b = 0; b < (lower ? a + 1 : kk); ++b) {
          T* out = acc + (a * kk + b) * C + c0;
          for (index_t c = 0; c < cn; ++c) sums[c] = out[c];
          for (index_t r = r0; r < r0 + rn; ++r) {
            const float* p = P + (r * kk + a) * C + c0;
            const float* q = Q + (r * kk + b) * C + c0;
            for (index_t c = 0; c < cn; ++c) sums[c] += static_cast<T>(p[c]) * static_cast<T>(q[c]);
          }
          for (index_t c = 0; c < cn; ++c) out[c] = sums[c];
        }
      }
    }
  });
}

// Adds acc ([a][b][c] layout) into per-channel blocks dst[c][a][b].
template <typename T>
void scatter_channel(const std::vector<T>& acc, index_t kk, index_t C, T* dst, bool lower) {
  for (index_t c = 0; c < C; ++c)
    for (index_t a = 0; a < kk; ++a)
      for (index_t b = 0; b < (lower ? a + 1 : kk); ++b) dst[(c * kk + a) * kk + b] += acc[(a * kk + b) * C + c];
}

}  // namespace

index_t conv_rows(const ConvSpec& spec) {
  ConvGeometry g = conv_geometry(spec);
  return g.rows_per_image * spec.n;
}

template <typename T>
void gram_accumulate_conv(T* G, T* H, T* K, const ConvSpec& spec, const float* x, const float* xq, int threads,
                          double* sx, double* sxq) {
  const ConvGeometry g = conv_geometry(spec);
  const index_t total = g.rows_per_image * spec.n;
  if (total == 0) return;
  const index_t cg = spec.c / spec.groups;
  const index_t kk = static_cast<index_t>(spec.kh) * spec.kw;
  const index_t dg = g.cols_per_group;
  // One input channel per group (depthwise / Lybrand channel mode): natural (kh, kw, c) patches and
  // the channel-vectorised kernel; otherwise grouped patches and one GEMM-based update per group.
  const bool per_channel = cg == 1 && spec.groups > 1;
  ConvSpec ps = spec;
  if (per_channel) {
    ps.groups = 1;
    ps.order = ColumnOrder::kHwc;
  }
  const index_t cols = g.cols;
  // Chunks of at most ~8M floats per patch buffer (32 MB), at least 64 rows.
  const index_t chunk = std::max<index_t>(64, std::min<index_t>(total, (index_t{8} << 20) / cols));
  std::vector<float> px(static_cast<std::size_t>(chunk * cols));
  std::vector<float> pq(xq ? static_cast<std::size_t>(chunk * cols) : 0);
  std::vector<T> accG, accH, accK;
  if (per_channel) {
    accH.assign(static_cast<std::size_t>(kk * kk * spec.c), T(0));
    if (xq) {
      accG.assign(accH.size(), T(0));
      if (K) accK.assign(accH.size(), T(0));
    }
  }
  for (index_t r0 = 0; r0 < total; r0 += chunk) {
    const index_t rn = std::min(chunk, total - r0);
    im2col_rows(ps, g, x, r0, rn, px.data(), threads);
    if (xq) im2col_rows(ps, g, xq, r0, rn, pq.data(), threads);
    // Column sums in the accumulator's (grouped) column order; per-channel patches are (k, c).
    auto add_sums = [&](const float* p, double* s) {
      if (!per_channel) {
        column_sums(p, rn, cols, cols, s);
        return;
      }
      for (index_t r = 0; r < rn; ++r)
        for (index_t k = 0; k < kk; ++k)
          for (index_t c = 0; c < spec.c; ++c) s[c * kk + k] += p[(r * kk + k) * spec.c + c];
    };
    if (sx) add_sums(px.data(), sx);
    if (sxq && xq) add_sums(pq.data(), sxq);
    if (per_channel) {
      if (!xq) {
        channel_gram<T>(px.data(), px.data(), rn, kk, spec.c, accH.data(), true, threads);
      } else {
        channel_gram<T>(pq.data(), px.data(), rn, kk, spec.c, accG.data(), false, threads);
        channel_gram<T>(pq.data(), pq.data(), rn, kk, spec.c, accH.data(), true, threads);
        if (K) channel_gram<T>(px.data(), px.data(), rn, kk, spec.c, accK.data(), true, threads);
      }
    } else {
      for (int gi = 0; gi < spec.groups; ++gi) {
        const index_t off = gi * dg;
        T* Gg = G ? G + gi * dg * dg : nullptr;
        T* Hg = H + gi * dg * dg;
        T* Kg = K ? K + gi * dg * dg : nullptr;
        gram_accumulate<T>(Gg, Hg, Kg, dg, px.data() + off, xq ? pq.data() + off : nullptr, rn, cols, threads);
      }
    }
  }
  if (per_channel) {
    scatter_channel(accH, kk, spec.c, H, true);
    if (xq) {
      scatter_channel(accG, kk, spec.c, G, false);
      if (K) scatter_channel(accK, kk, spec.c, K, true);
    }
  }
}

template void gram_accumulate<float>(float*, float*, float*, index_t, const float*, const float*, index_t, index_t, int,
                                     double*, double*);
template void gram_accumulate<double>(double*, double*, double*, index_t, const float*, const float*, index_t, index_t,
                                      int, double*, double*);
template void gram_accumulate_conv<float>(float*, float*, float*, const ConvSpec&, const float*, const float*, int,
                                          double*, double*);
template void gram_accumulate_conv<double>(double*, double*, double*, const ConvSpec&, const float*, const float*, int,
                                           double*, double*);

}  // namespace qnn
