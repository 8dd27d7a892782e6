#!/usr/bin/env bash
# Runs the CUDA backend test (native/test/test_cuda.cc, all parity checks) on the CPU through the
# host emulation in cuda_runtime.h: no GPU, driver or nvcc needed, only g++ (C++20) and python3.
# The kernel units (.cu) get their launches rewritten; the host unit cuda_backend.cc is used as is.
# Builds into build-emu/ at the repository root (git-ignored). Single-threaded; a few minutes.
# Usage: native/src/cuda/emulation/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
out=$root/build-emu
mkdir -p "$out/src" "$out/obj"
cp "$root/native/src/cuda/device.cuh" "$root/native/src/cuda/quantizer.cuh" "$out/src/"
cp "$root/native/src/cuda/cuda_backend.cc" "$out/src/"
mkdir -p "$out/cpu" && cp "$root/native/src/cpu/internal.h" "$out/cpu/"  # cuda_backend.cc includes ../cpu/internal.h
for f in gemm kernels; do
  python3 - "$root/native/src/cuda/$f.cu" "$out/src/$f.cc" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
s = re.sub(r'([A-Za-z_][\w:]*(?:<[^<>]*>)?)\s*<<<(.*?)>>>\s*\(',
           lambda m: 'qnn_emu::launch(%s, %s, ' % (m.group(1), m.group(2)), s, flags=re.S)
s = re.sub(r'extern __shared__ __align__\(\d+\) unsigned char (\w+)\[\];',
           r'unsigned char* \1 = qnn_emu::dyn_smem();', s)
if '<<<' in s or 'extern __shared__' in s:
    sys.exit('emulation: unsupported CUDA syntax left in ' + sys.argv[1])
open(sys.argv[2], 'w').write(s)
PY
done
cxx=${CXX:-g++}
flags=(-std=c++20 -O2 -I"$here" -I"$root/native/include" -DQNN_BUILD_CUDA=1 -DQNN_WITH_CUDA=1)
for f in "$root"/native/src/cpu/*.cc "$root/native/test/main.cc" "$root/native/test/test_cuda.cc"; do
  "$cxx" "${flags[@]}" -c "$f" -o "$out/obj/$(basename "$f" .cc).o"
done
for f in gemm kernels cuda_backend; do  # no FMA contraction beyond the kernels' explicit fma()
  "$cxx" "${flags[@]}" -ffp-contract=off -Wno-unknown-pragmas -c "$out/src/$f.cc" -o "$out/obj/cu_$f.o"
done
"$cxx" "$out"/obj/*.o -o "$out/qnn_emu_tests" -lpthread
exec "$out/qnn_emu_tests" cuda_backend
