// Argument checking for the binding. Everything is validated on the JS thread before a worker is
// queued; failures throw JS errors carrying a stable `code` (QNN_E_*), never crash.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>
#include <string>

#include "qnn/common.h"
#include "qnn/gpfq.h"
#include "qnn/quantizer.h"

namespace qnnb {

using qnn::index_t;

[[noreturn]] void throw_code(Napi::Env env, const char* code, const std::string& message, bool type_error = false);

// A typed-array argument: data pointer (stable while the array is pinned) and element count.
template <typename T>
struct Array {
  T* data = nullptr;
  index_t length = 0;
  bool present = false;
};

// obj[key] must be a TypedArray of the given kind with `expected` elements (-1: any, > 0).
// optional: undefined / null gives present == false.
Array<float> get_f32(const Napi::Object& obj, const char* key, index_t expected, bool optional = false);
Array<std::int32_t> get_i32(const Napi::Object& obj, const char* key, index_t expected, bool optional = false);
// Float32Array or Float64Array; is_f64 tells which.
Array<void> get_f32_or_f64(const Napi::Object& obj, const char* key, index_t expected, bool* is_f64,
                           bool optional = false);

index_t get_int(const Napi::Object& obj, const char* key, index_t lo, index_t hi, index_t fallback, bool required);
double get_number(const Napi::Object& obj, const char* key, double lo, double hi, double fallback, bool required);
bool get_bool(const Napi::Object& obj, const char* key, bool fallback);
std::string get_string(const Napi::Object& obj, const char* key, const std::string& fallback);
Napi::Object get_object(const Napi::Value& v, const char* what);

// Outputs of a GPFQ-like call (codes, q: n0 x n1; err, rel: n1), allocated on the JS thread and
// pinned, with the options object, by `pin` until the promise settles.
struct GpfqOut {
  Napi::Int32Array codes;
  Napi::Float32Array q;
  Napi::Float64Array err, rel;
  Napi::Object pin;
  qnn::GpfqOutput raw() { return {codes.Data(), q.Data(), err.Data(), rel.Data()}; }
};
GpfqOut make_gpfq_out(Napi::Env env, const Napi::Object& opts, index_t n0, index_t n1);
// {codes, q, error, relError} from the pinned object of make_gpfq_out (for the completion callback).
Napi::Value gpfq_result(Napi::Env env, const Napi::Object& pinned);

// Throws QNN_E_VALUE (on the worker thread) if any value is NaN or +-Inf.
void check_finite(const float* p, index_t n, const char* what);
void check_finite(const double* p, index_t n, const char* what);

// The G, H, K arguments of the Gram entry points (g required when `distinct`, k optional), all
// Float32Array or all Float64Array, each with `elems` values.
struct GramArgs {
  Array<void> g, h, k;
  bool f64 = false;
};
GramArgs parse_gram_buffers(Napi::Env env, const Napi::Object& o, index_t elems, bool distinct);

// Typed pointers to GramArgs for the worker thread (null when absent); with check_elems > 0 each
// present matrix is first checked for NaN / Inf (QNN_E_VALUE).
template <typename T>
struct GramViews {
  T* G;
  T* H;
  T* K;
};
template <typename T>
GramViews<T> gram_views(const GramArgs& b, index_t check_elems) {
  GramViews<T> v{static_cast<T*>(b.g.data), static_cast<T*>(b.h.data), static_cast<T*>(b.k.data)};
  if (check_elems > 0) {
    check_finite(v.H, check_elems, "h");
    if (v.G) check_finite(v.G, check_elems, "g");
    if (v.K) check_finite(v.K, check_elems, "k");
  }
  return v;
}

// obj.quant (optional): the quantizer spec {kind, tieUpper, lambda, delta, kMax, seed}.
qnn::QuantizerSpec parse_quant(const Napi::Object& obj);
// Alphabet check on the worker thread: non-empty, finite, ascending (QNN_E_EMPTY / QNN_E_VALUE).
void check_levels(const Array<float>& levels);


// Runs `work` on the libuv pool and resolves with `done(env, pin)`'s value; `pin` keeps every
// input and output array alive until then and is handed back to `done` through the persistent
// reference (a Napi::Object captured by a lambda would be a dead handle by then). Errors become
// rejections with `.code`.
class Worker : public Napi::AsyncWorker {
 public:
  Worker(Napi::Env env, const char* name, Napi::Object pin, std::function<void()> work,
         std::function<Napi::Value(Napi::Env, Napi::Object)> done);
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference pin_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env, Napi::Object)> done_;
  std::string code_ = qnn::code::kInternal;
};

Napi::Promise queue(Napi::Env env, const char* name, Napi::Object pin, std::function<void()> work,
                    std::function<Napi::Value(Napi::Env, Napi::Object)> done);

}  // namespace qnnb
