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
void run(const Array<float>& w, index_t n0, index_t n1, const GramArgs& b, bool same, const Array<float>& lv,
         const qnn::GptqOptions& opt, qnn::GpfqOutput out) {
  GramViews<T> v = gram_views<T>(b, n0 * n0);
  qnn::gptq<T>(w.data, n0, n1, v.G, v.H, v.K, same, lv.data, static_cast<int>(lv.length), opt, out);
}

Napi::Value Gptq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = get_object(info[0], "gptq options");
  const index_t n0 = get_int(o, "n0", 1, kMaxN0, 0, true), n1 = get_int(o, "n1", 1, kMaxN1, 0, true);
  Array<float> w = get_f32(o, "weights", n0 * n1);
  const bool same = get_bool(o, "same", false);
  GramArgs b = parse_gram_buffers(env, o, n0 * n0, false);
  Array<float> lv = get_f32(o, "levels", -1);
  qnn::GptqOptions opt;
  opt.block = static_cast<int>(get_int(o, "block", 1, 1 << 16, 128, false));
  opt.perc_damp = get_number(o, "percDamp", 0, 1e6, 0.01, false);
  opt.act_order = get_bool(o, "actOrder", false);
  opt.threads = static_cast<int>(get_int(o, "threads", 0, 256, 0, false));
  opt.quant = parse_quant(o);

  GpfqOut out = make_gpfq_out(env, o, n0, n1);
  qnn::GpfqOutput raw = out.raw();
  return queue(
      env, "qnn:gptq", out.pin,
      [=]() {
        check_levels(lv);
        check_finite(w.data, w.length, "weights");
        if (b.f64) run<double>(w, n0, n1, b, same, lv, opt, raw);
        else run<float>(w, n0, n1, b, same, lv, opt, raw);
      },
      [](Napi::Env e, Napi::Object pinned) { return gpfq_result(e, pinned); });
}

}  // namespace

void register_gptq(Napi::Env env, Napi::Object exports) {
  exports.Set("gptq", Napi::Function::New(env, Gptq, "gptq"));
}

}  // namespace qnnb
