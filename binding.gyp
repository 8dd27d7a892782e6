# CPU-only node-gyp build of the same sources as CMakeLists.txt (no CUDA, no OpenMP: the core falls
# back to std::thread). npm never uses it implicitly ("gypfile": false); scripts/install.js tries it
# when cmake-js fails, and tools that insist on a binding.gyp (electron-rebuild) can build it.
{
  "targets": [
    {
      "target_name": "qnn_native",
      "sources": [
        "native/binding/addon.cc",
        "native/binding/args.cc",
        "native/binding/gptq.cc",
        "native/src/cpu/common.cc",
        "native/src/cpu/alphabet.cc",
        "native/src/cpu/gemm.cc",
        "native/src/cpu/im2col.cc",
        "native/src/cpu/gram.cc",
        "native/src/cpu/gpfq.cc",
        "native/src/cpu/msq.cc",
        "native/src/cpu/gptq.cc",
        "native/src/cuda/stub.cc"
      ],
      "include_dirs": ["native/include"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "QNN_BUILD_OPENMP=0", "QNN_BUILD_CUDA=0"],
      "cflags_cc": ["-std=c++17", "-O3"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++14", "-std=gnu++1y"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "MACOSX_DEPLOYMENT_TARGET": "11.0"
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "AdditionalOptions": ["/std:c++17"] }
      }
    }
  ]
}
