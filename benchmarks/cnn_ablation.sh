#!/usr/bin/env bash
# The CNN ablation (configs/cnn_ablation/<variant>/<experiment>.yaml): every variant x experiment x
# seed trained through the CLI, JOBS runs at a time (one process each, one CPU thread each), the
# parzen experiment then scored with `aaekit eval --parzen`. Runs are started seed by seed (all
# variants and experiments of seed 0 first), so a budget that runs out leaves whole seeds behind.
#
#   benchmarks/cnn_ablation.sh OUT_ROOT [--set KEY=VALUE ...]
#
# Environment: JOBS (default: the number of CPUs), SEEDS (default "0 1 2"), VARIANTS (default all
# six), EXPERIMENTS (default "semisupervised_100 semisupervised_1000 parzen"), DEVICE (the eval's
# --device, default auto). Each run writes OUT_ROOT/<variant>/<experiment>/seed<N>/ (the layout of
# results/cnn_ablation/) and its output to OUT_ROOT/logs/<variant>.<experiment>.seed<N>.log; a run
# folder that already holds metrics.json (parzen: parzen.json) is skipped, a partial one resumed.
# Extra --set options go to every `aaekit train` (e.g. --set train.epochs=10 --set train.device=cuda).
# MPS=1: start CUDA's multi-process service first (the runs then share the GPU at once rather than
# in turns; the first pass ran 16 side by side on an H200 so) and stop it at the end. On a copy of
# the code whose .git is of another commit, set AAEKIT_CODE_COMMIT (see aaekit.run.code_version).
set -u
if [ $# -lt 1 ]; then
    echo "usage: $0 OUT_ROOT [--set KEY=VALUE ...]" >&2
    exit 2
fi
root=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-$(nproc)}
seeds=${SEEDS:-0 1 2}
variants=${VARIANTS:-mlp cnn cnn_all_conv cnn_no_fc cnn_batchnorm dcgan}
experiments=${EXPERIMENTS:-semisupervised_100 semisupervised_1000 parzen}
device=${DEVICE:-auto}
mkdir -p "$root/logs"

one() {  # extra-args... variant experiment seed (xargs appends the last three)
    local args=("$@")
    local k=${#args[@]}
    local v=${args[k-3]} e=${args[k-2]} s=${args[k-1]}
    set -- "${args[@]:0:k-3}"
    local out=$root/$v/$e/seed$s log=$root/logs/$v.$e.seed$s.log
    local done_file=metrics.json
    [ "$e" = parzen ] && done_file=parzen.json
    [ -f "$out/$done_file" ] && return 0
    {
        python -m aaekit train "$here/configs/cnn_ablation/$v/$e.yaml" --out "$out" --resume \
            --set "seed=$s" --set train.threads=1 --set train.progress=false "$@" &&
        if [ "$e" = parzen ]; then python -m aaekit eval "$out" --parzen --device "$device"; fi
    } >"$log" 2>&1
    local rc=$?
    echo "$(date -u +%H:%M:%S) rc=$rc $v $e seed$s"
    return $rc
}
export -f one
export root here device

if [ "${MPS:-0}" = 1 ]; then
    export CUDA_MPS_PIPE_DIRECTORY=${CUDA_MPS_PIPE_DIRECTORY:-/tmp/aaekit-mps} CUDA_MPS_LOG_DIRECTORY=${CUDA_MPS_LOG_DIRECTORY:-/tmp/aaekit-mps-log}
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    nvidia-cuda-mps-control -d || { echo "$0: could not start CUDA MPS (nvidia-cuda-mps-control -d)" >&2; exit 1; }
    trap 'echo quit | nvidia-cuda-mps-control' EXIT
fi

for s in $seeds; do
    for e in $experiments; do
        for v in $variants; do
            printf '%s\0%s\0%s\0' "$v" "$e" "$s"
        done
    done
done | xargs -0 -n 3 -P "$jobs" bash -c 'one "$@"' _ "$@"
