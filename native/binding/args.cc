#include "args.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>

namespace qnnb {

void throw_code(Napi::Env env, const char* code, const std::string& message, bool type_error) {
  Napi::Error e = type_error ? Napi::TypeError::New(env, message) : Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

namespace {

const char* type_name(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    default: return "TypedArray";
  }
}

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) return type_name(v.As<Napi::TypedArray>().TypedArrayType());
  if (v.IsArray()) return "Array";
  if (v.IsNumber()) return "number";
  if (v.IsString()) return "string";
  if (v.IsBoolean()) return "boolean";
  return "object";
}

// Returns false when absent and optional.
bool fetch_typed(const Napi::Object& obj, const char* key, std::initializer_list<napi_typedarray_type> kinds,
                 const char* want, index_t expected, bool optional, Napi::TypedArray* out) {
  Napi::Env env = obj.Env();
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (optional) return false;
    throw_code(env, qnn::code::kType, std::string("`") + key + "` is required and must be a " + want, true);
  }
  bool ok = v.IsTypedArray();
  if (ok) {
    ok = false;
    for (auto k : kinds) ok = ok || v.As<Napi::TypedArray>().TypedArrayType() == k;
  }
  if (!ok) throw_code(env, qnn::code::kType, std::string("`") + key + "` must be a " + want + " (got " + describe(v) + ")", true);
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.ArrayBuffer().IsDetached()) {
    throw_code(env, qnn::code::kDetached,
               std::string("`") + key + "` is backed by a detached ArrayBuffer (it was transferred); pass a live copy");
  }
  index_t n = static_cast<index_t>(ta.ElementLength());
  if (expected >= 0 && n != expected) {
    throw_code(env, qnn::code::kShape,
               std::string("`") + key + "` has " + std::to_string(n) + " elements but the given shape needs " +
                   std::to_string(expected));
  }
  *out = ta;
  return true;
}

template <typename T>
T* data_of(const Napi::TypedArray& ta) {
  // ArrayBuffer().Data() + ByteOffset(): typed arrays can be views into a larger buffer.
  return reinterpret_cast<T*>(static_cast<std::uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
}

}  // namespace

Array<float> get_f32(const Napi::Object& obj, const char* key, index_t expected, bool optional) {
  Napi::TypedArray ta;
  Array<float> a;
  if (!fetch_typed(obj, key, {napi_float32_array}, "Float32Array", expected, optional, &ta)) return a;
  a.data = data_of<float>(ta);
  a.length = static_cast<index_t>(ta.ElementLength());
  a.present = true;
  return a;
}

Array<std::int32_t> get_i32(const Napi::Object& obj, const char* key, index_t expected, bool optional) {
  Napi::TypedArray ta;
  Array<std::int32_t> a;
  if (!fetch_typed(obj, key, {napi_int32_array}, "Int32Array", expected, optional, &ta)) return a;
  a.data = data_of<std::int32_t>(ta);
  a.length = static_cast<index_t>(ta.ElementLength());
  a.present = true;
  return a;
}

Array<void> get_f32_or_f64(const Napi::Object& obj, const char* key, index_t expected, bool* is_f64, bool optional) {
  Napi::TypedArray ta;
  Array<void> a;
  if (!fetch_typed(obj, key, {napi_float32_array, napi_float64_array}, "Float32Array or Float64Array", expected,
                   optional, &ta))
    return a;
  *is_f64 = ta.TypedArrayType() == napi_float64_array;
  a.data = data_of<void>(ta);
  a.length = static_cast<index_t>(ta.ElementLength());
  a.present = true;
  return a;
}

index_t get_int(const Napi::Object& obj, const char* key, index_t lo, index_t hi, index_t fallback, bool required) {
  Napi::Env env = obj.Env();
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) throw_code(env, qnn::code::kType, std::string("`") + key + "` is required (an integer)", true);
    return fallback;
  }
  if (!v.IsNumber()) throw_code(env, qnn::code::kType, std::string("`") + key + "` must be an integer (got " + describe(v) + ")", true);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
    throw_code(env, qnn::code::kRange,
               std::string("`") + key + "` must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                   "] (got " + std::to_string(d) + ")");
  }
  return static_cast<index_t>(d);
}

double get_number(const Napi::Object& obj, const char* key, double lo, double hi, double fallback, bool required) {
  Napi::Env env = obj.Env();
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) throw_code(env, qnn::code::kType, std::string("`") + key + "` is required (a number)", true);
    return fallback;
  }
  if (!v.IsNumber()) throw_code(env, qnn::code::kType, std::string("`") + key + "` must be a number (got " + describe(v) + ")", true);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi)) {
    throw_code(env, qnn::code::kRange,
               std::string("`") + key + "` must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "] (got " +
                   std::to_string(d) + ")");
  }
  return d;
}

bool get_bool(const Napi::Object& obj, const char* key, bool fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsBoolean()) throw_code(obj.Env(), qnn::code::kType, std::string("`") + key + "` must be a boolean", true);
  return v.As<Napi::Boolean>().Value();
}

std::string get_string(const Napi::Object& obj, const char* key, const std::string& fallback) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) throw_code(obj.Env(), qnn::code::kType, std::string("`") + key + "` must be a string", true);
  return v.As<Napi::String>().Utf8Value();
}

Napi::Object get_object(const Napi::Value& v, const char* what) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray()) {
    throw_code(v.Env(), qnn::code::kType, std::string(what) + " must be an options object (got " + describe(v) + ")", true);
  }
  return v.As<Napi::Object>();
}

GpfqOut make_gpfq_out(Napi::Env env, const Napi::Object& opts, index_t n0, index_t n1) {
  GpfqOut o;
  o.codes = Napi::Int32Array::New(env, static_cast<std::size_t>(n0 * n1));
  o.q = Napi::Float32Array::New(env, static_cast<std::size_t>(n0 * n1));
  o.err = Napi::Float64Array::New(env, static_cast<std::size_t>(n1));
  o.rel = Napi::Float64Array::New(env, static_cast<std::size_t>(n1));
  o.pin = Napi::Object::New(env);
  o.pin.Set("opts", opts);
  o.pin.Set("codes", o.codes);
  o.pin.Set("q", o.q);
  o.pin.Set("err", o.err);
  o.pin.Set("rel", o.rel);
  return o;
}

Napi::Value gpfq_result(Napi::Env env, const Napi::Object& pinned) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("codes", pinned.Get("codes"));
  r.Set("q", pinned.Get("q"));
  r.Set("error", pinned.Get("err"));
  r.Set("relError", pinned.Get("rel"));
  return r;
}

GramArgs parse_gram_buffers(Napi::Env env, const Napi::Object& o, index_t elems, bool distinct) {
  GramArgs a;
  bool g64 = false, k64 = false;
  a.h = get_f32_or_f64(o, "h", elems, &a.f64);
  a.g = get_f32_or_f64(o, "g", elems, &g64, !distinct);
  a.k = get_f32_or_f64(o, "k", elems, &k64, true);
  if ((a.g.present && g64 != a.f64) || (a.k.present && k64 != a.f64))
    throw_code(env, qnn::code::kType, "`g`, `h` and `k` must all be Float32Array or all Float64Array", true);
  return a;
}

void check_levels(const Array<float>& lv) {
  qnn::require(lv.length >= 1, qnn::code::kEmpty, "`levels` (the alphabet) must have at least one value");
  check_finite(lv.data, lv.length, "levels");
  for (index_t i = 1; i < lv.length; ++i)
    qnn::require(lv.data[i - 1] <= lv.data[i], qnn::code::kValue,
                 "`levels` must be sorted ascending (index " + std::to_string(i) + " is smaller than the one before)");
}

qnn::QuantizerSpec parse_quant(const Napi::Object& o) {
  qnn::QuantizerSpec q;
  Napi::Value v = o.Get("quant");
  if (v.IsUndefined() || v.IsNull()) return q;
  Napi::Object qo = get_object(v, "`quant`");
  q.kind = static_cast<qnn::QuantizerKind>(get_int(qo, "kind", 0, 3, 0, false));
  q.tie_upper = get_bool(qo, "tieUpper", false);
  q.lambda = get_number(qo, "lambda", 0, 1e300, 0, false);
  q.delta = get_number(qo, "delta", 0, 1e300, 0, false);
  q.k_max = static_cast<int>(get_int(qo, "kMax", 0, 1 << 20, 0, false));
  q.seed = static_cast<std::uint32_t>(get_int(qo, "seed", 0, 0xFFFFFFFFll, 0, false));
  if (q.kind == qnn::QuantizerKind::kL0 && !(q.delta > 0 && q.k_max >= 1))
    throw_code(o.Env(), qnn::code::kRange, "the L0 quantizer needs delta > 0 and kMax >= 1");
  return q;
}

namespace {
// Index of the first NaN / Infinity in p[0, n), or n. Scans blocks with a branch-free test on the
// exponent bits (all ones: not finite), which the compiler vectorises, and looks closer only at a
// block that has one.
template <typename T, typename U, U kExp>
index_t first_non_finite(const T* p, index_t n) {
  constexpr index_t kBlock = 4096;
  for (index_t b = 0; b < n; b += kBlock) {
    const index_t e = std::min(n, b + kBlock);
    U bad = 0;
    for (index_t i = b; i < e; ++i) {
      U u;
      std::memcpy(&u, p + i, sizeof u);
      bad |= static_cast<U>((u & kExp) == kExp);
    }
    if (bad)
      for (index_t i = b; i < e; ++i)
        if (!std::isfinite(p[i])) return i;
  }
  return n;
}

template <typename T>
void throw_non_finite(const T* p, index_t i, const char* what) {
  throw qnn::Error(qnn::code::kValue, std::string("`") + what + "` contains " + (std::isnan(p[i]) ? "NaN" : "Infinity") +
                                          " at index " + std::to_string(i) + "; remove or clip non-finite values");
}
}  // namespace

void check_finite(const float* p, index_t n, const char* what) {
  const index_t i = first_non_finite<float, std::uint32_t, 0x7f800000u>(p, n);
  if (i < n) throw_non_finite(p, i, what);
}

void check_finite(const double* p, index_t n, const char* what) {
  const index_t i = first_non_finite<double, std::uint64_t, 0x7ff0000000000000ull>(p, n);
  if (i < n) throw_non_finite(p, i, what);
}

Worker::Worker(Napi::Env env, const char* name, Napi::Object pin, std::function<void()> work,
               std::function<Napi::Value(Napi::Env, Napi::Object)> done)
    : Napi::AsyncWorker(env, name),
      deferred_(Napi::Promise::Deferred::New(env)),
      pin_(Napi::Persistent(pin)),
      work_(std::move(work)),
      done_(std::move(done)) {}

void Worker::Execute() {
  try {
    work_();
  } catch (const qnn::Error& e) {
    code_ = e.code();
    SetError(e.what());
  } catch (const std::bad_alloc&) {
    code_ = qnn::code::kMemory;
    SetError("out of memory");
  } catch (const std::exception& e) {
    code_ = qnn::code::kInternal;
    SetError(e.what());
  } catch (...) {
    code_ = qnn::code::kInternal;
    SetError("unknown native error");
  }
}

void Worker::OnOK() {
  Napi::HandleScope scope(Env());
  try {
    deferred_.Resolve(done_(Env(), pin_.Value()));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void Worker::OnError(const Napi::Error& e) {
  Napi::HandleScope scope(Env());
  Napi::Error err = Napi::Error::New(Env(), e.Message());
  err.Set("code", Napi::String::New(Env(), code_));
  deferred_.Reject(err.Value());
}

Napi::Promise queue(Napi::Env env, const char* name, Napi::Object pin, std::function<void()> work,
                    std::function<Napi::Value(Napi::Env, Napi::Object)> done) {
  auto* w = new Worker(env, name, pin, std::move(work), std::move(done));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace qnnb
