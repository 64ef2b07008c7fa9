#!/usr/bin/env bash
# Create .venv in the checkout and install Fireside with everything it needs.
#   scripts/install.sh          the app
#   scripts/install.sh --test   the app plus the test tools
#
# llama-cpp-python is compiled from source when no matching wheel is cached (about 17 minutes on
# two cores). The wheel is kept in $FIRESIDE_WHEEL_CACHE (default ~/.cache/fireside/wheels), keyed
# by version and build flags, so later installs and CI runs take seconds. We build our own wheel
# rather than trust pip's cache because pip's cache ignores CMAKE_ARGS: a wheel built elsewhere
# with -march=native (or with AMX kernels, which crash on some virtual machines) would be reused.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_VERSION="0.3.36"
# Never -march=native: the wheel is cached and bundled, so it must run on other CPUs than this one.
# Override with FIRESIDE_CMAKE_ARGS (CUDA recipe: installer/README.md).
DEFAULT_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
CPU_VARIANTS=no
case "$(uname -s)/$(uname -m)" in
  */arm64|*/aarch64) ;;  # Apple silicon / ARM: llama.cpp's defaults (Metal on macOS) are right
  # Linux x86-64: one CPU backend module per instruction-set level (GGML_CPU_ALL_VARIANTS: x64,
  # sse42, sandybridge, ivybridge, piledriver, haswell, skylakex, cannonlake, cascadelake, icelake,
  # cooperlake, zen4, alderlake, sapphirerapids); ggml scores them against the running CPU and
  # loads the best one it supports, so a CPU without AVX2 still runs and one with AVX-512 uses it.
  Linux/x86_64) CPU_VARIANTS=yes ;;
  # Elsewhere one portable x86-64-v3 build: AVX2/FMA/F16C, no AVX-512/AMX assumptions.
  *) DEFAULT_ARGS="$DEFAULT_ARGS -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" ;;
esac
PY="${PYTHON:-python3}"

scripts/system-deps.sh "${1:-}"
# Backends as loadable modules (GGML_BACKEND_DL): the CPU backend (on Linux x86-64 one
# libggml-cpu-VARIANT.so per CPU level) and, on Linux x86-64, libggml-vulkan sit in llama_cpp/lib
# and Fireside loads whichever the machine can run (no Vulkan driver: the CPU).
# Vulkan needs glslc and libvulkan-dev (system-deps.sh) and headers newer than Debian 12's.
if [ "$(uname -s)" = Linux ]; then
  DEFAULT_ARGS="$DEFAULT_ARGS -DGGML_BACKEND_DL=ON -DCMAKE_INSTALL_BINDIR=llama_cpp/lib"
  # ALL_VARIANTS needs GGML_BACKEND_DL and GGML_NATIVE=OFF (both set above).
  if [ "$CPU_VARIANTS" = yes ]; then DEFAULT_ARGS="$DEFAULT_ARGS -DGGML_CPU_ALL_VARIANTS=ON"; fi
  if [ "$(uname -m)" = x86_64 ] && command -v glslc >/dev/null 2>&1; then
    if vk_include=$(scripts/vulkan-headers.sh); then
      DEFAULT_ARGS="$DEFAULT_ARGS -DGGML_VULKAN=ON -DVulkan_INCLUDE_DIR=$vk_include"
    elif [ -f /usr/include/vulkan/vulkan.hpp ]; then
      DEFAULT_ARGS="$DEFAULT_ARGS -DGGML_VULKAN=ON"
    else
      echo "Vulkan headers not found: building llama.cpp for the CPU only." >&2
    fi
  fi
fi
CMAKE_FLAGS="${FIRESIDE_CMAKE_ARGS:-$DEFAULT_ARGS}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
"$VPY" -m pip install --quiet --upgrade pip wheel

key=$(printf '%s|%s|%s' "$LLAMA_VERSION" "$CMAKE_FLAGS" "$("$VPY" -c 'import sys,platform;print(sys.version_info[:2],platform.machine())')" | sha256sum | cut -c1-16)
WHEELS="${FIRESIDE_WHEEL_CACHE:-$HOME/.cache/fireside/wheels}/$key"
mkdir -p "$WHEELS"
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $LLAMA_VERSION from source (about 20-25 minutes on 2 idle cores)..."
  CMAKE_ARGS="$CMAKE_FLAGS" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
    "$VPY" -m pip wheel --no-deps --no-binary llama-cpp-python --no-cache-dir \
    "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS.tmp"
  mv "$WHEELS".tmp/llama_cpp_python-*.whl "$WHEELS"/ && rm -rf "$WHEELS.tmp"
fi
"$VPY" -m pip install --quiet --force-reinstall --no-deps "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl

if [ "${1:-}" = "--test" ]; then
  # The installer tests build the .deb with PyInstaller, so the packaging tools come along.
  "$VPY" -m pip install --quiet -e ".[test,package]"
  # The engine benchmark test compares Fireside with llama.cpp's own llama-bench, built from the
  # same vendored source against the installed libraries (about 5 minutes once, then cached).
  "$VPY" -m tests.benchmarks.llama_bench_build
else
  "$VPY" -m pip install --quiet -e .
fi
