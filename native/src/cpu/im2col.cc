#include "qnn/im2col.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "qnn/parallel.h"

namespace qnn {

void tf_output_dim(index_t in, int k, int stride, int dilation, bool same, index_t* out, index_t* pad_before) {
  index_t eff = static_cast<index_t>(k - 1) * dilation + 1;
  if (same) {
    *out = (in + stride - 1) / stride;
    index_t total = std::max<index_t>((*out - 1) * stride + eff - in, 0);
    *pad_before = total / 2;
  } else {
    *out = in >= eff ? (in - eff) / stride + 1 : 0;
    *pad_before = 0;
  }
}

ConvGeometry conv_geometry(const ConvSpec& s) {
  require(s.n >= 0 && s.h > 0 && s.w > 0 && s.c > 0, code::kShape,
          "conv input must be NHWC with positive H, W, C (got [" + std::to_string(s.n) + ", " + std::to_string(s.h) +
              ", " + std::to_string(s.w) + ", " + std::to_string(s.c) + "])");
  require(s.kh >= 1 && s.kw >= 1, code::kShape, "kernel size must be >= 1");
  require(s.sh >= 1 && s.sw >= 1, code::kRange, "strides must be >= 1");
  require(s.dh >= 1 && s.dw >= 1, code::kRange, "dilations must be >= 1");
  require(s.groups >= 1 && s.c % s.groups == 0, code::kShape,
          "input channels (" + std::to_string(s.c) + ") must be divisible by groups (" + std::to_string(s.groups) + ")");
  require(std::isfinite(s.retain) && s.retain > 0, code::kRange, "retain rate must be in (0, 1]");
  ConvGeometry g;
  g.sh = s.mode == PatchMode::kZzs ? s.kh : s.sh;
  g.sw = s.mode == PatchMode::kZzs ? s.kw : s.sw;
  tf_output_dim(s.h, s.kh, g.sh, s.dh, s.same, &g.oh, &g.pad_top);
  tf_output_dim(s.w, s.kw, g.sw, s.dw, s.same, &g.ow, &g.pad_left);
  require(g.oh > 0 && g.ow > 0, code::kShape,
          "the kernel (" + std::to_string(s.kh) + "x" + std::to_string(s.kw) + ", dilation " + std::to_string(s.dh) +
              "x" + std::to_string(s.dw) + ") does not fit the " + std::to_string(s.h) + "x" + std::to_string(s.w) +
              " input with 'valid' padding");
  index_t L = g.oh * g.ow;
  if (s.mode == PatchMode::kZzs && s.retain < 1.0) {
    g.rows_per_image = static_cast<index_t>(s.retain * static_cast<double>(L) + 1.0);
  } else {
    g.rows_per_image = L;
  }
  g.cols = static_cast<index_t>(s.kh) * s.kw * s.c;
  g.cols_per_group = g.cols / s.groups;
  return g;
}

void patch_positions(const ConvSpec& s, const ConvGeometry& g, index_t image, std::vector<std::int32_t>* out) {
  index_t L = g.oh * g.ow;
  out->resize(static_cast<std::size_t>(g.rows_per_image));
  if (g.rows_per_image == L && !(s.mode == PatchMode::kZzs && s.retain < 1.0)) {
    for (index_t i = 0; i < L; ++i) (*out)[i] = static_cast<std::int32_t>(i);
    return;
  }
  Rng32 rng(mix_seed(s.seed, static_cast<std::uint32_t>(s.image_offset + image)));
  for (index_t i = 0; i < g.rows_per_image; ++i) (*out)[i] = static_cast<std::int32_t>(rng.below(static_cast<std::uint32_t>(L)));
}

namespace {

// One patch row: image n, output position (oy, ox).
void fill_row(const ConvSpec& s, const ConvGeometry& g, const float* x, index_t n, index_t oy, index_t ox, float* row) {
  const index_t cg = s.c / s.groups;
  const index_t kk = static_cast<index_t>(s.kh) * s.kw;
  const float* img = x + n * s.h * s.w * s.c;
  for (int ky = 0; ky < s.kh; ++ky) {
    index_t iy = oy * g.sh + static_cast<index_t>(ky) * s.dh - g.pad_top;
    for (int kx = 0; kx < s.kw; ++kx) {
      index_t ix = ox * g.sw + static_cast<index_t>(kx) * s.dw - g.pad_left;
      bool inside = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
      const float* px = inside ? img + (iy * s.w + ix) * s.c : nullptr;
      index_t k = static_cast<index_t>(ky) * s.kw + kx;
      if (s.order == ColumnOrder::kHwc) {
        if (s.groups == 1) {
          float* dst = row + k * s.c;
          if (inside) std::memcpy(dst, px, sizeof(float) * s.c);
          else std::memset(dst, 0, sizeof(float) * s.c);
        } else {
          for (int gi = 0; gi < s.groups; ++gi) {
            float* dst = row + gi * g.cols_per_group + k * cg;
            if (inside) std::memcpy(dst, px + gi * cg, sizeof(float) * cg);
            else std::memset(dst, 0, sizeof(float) * cg);
          }
        }
      } else {
        for (int gi = 0; gi < s.groups; ++gi) {
          float* dst = row + gi * g.cols_per_group;
          for (index_t c = 0; c < cg; ++c) dst[c * kk + k] = inside ? px[gi * cg + c] : 0.0f;
        }
      }
    }
  }
}

}  // namespace

void im2col_rows(const ConvSpec& s, const ConvGeometry& g, const float* x, index_t row0, index_t nrows, float* dst,
                 int threads) {
  if (nrows <= 0) return;
  const index_t rpi = g.rows_per_image;
  const index_t first_img = row0 / rpi, last_img = (row0 + nrows - 1) / rpi;
  parallel_for(last_img - first_img + 1, threads, [&](index_t t, int) {
    index_t n = first_img + t;
    std::vector<std::int32_t> pos;
    patch_positions(s, g, n, &pos);
    index_t a = std::max(row0, n * rpi), b = std::min(row0 + nrows, (n + 1) * rpi);
    for (index_t r = a; r < b; ++r) {
      index_t p = pos[static_cast<std::size_t>(r - n * rpi)];
      fill_row(s, g, x, n, p / g.ow, p % g.ow, dst + (r - row0) * g.cols);
    }
  });
}

}  // namespace qnn
