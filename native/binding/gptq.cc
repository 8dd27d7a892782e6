// GPTQ binding. Validation happens on the JS thread; the inputs and the freshly allocated outputs
// are pinned until the promise settles, and the worker touches only raw pointers. H and K are
// mirrored in place (lower -> upper) by the core, as for gpfqGram; callers must not mutate or
// transfer any input while the promise is pending.
#include <string>

#include "args.h"
#include "modules.h"
#include "qnn/gptq.h"

namespace qnnb {
namespace {

constexpr index_t kMaxN0 = index_t{1} << 20;
constexpr index_t kMaxN1 = (index_t{1} << 31) - 1;

template <typename T>
void run(const Array<float>& w, index_t n0, index_t n1, const Array<void>& g, const Array<void>& h,
         const Array<void>& k, bool same, const Array<float>& lv, const qnn::GptqOptions& opt, qnn::GpfqOutput out) {
  const index_t dd = n0 * n0;
  const T* G = g.present ? static_cast<const T*>(g.data) : nullptr;
  T* H = static_cast<T*>(h.data);
  T* K = k.present ? static_cast<T*>(k.data) : nullptr;
  check_finite(H, dd, "h");
  if (G) check_finite(G, dd, "g");
  if (K) check_finite(K, dd, "k");
  qnn::gptq<T>(w.data, n0, n1, G, H, K, same, lv.data, static_cast<int>(lv.length), opt, out);
}

Napi::Value Gptq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "gptq options");
  const index_t n0 = get_int(o, "n0", 1, kMaxN0, 0, true), n1 = get_int(o, "n1", 1, kMaxN1, 0, true);
  Array<float> w = get_f32(o, "weights", n0 * n1);
  const bool same = get_bool(o, "same", false);
  bool h64 = false, g64 = false, k64 = false;
  Array<void> h = get_f32_or_f64(o, "h", n0 * n0, &h64);
  Array<void> g = get_f32_or_f64(o, "g", n0 * n0, &g64, true);
  Array<void> k = get_f32_or_f64(o, "k", n0 * n0, &k64, true);
  if ((g.present && g64 != h64) || (k.present && k64 != h64))
    throw_code(env, qnn::code::kType, "`g`, `h` and `k` must all be Float32Array or all Float64Array", true);
  Array<float> lv = get_f32(o, "levels", -1);
  qnn::GptqOptions opt;
  opt.block = static_cast<int>(get_int(o, "block", 1, 1 << 16, 128, false));
  opt.perc_damp = get_number(o, "percDamp", 0, 1e6, 0.01, false);
  opt.act_order = get_bool(o, "actOrder", false);
  opt.threads = static_cast<int>(get_int(o, "threads", 0, 256, 0, false));
  opt.quant = parse_quant(o);

  Napi::Int32Array codes = Napi::Int32Array::New(env, static_cast<std::size_t>(n0 * n1));
  Napi::Float32Array q = Napi::Float32Array::New(env, static_cast<std::size_t>(n0 * n1));
  Napi::Float64Array err = Napi::Float64Array::New(env, static_cast<std::size_t>(n1));
  Napi::Float64Array rel = Napi::Float64Array::New(env, static_cast<std::size_t>(n1));
  qnn::GpfqOutput out{codes.Data(), q.Data(), err.Data(), rel.Data()};
  Napi::Object pin = Napi::Object::New(env);
  pin.Set("opts", o);
  pin.Set("codes", codes);
  pin.Set("q", q);
  pin.Set("error", err);
  pin.Set("relError", rel);
  return queue(
      env, "qnn:gptq", pin,
      [=]() {
        check_levels(lv);
        check_finite(w.data, w.length, "weights");
        if (h64) run<double>(w, n0, n1, g, h, k, same, lv, opt, out);
        else run<float>(w, n0, n1, g, h, k, same, lv, opt, out);
      },
      [](Napi::Env e, Napi::Object pinned) {
        Napi::Object r = Napi::Object::New(e);
        for (const char* key : {"codes", "q", "error", "relError"}) r.Set(key, pinned.Get(key));
        return r;
      });
}

}  // namespace

void register_gptq(Napi::Env env, Napi::Object exports) {
  exports.Set("gptq", Napi::Function::New(env, Gptq, "gptq"));
}

}  // namespace qnnb
