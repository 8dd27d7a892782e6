// Patch extraction for NHWC inputs with TensorFlow conv semantics (ALGORITHMS.md 3.4, 4.2).
//
// A patch row holds the receptive field of one output position. Columns are grouped: group g's
// columns are contiguous, in (kh, kw, c) order ("hwc", TF/Keras kernel order) or (c, kh, kw) order
// ("chw", torch/ZZS order), c running over the group's Cin/groups input channels. With groups = 1
// and hwc this is the usual im2col, and patches . reshape(kernel, [kh*kw*Cin, F]) == conv2d.
// The Lybrand channel-parallel mode and depthwise convolutions use groups = Cin.
#pragma once

#include <cstdint>
#include <vector>

#include "qnn/common.h"

namespace qnn {

enum class PatchMode : int {
  kTrueStride = 0,  // every output position at the layer's own stride (Lybrand, Brevitas)
  kZzs = 1,         // stride = kernel size (non-overlapping), retain-rate subsampling per image
};
enum class ColumnOrder : int { kHwc = 0, kChw = 1 };

struct ConvSpec {
  index_t n = 0, h = 0, w = 0, c = 0;  // input batch, NHWC
  int kh = 1, kw = 1;
  int sh = 1, sw = 1;  // strides
  int dh = 1, dw = 1;  // dilations
  bool same = false;   // padding 'same' (TF rule) or 'valid'
  int groups = 1;      // Cin % groups == 0
  PatchMode mode = PatchMode::kTrueStride;
  ColumnOrder order = ColumnOrder::kHwc;
  double retain = 1.0;          // ZZS: rows per image = L if retain >= 1 else int(retain * L + 1)
  std::uint32_t seed = 0;       // ZZS sampling seed
  index_t image_offset = 0;     // global index of image 0 of this batch (seeds its sampling stream)
};

struct ConvGeometry {
  index_t oh = 0, ow = 0;        // output positions of the (possibly re-strided) patch grid
  index_t pad_top = 0, pad_left = 0;
  int sh = 1, sw = 1;            // strides actually used (kernel size in ZZS mode)
  index_t rows_per_image = 0;    // patch rows each image contributes
  index_t cols_per_group = 0;    // kh * kw * Cin / groups
  index_t cols = 0;              // kh * kw * Cin
};

// Validates the spec (throws QNN_E_SHAPE / QNN_E_RANGE) and computes the geometry.
ConvGeometry conv_geometry(const ConvSpec& spec);

// TF output size and leading padding for one spatial dimension.
void tf_output_dim(index_t in, int k, int stride, int dilation, bool same, index_t* out, index_t* pad_before);

// Positions (oh * ow index) of the patch rows of image `image` (global index image_offset + image):
// all positions in order, or the ZZS with-replacement sample.
void patch_positions(const ConvSpec& spec, const ConvGeometry& g, index_t image, std::vector<std::int32_t>* out);

// Writes patch rows [row0, row0 + nrows) of the batch into dst (nrows x g.cols, row-major).
// Rows are numbered image by image, rows_per_image each.
void im2col_rows(const ConvSpec& spec, const ConvGeometry& g, const float* x, index_t row0, index_t nrows, float* dst,
                 int threads);

}  // namespace qnn
