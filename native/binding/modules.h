// Binding modules that live in their own translation units. Each register_* function adds its
// functions to the addon's exports; addon.cc's Init calls them.
#pragma once

#include <napi.h>

namespace qnnb {

// gptq(options) -> Promise<{codes, q, error, relError}> (native/binding/gptq.cc).
void register_gptq(Napi::Env env, Napi::Object exports);

}  // namespace qnnb
