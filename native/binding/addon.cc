// The Node-API surface of qnn-native. Only this directory includes napi.h.
//
// Ownership and threads: every input/output typed array is validated here on the JS thread and
// pinned (through the options object and a result object) until the worker's promise settles; the
// worker touches only raw pointers. Callers must not mutate or transfer those arrays meanwhile.
// Outputs are ordinary (non-external) typed arrays allocated before the work starts.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "modules.h"
#include "qnn/alphabet.h"
#include "qnn/cuda.h"
#include "qnn/gemm.h"
#include "qnn/gpfq.h"
#include "qnn/gram.h"
#include "qnn/im2col.h"

#ifndef QNN_VERSION
#define QNN_VERSION "0.1.0"
#endif
// CMake passes these; the node-gyp build (binding.gyp) relies on the defaults.
#ifndef QNN_BUILD_SYSTEM
#define QNN_BUILD_SYSTEM "node-gyp"
#endif
#ifndef QNN_BUILD_TYPE
#define QNN_BUILD_TYPE "Release"
#endif
#ifndef QNN_BUILD_SANITIZE
#define QNN_BUILD_SANITIZE ""
#endif

namespace qnnb {
namespace {

constexpr index_t kMaxDim = (index_t{1} << 31) - 1;
constexpr index_t kMaxElems = index_t{1} << 40;

index_t checked_product(Napi::Env env, index_t a, index_t b, const char* what) {
  if (a > 0 && b > kMaxElems / a) throw_code(env, qnn::code::kRange, std::string(what) + " is too large");
  return a * b;
}

qnn::GpfqOptions parse_gpfq(const Napi::Object& o) {
  qnn::GpfqOptions g;
  g.dead = static_cast<qnn::DeadRule>(get_int(o, "dead", 0, 1, 0, false));
  g.shortcut = get_bool(o, "shortcut", false);
  g.block = static_cast<int>(get_int(o, "block", 1, 1 << 16, 128, false));
  g.threads = static_cast<int>(get_int(o, "threads", 0, 256, 0, false));
  g.quant = parse_quant(o);
  return g;
}

std::string parse_backend(const Napi::Object& o) {
  std::string b = get_string(o, "backend", "cpu");
  if (b != "cpu" && b != "cuda")
    throw_code(o.Env(), qnn::code::kRange, "`backend` must be 'cpu' or 'cuda' (got '" + b + "')");
  return b;
}

qnn::ConvSpec parse_spec(Napi::Env env, const Napi::Value& v) {
  Napi::Object s = get_object(v, "`spec`");
  qnn::ConvSpec c;
  c.n = get_int(s, "n", 0, kMaxDim, 0, true);
  c.h = get_int(s, "h", 1, kMaxDim, 0, true);
  c.w = get_int(s, "w", 1, kMaxDim, 0, true);
  c.c = get_int(s, "c", 1, kMaxDim, 0, true);
  c.kh = static_cast<int>(get_int(s, "kh", 1, 1 << 16, 1, true));
  c.kw = static_cast<int>(get_int(s, "kw", 1, 1 << 16, 1, true));
  c.sh = static_cast<int>(get_int(s, "sh", 1, 1 << 16, 1, false));
  c.sw = static_cast<int>(get_int(s, "sw", 1, 1 << 16, 1, false));
  c.dh = static_cast<int>(get_int(s, "dh", 1, 1 << 16, 1, false));
  c.dw = static_cast<int>(get_int(s, "dw", 1, 1 << 16, 1, false));
  std::string pad = get_string(s, "padding", "valid");
  if (pad != "same" && pad != "valid") throw_code(env, qnn::code::kRange, "`padding` must be 'same' or 'valid'");
  c.same = pad == "same";
  c.groups = static_cast<int>(get_int(s, "groups", 1, kMaxDim, 1, false));
  std::string mode = get_string(s, "mode", "stride");
  if (mode != "stride" && mode != "zzs") throw_code(env, qnn::code::kRange, "`mode` must be 'stride' or 'zzs'");
  c.mode = mode == "zzs" ? qnn::PatchMode::kZzs : qnn::PatchMode::kTrueStride;
  std::string order = get_string(s, "order", "hwc");
  if (order != "hwc" && order != "chw") throw_code(env, qnn::code::kRange, "`order` must be 'hwc' or 'chw'");
  c.order = order == "chw" ? qnn::ColumnOrder::kChw : qnn::ColumnOrder::kHwc;
  c.retain = get_number(s, "retain", 1e-12, 1, 1, false);
  c.seed = static_cast<std::uint32_t>(get_int(s, "seed", 0, 0xFFFFFFFFll, 0, false));
  c.image_offset = get_int(s, "imageOffset", 0, kMaxElems, 0, false);
  return c;
}

qnn::ConvGeometry geometry_or_throw(Napi::Env env, const qnn::ConvSpec& spec) {
  try {
    return qnn::conv_geometry(spec);
  } catch (const qnn::Error& e) {
    throw_code(env, e.code(), e.what());
  }
}

Napi::Object pin_object(Napi::Env env, const Napi::Object& opts) {
  Napi::Object pin = Napi::Object::New(env);
  pin.Set("opts", opts);
  return pin;
}

// ---------------------------------------------------------------------------------------------

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", QNN_VERSION);
  o.Set("napiVersion", NAPI_VERSION);
  o.Set("buildSystem", QNN_BUILD_SYSTEM);
  o.Set("buildType", QNN_BUILD_TYPE);
  o.Set("openmp", static_cast<bool>(QNN_BUILD_OPENMP));
  o.Set("cudaCompiled", static_cast<bool>(QNN_BUILD_CUDA));
  o.Set("cpuKernel", qnn::gemm_kernel_name());
  o.Set("cpuHasAvx2Fma", qnn::cpu_has_avx2_fma());
  o.Set("defaultThreads", qnn::default_threads());
  o.Set("sanitize", QNN_BUILD_SANITIZE);
#if defined(__clang__)
  o.Set("compiler", std::string("clang ") + __clang_version__);
#elif defined(__GNUC__)
  o.Set("compiler", std::string("gcc ") + __VERSION__);
#else
  o.Set("compiler", "unknown");
#endif
  return o;
}

Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array arr = Napi::Array::New(env);
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("name", "cpu");
  cpu.Set("compiled", true);
  cpu.Set("available", true);
  cpu.Set("devices", 1);
  cpu.Set("threads", qnn::default_threads());
  cpu.Set("kernel", qnn::gemm_kernel_name());
  cpu.Set("reason", "");
  arr.Set(0u, cpu);
  const qnn::cuda::Info& ci = qnn::cuda::info();
  Napi::Object cu = Napi::Object::New(env);
  cu.Set("name", "cuda");
  cu.Set("compiled", ci.compiled);
  cu.Set("available", ci.available);
  cu.Set("devices", ci.device_count);
  cu.Set("reason", ci.reason);
  if (ci.available) {
    cu.Set("deviceName", ci.name);
    cu.Set("totalMemory", static_cast<double>(ci.total_bytes));
    cu.Set("freeMemory", static_cast<double>(ci.free_bytes));
    cu.Set("computeCapability", std::to_string(ci.cc_major) + "." + std::to_string(ci.cc_minor));
  }
  if (ci.compiled) {
    cu.Set("runtimeVersion", ci.runtime_version);
    cu.Set("driverVersion", ci.driver_version);
  }
  arr.Set(1u, cu);
  return arr;
}

Napi::Value Alphabet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "alphabet options");
  qnn::AlphabetSpec spec;
  spec.kind = static_cast<qnn::AlphabetKind>(get_int(o, "kind", 0, 2, 0, true));
  spec.bits = get_number(o, "bits", -1e300, 1e300, 0, true);
  spec.scalar = get_number(o, "scalar", -1e300, 1e300, 1, false);
  spec.percentile = get_number(o, "percentile", -1e300, 1e300, 1, false);
  index_t n0 = get_int(o, "n0", 1, kMaxDim, 0, true), n1 = get_int(o, "n1", 1, kMaxDim, 0, true);
  Array<float> w = get_f32(o, "weights", checked_product(env, n0, n1, "n0 * n1"));
  try {
    check_finite(w.data, w.length, "weights");
    qnn::AlphabetGrid g = qnn::make_alphabet_grid(spec, w.data, n0, n1);
    Napi::Float32Array levels = Napi::Float32Array::New(env, g.levels.size());
    std::copy(g.levels.begin(), g.levels.end(), levels.Data());
    Napi::Int32Array codes = Napi::Int32Array::New(env, g.codes.size());
    std::copy(g.codes.begin(), g.codes.end(), codes.Data());
    Napi::Object out = Napi::Object::New(env);
    out.Set("levels", levels);
    out.Set("codes", codes);
    out.Set("step", g.step);
    out.Set("min", g.min);
    out.Set("radius", g.radius);
    return out;
  } catch (const qnn::Error& e) {
    throw_code(env, e.code(), e.what());
  }
}

Napi::Value L0Alphabet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "l0Alphabet options");
  try {
    std::vector<float> a = qnn::make_l0_alphabet(get_number(o, "delta", -1e300, 1e300, 0, true),
                                                 get_number(o, "lambda", -1e300, 1e300, 0, true),
                                                 static_cast<int>(get_int(o, "kMax", 0, 1 << 20, 0, true)));
    Napi::Float32Array out = Napi::Float32Array::New(env, a.size());
    std::copy(a.begin(), a.end(), out.Data());
    return out;
  } catch (const qnn::Error& e) {
    throw_code(env, e.code(), e.what());
  }
}

Napi::Value Msq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "msq options");
  Array<float> w = get_f32(o, "weights", -1);
  Array<float> lv = get_f32(o, "levels", -1);
  index_t n1 = get_int(o, "n1", 1, kMaxDim, 1, false);
  qnn::QuantizerSpec q = parse_quant(o);
  Napi::Int32Array codes = Napi::Int32Array::New(env, static_cast<std::size_t>(w.length));
  Napi::Float32Array qv = Napi::Float32Array::New(env, static_cast<std::size_t>(w.length));
  try {
    check_levels(lv);
    check_finite(w.data, w.length, "weights");
    qnn::msq(w.data, w.length, lv.data, static_cast<int>(lv.length), q, n1, codes.Data(), qv.Data());
  } catch (const qnn::Error& e) {
    throw_code(env, e.code(), e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("codes", codes);
  out.Set("q", qv);
  return out;
}

Napi::Value GpfqDirect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "gpfqDirect options");
  index_t n0 = get_int(o, "n0", 1, kMaxDim, 0, true), n1 = get_int(o, "n1", 1, kMaxDim, 0, true);
  index_t m = get_int(o, "m", 1, kMaxElems, 0, true);
  Array<float> w = get_f32(o, "weights", checked_product(env, n0, n1, "n0 * n1"));
  index_t xn = checked_product(env, m, n0, "m * n0");
  Array<float> x = get_f32(o, "x", xn);
  Array<float> xq = get_f32(o, "xq", xn, true);
  Array<float> lv = get_f32(o, "levels", -1);
  std::string precision = get_string(o, "precision", "float32");
  if (precision != "float32" && precision != "float64")
    throw_code(env, qnn::code::kRange, "`precision` must be 'float32' or 'float64'");
  bool f64 = precision == "float64";
  bool cuda = parse_backend(o) == "cuda";
  qnn::GpfqOptions opt = parse_gpfq(o);
  GpfqOut out = make_gpfq_out(env, o, n0, n1);
  qnn::GpfqOutput raw = out.raw();
  Napi::Object pin = out.pin;
  return queue(
      env, "qnn:gpfqDirect", pin,
      [=]() {
        check_levels(lv);
        check_finite(w.data, w.length, "weights");
        check_finite(x.data, x.length, "x");
        if (xq.present) check_finite(xq.data, xq.length, "xq");
        const float* xqp = xq.present ? xq.data : nullptr;
        int nl = static_cast<int>(lv.length);
        if (cuda) {
          if (f64) qnn::cuda::gpfq_direct<double>(w.data, n0, n1, x.data, xqp, m, lv.data, nl, opt, raw);
          else qnn::cuda::gpfq_direct<float>(w.data, n0, n1, x.data, xqp, m, lv.data, nl, opt, raw);
        } else {
          if (f64) qnn::gpfq_direct<double>(w.data, n0, n1, x.data, xqp, m, lv.data, nl, opt, raw);
          else qnn::gpfq_direct<float>(w.data, n0, n1, x.data, xqp, m, lv.data, nl, opt, raw);
        }
      },
      [](Napi::Env e, Napi::Object pinned) { return gpfq_result(e, pinned); });
}

template <typename T>
void run_gpfq_gram(bool cuda, const Array<float>& w, index_t n0, index_t n1, const GramArgs& b, bool same,
                   const Array<float>& lv, const qnn::GpfqOptions& opt, qnn::GpfqOutput out) {
  GramViews<T> v = gram_views<T>(b, n0 * n0);
  const int nl = static_cast<int>(lv.length);
  if (cuda) qnn::cuda::gpfq_gram<T>(w.data, n0, n1, v.G, v.H, v.K, same, lv.data, nl, opt, out);
  else qnn::gpfq_gram<T>(w.data, n0, n1, v.G, v.H, v.K, same, lv.data, nl, opt, out);
}

Napi::Value GpfqGram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "gpfqGram options");
  index_t n0 = get_int(o, "n0", 1, kMaxDim, 0, true), n1 = get_int(o, "n1", 1, kMaxDim, 0, true);
  Array<float> w = get_f32(o, "weights", checked_product(env, n0, n1, "n0 * n1"));
  bool same = get_bool(o, "same", false);
  GramArgs b = parse_gram_buffers(env, o, checked_product(env, n0, n0, "n0 * n0"), !same);
  Array<float> lv = get_f32(o, "levels", -1);
  bool cuda = parse_backend(o) == "cuda";
  qnn::GpfqOptions opt = parse_gpfq(o);
  GpfqOut out = make_gpfq_out(env, o, n0, n1);
  qnn::GpfqOutput raw = out.raw();
  Napi::Object pin = out.pin;
  return queue(
      env, "qnn:gpfqGram", pin,
      [=]() {
        check_levels(lv);
        check_finite(w.data, w.length, "weights");
        if (b.f64) run_gpfq_gram<double>(cuda, w, n0, n1, b, same, lv, opt, raw);
        else run_gpfq_gram<float>(cuda, w, n0, n1, b, same, lv, opt, raw);
      },
      [](Napi::Env e, Napi::Object pinned) { return gpfq_result(e, pinned); });
}

// Optional Float64Array column-sum accumulators `sx` / `sxq` of `n` entries each.
struct SumArgs {
  double* sx = nullptr;
  double* sxq = nullptr;
};

SumArgs parse_sums(const Napi::Object& o, index_t n) {
  SumArgs s;
  for (const char* key : {"sx", "sxq"}) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) continue;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw_code(o.Env(), qnn::code::kType, std::string("`") + key + "` must be a Float64Array", true);
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (ta.ArrayBuffer().IsDetached()) throw_code(o.Env(), qnn::code::kDetached, std::string("`") + key + "` is detached");
    if (static_cast<index_t>(ta.ElementLength()) != n)
      throw_code(o.Env(), qnn::code::kShape, std::string("`") + key + "` must have " + std::to_string(n) + " elements");
    double* p = reinterpret_cast<double*>(static_cast<std::uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
    (std::string(key) == "sx" ? s.sx : s.sxq) = p;
  }
  return s;
}

Napi::Value GramAccumulate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "gramAccumulate options");
  index_t d = get_int(o, "d", 1, kMaxDim, 0, true);
  index_t rows = get_int(o, "rows", 0, kMaxElems, 0, true);
  index_t xn = checked_product(env, rows, d, "rows * d");
  Array<float> x = get_f32(o, "x", xn);
  Array<float> xq = get_f32(o, "xq", xn, true);
  GramArgs b = parse_gram_buffers(env, o, checked_product(env, d, d, "d * d"), xq.present);
  SumArgs sums = parse_sums(o, d);
  int threads = static_cast<int>(get_int(o, "threads", 0, 256, 0, false));
  threads = qnn::resolve_threads(threads);
  Napi::Object pin = pin_object(env, o);
  return queue(
      env, "qnn:gramAccumulate", pin,
      [=]() {
        check_finite(x.data, x.length, "x");
        if (xq.present) check_finite(xq.data, xq.length, "xq");
        const float* xqp = xq.present ? xq.data : nullptr;
        if (b.f64) {
          GramViews<double> v = gram_views<double>(b, 0);
          qnn::gram_accumulate<double>(v.G, v.H, v.K, d, x.data, xqp, rows, d, threads, sums.sx, sums.sxq);
        } else {
          GramViews<float> v = gram_views<float>(b, 0);
          qnn::gram_accumulate<float>(v.G, v.H, v.K, d, x.data, xqp, rows, d, threads, sums.sx, sums.sxq);
        }
      },
      [](Napi::Env e, Napi::Object) { return e.Undefined(); });
}

Napi::Value GramAccumulateConv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "gramAccumulateConv options");
  qnn::ConvSpec spec = parse_spec(env, o.Get("spec"));
  qnn::ConvGeometry geo = geometry_or_throw(env, spec);
  index_t xn = checked_product(env, checked_product(env, spec.n, spec.h * spec.w, "input size"), spec.c, "input size");
  Array<float> x = get_f32(o, "x", xn);
  Array<float> xq = get_f32(o, "xq", xn, true);
  index_t dg = geo.cols_per_group;
  GramArgs b = parse_gram_buffers(env, o, checked_product(env, spec.groups, dg * dg, "groups * d * d"), xq.present);
  SumArgs sums = parse_sums(o, spec.groups * dg);
  int threads = qnn::resolve_threads(static_cast<int>(get_int(o, "threads", 0, 256, 0, false)));
  Napi::Object pin = pin_object(env, o);
  return queue(
      env, "qnn:gramAccumulateConv", pin,
      [=]() {
        check_finite(x.data, x.length, "x");
        if (xq.present) check_finite(xq.data, xq.length, "xq");
        const float* xqp = xq.present ? xq.data : nullptr;
        if (b.f64) {
          GramViews<double> v = gram_views<double>(b, 0);
          qnn::gram_accumulate_conv<double>(v.G, v.H, v.K, spec, x.data, xqp, threads, sums.sx, sums.sxq);
        } else {
          GramViews<float> v = gram_views<float>(b, 0);
          qnn::gram_accumulate_conv<float>(v.G, v.H, v.K, spec, x.data, xqp, threads, sums.sx, sums.sxq);
        }
      },
      [](Napi::Env e, Napi::Object) { return e.Undefined(); });
}

Napi::Value ConvGeometry(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  qnn::ConvSpec spec = parse_spec(env, info[0]);
  qnn::ConvGeometry g = geometry_or_throw(env, spec);
  Napi::Object o = Napi::Object::New(env);
  o.Set("oh", static_cast<double>(g.oh));
  o.Set("ow", static_cast<double>(g.ow));
  o.Set("padTop", static_cast<double>(g.pad_top));
  o.Set("padLeft", static_cast<double>(g.pad_left));
  o.Set("rowsPerImage", static_cast<double>(g.rows_per_image));
  o.Set("cols", static_cast<double>(g.cols));
  o.Set("colsPerGroup", static_cast<double>(g.cols_per_group));
  return o;
}

Napi::Value Im2col(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "im2col options");
  qnn::ConvSpec spec = parse_spec(env, o.Get("spec"));
  qnn::ConvGeometry geo = geometry_or_throw(env, spec);
  index_t xn = checked_product(env, checked_product(env, spec.n, spec.h * spec.w, "input size"), spec.c, "input size");
  Array<float> x = get_f32(o, "x", xn);
  index_t total = geo.rows_per_image * spec.n;
  index_t row0 = get_int(o, "row0", 0, total, 0, false);
  index_t rows = get_int(o, "rows", 0, total - row0, total - row0, false);
  index_t elems = checked_product(env, rows, geo.cols, "rows * cols");
  if (elems > (index_t{1} << 31))
    throw_code(env, qnn::code::kRange,
               "im2col would produce " + std::to_string(elems) +
                   " values; ask for fewer rows (row0/rows) or stream batches into a Gram accumulator");
  bool cuda = parse_backend(o) == "cuda";
  int threads = qnn::resolve_threads(static_cast<int>(get_int(o, "threads", 0, 256, 0, false)));
  Napi::Float32Array patches = Napi::Float32Array::New(env, static_cast<std::size_t>(elems));
  float* dst = patches.Data();
  Napi::Object pin = pin_object(env, o);
  pin.Set("patches", patches);
  return queue(
      env, "qnn:im2col", pin,
      [=]() {
        check_finite(x.data, x.length, "x");
        if (cuda) qnn::cuda::im2col_rows(spec, x.data, row0, rows, dst);
        else qnn::im2col_rows(spec, geo, x.data, row0, rows, dst, threads);
      },
      [rows, geo](Napi::Env e, Napi::Object pinned) {
        Napi::Object r = Napi::Object::New(e);
        r.Set("patches", pinned.Get("patches"));
        r.Set("rows", static_cast<double>(rows));
        r.Set("cols", static_cast<double>(geo.cols));
        return r;
      });
}

// ---- CUDA-resident Gram accumulators --------------------------------------------------------

struct CudaGram {
  std::unique_ptr<qnn::cuda::GramAccumulator> acc;
  index_t d = 0;
  int groups = 1;
  bool f64 = false, same = false, track_k = false;
  std::atomic<bool> busy{false};
};

CudaGram* unwrap_gram(Napi::Env env, const Napi::Object& o) {
  Napi::Value v = o.Get("handle");
  if (!v.IsExternal()) throw_code(env, qnn::code::kType, "`handle` must come from cudaGramCreate()", true);
  CudaGram* g = v.As<Napi::External<CudaGram>>().Data();
  if (!g || !g->acc) throw_code(env, qnn::code::kValue, "this CUDA Gram accumulator was already freed");
  bool expected = false;
  if (!g->busy.compare_exchange_strong(expected, true))
    throw_code(env, qnn::code::kValue, "this CUDA Gram accumulator is busy; await the previous call first");
  return g;
}

Napi::Value CudaGramCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "cudaGramCreate options");
  auto g = std::make_unique<CudaGram>();
  g->d = get_int(o, "d", 1, kMaxDim, 0, true);
  g->groups = static_cast<int>(get_int(o, "groups", 1, kMaxDim, 1, false));
  g->f64 = get_string(o, "precision", "float32") == "float64";
  g->same = get_bool(o, "same", false);
  g->track_k = get_bool(o, "trackK", true) && !g->same;
  try {
    g->acc = qnn::cuda::make_gram_accumulator(g->d, g->groups, g->f64, g->same, g->track_k);
  } catch (const qnn::Error& e) {
    throw_code(env, e.code(), e.what());
  }
  return Napi::External<CudaGram>::New(env, g.release(), [](Napi::Env, CudaGram* p) { delete p; });
}

Napi::Value CudaGramFree(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) {
    CudaGram* g = info[0].As<Napi::External<CudaGram>>().Data();
    if (g && !g->busy.load()) g->acc.reset();
  }
  return info.Env().Undefined();
}

Napi::Value CudaGramAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "cudaGramAdd options");
  CudaGram* g = unwrap_gram(env, o);
  try {
    Array<float> x, xq;
    bool conv = o.Has("spec") && !o.Get("spec").IsUndefined();
    qnn::ConvSpec spec;
    index_t rows = 0;
    if (conv) {
      spec = parse_spec(env, o.Get("spec"));
      qnn::ConvGeometry geo = geometry_or_throw(env, spec);
      if (spec.groups != g->groups || geo.cols_per_group != g->d)
        throw_code(env, qnn::code::kShape, "the conv spec does not match this accumulator's groups / d");
      index_t xn = spec.n * spec.h * spec.w * spec.c;
      x = get_f32(o, "x", xn);
      xq = get_f32(o, "xq", xn, true);
    } else {
      rows = get_int(o, "rows", 0, kMaxElems, 0, true);
      x = get_f32(o, "x", checked_product(env, rows, g->d, "rows * d"));
      xq = get_f32(o, "xq", rows * g->d, true);
    }
    if (xq.present == g->same)
      throw_code(env, qnn::code::kValue, g->same ? "this accumulator was created with same: true; do not pass xq"
                                                 : "this accumulator needs xq (created with same: false)");
    Napi::Object pin = pin_object(env, o);
    return queue(
        env, "qnn:cudaGramAdd", pin,
        [=]() {
          struct Release {
            CudaGram* g;
            ~Release() { g->busy.store(false); }
          } release{g};
          check_finite(x.data, x.length, "x");
          if (xq.present) check_finite(xq.data, xq.length, "xq");
          if (conv) g->acc->add_conv(spec, x.data, xq.present ? xq.data : nullptr);
          else g->acc->add(x.data, xq.present ? xq.data : nullptr, rows);
        },
        [](Napi::Env e, Napi::Object) { return e.Undefined(); });
  } catch (...) {
    g->busy.store(false);
    throw;
  }
}

Napi::Value CudaGramDownload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "cudaGramDownload options");
  CudaGram* g = unwrap_gram(env, o);
  try {
    GramArgs b = parse_gram_buffers(env, o, g->groups * g->d * g->d, !g->same);
    if (b.f64 != g->f64) throw_code(env, qnn::code::kType, "download buffers must match the accumulator precision", true);
    Napi::Object pin = pin_object(env, o);
    return queue(
        env, "qnn:cudaGramDownload", pin,
        [=]() {
          struct Release {
            CudaGram* g;
            ~Release() { g->busy.store(false); }
          } release{g};
          g->acc->download(b.g.data, b.h.data, b.k.data);
        },
        [](Napi::Env e, Napi::Object) { return e.Undefined(); });
  } catch (...) {
    g->busy.store(false);
    throw;
  }
}

Napi::Value CudaEstimate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "cudaEstimate options");
  std::string what = get_string(o, "what", "");
  bool f64 = get_string(o, "precision", "float32") == "float64";
  int block = static_cast<int>(get_int(o, "block", 1, 1 << 16, 128, false));
  double bytes = 0;
  if (what == "gram") {
    bytes = static_cast<double>(qnn::cuda::estimate_gram_bytes(
        get_int(o, "d", 1, kMaxDim, 1, true), static_cast<int>(get_int(o, "groups", 1, kMaxDim, 1, false)), f64,
        get_bool(o, "same", false), get_bool(o, "trackK", true), get_int(o, "chunkRows", 1, kMaxElems, 4096, false)));
  } else if (what == "gpfqDirect") {
    bytes = static_cast<double>(qnn::cuda::estimate_gpfq_direct_bytes(
        get_int(o, "n0", 1, kMaxDim, 1, true), get_int(o, "n1", 1, kMaxDim, 1, true),
        get_int(o, "m", 1, kMaxElems, 1, true), f64, get_bool(o, "distinct", true), block));
  } else if (what == "gpfqGram") {
    bytes = static_cast<double>(qnn::cuda::estimate_gpfq_gram_bytes(
        get_int(o, "n0", 1, kMaxDim, 1, true), get_int(o, "n1", 1, kMaxDim, 1, true), f64, get_bool(o, "same", false),
        get_bool(o, "trackK", true), block));
  } else {
    throw_code(env, qnn::code::kRange, "`what` must be 'gram', 'gpfqDirect' or 'gpfqGram'");
  }
  return Napi::Number::New(env, bytes);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
  exports.Set("backends", Napi::Function::New(env, Backends, "backends"));
  exports.Set("alphabet", Napi::Function::New(env, Alphabet, "alphabet"));
  exports.Set("l0Alphabet", Napi::Function::New(env, L0Alphabet, "l0Alphabet"));
  exports.Set("msq", Napi::Function::New(env, Msq, "msq"));
  exports.Set("gpfqDirect", Napi::Function::New(env, GpfqDirect, "gpfqDirect"));
  exports.Set("gpfqGram", Napi::Function::New(env, GpfqGram, "gpfqGram"));
  exports.Set("gramAccumulate", Napi::Function::New(env, GramAccumulate, "gramAccumulate"));
  exports.Set("gramAccumulateConv", Napi::Function::New(env, GramAccumulateConv, "gramAccumulateConv"));
  exports.Set("convGeometry", Napi::Function::New(env, ConvGeometry, "convGeometry"));
  exports.Set("im2col", Napi::Function::New(env, Im2col, "im2col"));
  exports.Set("cudaGramCreate", Napi::Function::New(env, CudaGramCreate, "cudaGramCreate"));
  exports.Set("cudaGramAdd", Napi::Function::New(env, CudaGramAdd, "cudaGramAdd"));
  exports.Set("cudaGramDownload", Napi::Function::New(env, CudaGramDownload, "cudaGramDownload"));
  exports.Set("cudaGramFree", Napi::Function::New(env, CudaGramFree, "cudaGramFree"));
  exports.Set("cudaEstimate", Napi::Function::New(env, CudaEstimate, "cudaEstimate"));
  register_gptq(env, exports);
  return exports;
}

}  // namespace
}  // namespace qnnb

static Napi::Object InitQnn(Napi::Env env, Napi::Object exports) { return qnnb::Init(env, exports); }

NODE_API_MODULE(qnn_native, InitQnn)
