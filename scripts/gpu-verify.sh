#!/usr/bin/env bash
# GPU verification on an NVIDIA machine, from the repository root, after
# `npm ci` (or with node_modules carried over):
#
#   bash scripts/gpu-verify.sh [phase ...]
#
# phases (default: all, in this order):
#   build      build the addon for this machine's GPU (MOEKIT_CUDA=ON, native
#              architecture) with the ptxas report, and compile TypeScript
#   test       the whole vitest suite; GPU tests run; JSON report
#   memcheck   compute-sanitizer memcheck over the CUDA tests
#   racecheck  compute-sanitizer racecheck over the CUDA tests
#   bench      every benchmark suite on cuda:0 (results JSON in bench/results/)
#   summary    per op and kernel version: CUDA tests passed/failed, from the
#              test phase's report; a version whose tests all passed may get
#              this architecture added to its verified_on (native/ops/kernel_tables.cc)
#
# Logs and reports go to $OUT (or /tmp/moekit-gpu). cuBLASLt for the
# baselines is looked up in Python's site-packages and the CUDA toolkit
# unless MOEKIT_CUBLASLT_PATH is set.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-/tmp/moekit-gpu}
mkdir -p "$out"
phases=("$@")
[[ ${#phases[@]} -eq 0 ]] && phases=(build test memcheck racecheck bench summary)

# CUDA tests: the files with GPU blocks; -t keeps only their CUDA tests.
cuda_test_files=(tests/runtime/dtype.test.ts tests/fp8 tests/gemm tests/baselines)
cuda_test_filter='CUDA|cuda|v[0-9]'

if [[ -z ${MOEKIT_CUBLASLT_PATH:-} ]]; then
  lt=$(python3 - <<'PY' 2>/dev/null
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages(), "/usr/local/cuda/lib64", "/usr/lib/x86_64-linux-gnu"]
for root in roots:
    for pattern in ("nvidia/cublas/lib/libcublasLt.so.*", "nvidia/cu13/lib/libcublasLt.so.*", "torch/lib/libcublasLt*.so*", "libcublasLt.so.*"):
        hits = sorted(glob.glob(os.path.join(root, pattern)))
        if hits:
            print(hits[-1]); sys.exit(0)
PY
)
  [[ -n $lt ]] && export MOEKIT_CUBLASLT_PATH=$lt
fi
echo "cuBLASLt: ${MOEKIT_CUBLASLT_PATH:-not found (baselines will report unavailable)}"
# On a GPU machine a skipped GPU test is a failure, not a silent pass.
export MOEKIT_EXPECT_GPU=1

status=0
run_phase() {
  local name=$1
  shift
  echo "== $name: $*"
  local start=$SECONDS
  "$@" 2>&1 | tee "$out/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - start))s"
  [[ $rc -ne 0 ]] && status=1
  return "$rc"
}

for phase in "${phases[@]}"; do
  case $phase in
    build)
      run_phase build env MOEKIT_CUDA=ON MOEKIT_CUDA_ARCHITECTURES=native MOEKIT_PTXAS_VERBOSE=1 node scripts/build-native.mjs
      run_phase tsc npx tsc -p tsconfig.json
      ;;
    test)
      run_phase test npx vitest run --reporter=default --reporter=json --outputFile.json="$out/vitest.json"
      ;;
    memcheck)
      run_phase memcheck compute-sanitizer --tool memcheck --target-processes all --error-exitcode 99 \
        node node_modules/vitest/vitest.mjs run "${cuda_test_files[@]}" -t "$cuda_test_filter"
      ;;
    racecheck)
      run_phase racecheck compute-sanitizer --tool racecheck --target-processes all --error-exitcode 99 \
        node node_modules/vitest/vitest.mjs run "${cuda_test_files[@]}" -t "$cuda_test_filter"
      ;;
    bench)
      run_phase bench node dist/bench/run.js --device cuda:0
      mkdir -p "$out/results" && cp bench/results/*.json "$out/results/" 2>/dev/null
      ;;
    summary)
      run_phase summary node scripts/kernel-test-summary.mjs "$out/vitest.json"
      ;;
    *)
      echo "unknown phase '$phase' (build, test, memcheck, racecheck, bench, summary)" >&2
      exit 2
      ;;
  esac
done
exit $status
