#!/usr/bin/env bash
# What a lent GPU measures for issue 18, prepared as one call of the `device` tool (~3-5 min of GPU time).
# Here, before the call (the results/ folder is large, and the machine has no .git and no registry):
#   mkdir -p .mnist && cp ../shared/data/mnist/* .mnist/ && mv results /tmp/results_hold
# The call:  run(command="AAEKIT_CODE_COMMIT=$(full sha) bash benchmarks/gpu_session.sh",
#                carry=[".mnist"], kind="nvidia-h200", timeout_s=480)
# After it:  mv /tmp/results_hold results; copy gpu_epochs.json from the reply's files to results/bench/.
# Writes under $OUT (runs/gpu when run by hand):
# - gpu_epochs.json, bench.log: benchmarks/epochs.py, s/epoch of the paper's 784-1000-1000-8 AAE on the
#   50,000 training images: eager, one CUDA graph per step, and 5 seeds trained together as one graph,
#   each in fp32 and bf16 (the goals: 0.24 s/epoch for one model, 0.5 s/epoch for five);
# - graph_<name>.log: 3 epochs of the Table 1 variants that the CPU tests could not show captured on a
#   GPU (dropout's masks, the Gaussian posterior's draws), each line "graph: yes/no".
set -u
export PYTHONPATH=src AAEKIT_DATA=${AAEKIT_DATA:-.mnist} AAEKIT_CODE_COMMIT=${AAEKIT_CODE_COMMIT:-unknown}
out=${OUT:-runs/gpu}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
timeout 300 python benchmarks/epochs.py --device cuda --epochs 3 --out "$out/gpu_epochs.json" --settings \
    fp32:none:eager bf16:none:eager fp32:none:graph bf16:none:graph fp32:none:graph:5 bf16:none:graph:5 \
    > "$out/bench.log" 2>&1
echo "benchmark rc=$?" >> "$out/bench.log"
for variant in "dropout:configs/parzen/parzen_aae_dropout.yaml" \
               "gaussian_posterior:configs/parzen/parzen_aae_gaussian.yaml"; do
    name=${variant%%:*}
    # shellcheck disable=SC2086
    timeout 120 python -m aaekit train ${variant#*:} --set train.epochs=3 --set train.device=cuda \
        --set train.progress=false --out "runs/gpu_$name" > "$out/graph_$name.log" 2>&1
    echo "rc=$?" >> "$out/graph_$name.log"
    if grep -q "each training step runs as one CUDA graph" "$out/graph_$name.log"; then
        echo "graph: yes" >> "$out/graph_$name.log"
    else
        echo "graph: no" >> "$out/graph_$name.log"
    fi
done
tail -n 12 "$out/bench.log"; grep -h "graph:" "$out"/graph_*.log
