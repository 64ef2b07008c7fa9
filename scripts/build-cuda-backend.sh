#!/usr/bin/env bash
# Build llama.cpp's CUDA backend as one loadable module, libggml-cuda.so, for the bundle that
# scripts/install.sh makes (llama-cpp-python 0.3.36 with GGML_BACKEND_DL: CPU and Vulkan modules).
#
#   scripts/build-cuda-backend.sh [ARCHITECTURES] [--install]
#
# ARCHITECTURES is CMake's CMAKE_CUDA_ARCHITECTURES list (default "86-real;89-real": RTX 30xx and
# RTX 40xx; the table is in installer/README.md). --install copies the module, with the CUDA
# runtime and cuBLAS libraries it needs, into the llama_cpp/lib of .venv (or of $FIRESIDE_PYTHON's
# environment), where Fireside loads it beside the others and the bundle collects it.
# The module is written to $FIRESIDE_CUDA_OUT (default ~/.cache/fireside/cuda-backend/<key>/).
#
# Only the ggml-cuda target is compiled, from the vendored llama.cpp of the same llama-cpp-python
# sdist (so its backend API matches the wheel's libggml-base.so.0); the source is never modified.
# Needs nvcc (CUDA 12 or 13) with its cudart. cuBLAS comes from the toolkit when it has it, else
# from NVIDIA's nvidia-cublas wheel (PyPI), unpacked into the cache; the driver's libcuda.so is
# only linked against (a stub is made when the toolkit has none), never shipped.
# Environment: CUDA_HOME (default: the nvcc on PATH), LLAMA_CPP_SRC (a vendor/llama.cpp),
# CUBLAS_WHEEL (a local nvidia-cublas wheel), JOBS (default 2), FIRESIDE_CUDA_BUILD (build dir).
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_VERSION="0.3.36"
ARCHS="86-real;89-real"
INSTALL=0
for arg in "$@"; do
  case "$arg" in
    --install) INSTALL=1 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-cuda-backend.sh: unknown option $arg" >&2; exit 2 ;;
    *) ARCHS="$arg" ;;
  esac
done
if ! [[ "$ARCHS" =~ ^[0-9]+[af]?(-real|-virtual)?(\;[0-9]+[af]?(-real|-virtual)?)*$ ]]; then
  echo "build-cuda-backend.sh: CUDA architectures look like \"86-real;89-real\", not \"$ARCHS\"" >&2
  exit 2
fi
PY="${FIRESIDE_PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
CACHE="$HOME/.cache/fireside"
JOBS="${JOBS:-2}"
first() { find "$@" 2>/dev/null | sort | tail -1; }  # the newest of the files matching

# The CUDA toolkit: nvcc, cudart, headers.
NVCC="${CUDA_HOME:+$CUDA_HOME/bin/nvcc}"
NVCC="${NVCC:-$(command -v nvcc || true)}"
[ -x "$NVCC" ] || { echo "build-cuda-backend.sh: nvcc not found (install the CUDA toolkit or set CUDA_HOME)" >&2; exit 1; }
# nvcc may be a wrapper script (/usr/local/bin/nvcc): ask it where its toolkit is.
top=$("$NVCC" --dryrun -E -x cu /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -1)
CUDA_HOME="$(cd "${top:-$(dirname "$(readlink -f "$NVCC")")/..}" && pwd)"
NVCC="$CUDA_HOME/bin/nvcc"
CUDA_MAJOR="$("$NVCC" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')"
TK_LIB="$CUDA_HOME/lib64"; [ -d "$TK_LIB" ] || TK_LIB="$CUDA_HOME/targets/$(uname -m)-linux/lib"
echo "CUDA $CUDA_MAJOR toolkit: $CUDA_HOME, architectures $ARCHS"

# The vendored llama.cpp of the llama-cpp-python sdist.
SRC="${LLAMA_CPP_SRC:-}"
if [ -z "$SRC" ]; then
  root="$CACHE/llama-cpp-python-src"
  SRC="$root/llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp"
  if [ ! -d "$SRC" ]; then
    mkdir -p "$root"
    [ -f "$root/llama_cpp_python-$LLAMA_VERSION.tar.gz" ] || "$PY" -m pip download --quiet --no-deps \
      --no-binary :all: "llama-cpp-python==$LLAMA_VERSION" -d "$root"
    tar -xzf "$root/llama_cpp_python-$LLAMA_VERSION.tar.gz" -C "$root"
  fi
fi
[ -f "$SRC/ggml/src/ggml-cuda/CMakeLists.txt" ] || { echo "build-cuda-backend.sh: no ggml-cuda source in $SRC" >&2; exit 1; }

# cuBLAS: the toolkit's, or NVIDIA's wheel of the same CUDA major version.
cublas_args=()
if ! ls "$TK_LIB"/libcublas.so* >/dev/null 2>&1; then
  whl="${CUBLAS_WHEEL:-}"
  if [ -z "$whl" ]; then
    dl="$CACHE/cuda-sdk/wheels"; mkdir -p "$dl"
    whl=$(first "$dl" -name "nvidia_cublas-$CUDA_MAJOR.*.whl")
    if [ -z "$whl" ]; then
      "$PY" -m pip download --quiet --no-deps --only-binary :all: "nvidia-cublas==$CUDA_MAJOR.*" -d "$dl"
      whl=$(first "$dl" -name "nvidia_cublas-$CUDA_MAJOR.*.whl")
    fi
  fi
  CUBLAS="$CACHE/cuda-sdk/$(basename "$whl" .whl)"
  if [ ! -d "$CUBLAS/nvidia" ]; then
    rm -rf "$CUBLAS.tmp" && mkdir -p "$CUBLAS.tmp"
    "$PY" -m zipfile -e "$whl" "$CUBLAS.tmp" && rm -rf "$CUBLAS" && mv "$CUBLAS.tmp" "$CUBLAS"
  fi
  inc=$(dirname "$(first "$CUBLAS/nvidia" -path '*/include/cublas_v2.h')")
  lib=$(dirname "$(first "$CUBLAS/nvidia" -path '*/lib/libcublas.so.*')")
  echo "cuBLAS from $(basename "$whl")"
  cublas_args=(-DCUDA_cublas_LIBRARY="$(first "$lib" -name 'libcublas.so.*')"
               -DCUDA_cublasLt_LIBRARY="$(first "$lib" -name 'libcublasLt.so.*')"
               -DCMAKE_CUDA_FLAGS="-I$inc")
fi

# The driver's libcuda.so.1 is on the user's machine; linking needs the toolkit's stub. When the
# toolkit has none, make one: the driver functions ggml-cuda calls, each returning
# CUDA_ERROR_STUB_LIBRARY (34), with the driver's soname. It is never shipped or loaded.
driver_args=()
if ! ls "$TK_LIB"/stubs/libcuda.so "$TK_LIB"/libcuda.so >/dev/null 2>&1; then
  stub="$CACHE/cuda-sdk/libcuda-stub-$CUDA_MAJOR"
  if [ ! -f "$stub/libcuda.so" ]; then
    mkdir -p "$stub"
    names=$(grep -rhoE '\bcu[A-Z][A-Za-z0-9_]*\(' "$SRC/ggml/src/ggml-cuda" | tr -d '(' | sort -u)
    expanded=$( { echo '#include <cuda.h>'; for n in $names; do echo "FIRESIDE_NAME $n"; done; } |
      cc -E -P -I"$CUDA_HOME/include" -x c - | sed -n 's/^FIRESIDE_NAME //p')
    : >"$stub/stub.c"
    for n in $expanded; do
      grep -qE "CUresult CUDAAPI $n\(" "$CUDA_HOME/include/cuda.h" && echo "int $n(void) { return 34; }" >>"$stub/stub.c"
    done
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stub/libcuda.so" "$stub/stub.c"
  fi
  driver_args=(-DCUDA_cuda_driver_LIBRARY="$stub/libcuda.so")
fi

key=$(printf '%s|%s|%s|%s' "$LLAMA_VERSION" "$ARCHS" "$CUDA_MAJOR" "${cublas_args[*]:-}" | sha256sum | cut -c1-12)
BUILD="${FIRESIDE_CUDA_BUILD:-$CACHE/cuda-backend/build-$key}"
OUT="${FIRESIDE_CUDA_OUT:-$CACHE/cuda-backend/$key}"
if [ ! -f "$OUT/libggml-cuda.so" ]; then
  # Out of tree, configured like install.sh's wheel; only the ggml-cuda target (and the small
  # ggml-base it links) is compiled.
  # shellcheck disable=SC2016  # $ORIGIN is for the dynamic loader, not the shell
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF -DGGML_CPU=OFF -DGGML_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$NVCC" -DCUDAToolkit_ROOT="$CUDA_HOME" \
    -DCMAKE_CUDA_ARCHITECTURES="$ARCHS" -DCMAKE_INSTALL_RPATH='$ORIGIN' \
    -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON "${cublas_args[@]}" "${driver_args[@]}"
  start=$(date +%s)
  cmake --build "$BUILD" --target ggml-cuda -j "$JOBS"
  echo "Built in $(( $(date +%s) - start )) s"
  mkdir -p "$OUT"
  cp "$(find "$BUILD" -name libggml-cuda.so -type f | head -1)" "$OUT/libggml-cuda.so.tmp"
  mv "$OUT/libggml-cuda.so.tmp" "$OUT/libggml-cuda.so"
fi
echo "$OUT/libggml-cuda.so ($(du -h "$OUT/libggml-cuda.so" | cut -f1))"
# What must ship beside it: the CUDA runtime and cuBLAS it links (NVIDIA lists them as
# redistributable), found through the module's RUNPATH ($ORIGIN). libcuda.so.1 is the driver's.
CUBLAS_LIB="${lib:-$TK_LIB}"
runtime=("$TK_LIB"/libcudart.so."$CUDA_MAJOR" "$CUBLAS_LIB"/libcublas.so."$CUDA_MAJOR" "$CUBLAS_LIB"/libcublasLt.so."$CUDA_MAJOR")
if [ "$INSTALL" = 1 ]; then
  dest=$("$PY" -c 'import llama_cpp, os; print(os.path.join(os.path.dirname(llama_cpp.__file__), "lib"))')
  cp "$OUT/libggml-cuda.so" "${runtime[@]}" "$dest/"
  echo "Installed libggml-cuda.so and $(for f in "${runtime[@]}"; do printf '%s ' "$(basename "$f")"; done)into $dest"
else
  echo "To ship it, copy it with these into llama_cpp/lib: ${runtime[*]} (or run again with --install)"
fi
