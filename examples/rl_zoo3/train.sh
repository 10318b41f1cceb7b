#!/usr/bin/env bash
# rl-baselines3-zoo's own trainer (python -m rl_zoo3.train) as an external agent of ppo-bench, in an environment of
# its own (`make zoo-venv` builds .venv-zoo from examples/rl_zoo3/requirements.lock): the zoo's settings, its own
# harness, its monitor.csv files read by ppo-bench; its model and VecNormalize statistics (when it normalizes)
# exported to one ONNX graph by ppo-bench's converter (python -m ppo export-onnx), which ppo-bench's evaluator plays.
#
#   examples/rl_zoo3/train.sh ENV SEED TOTAL_TIMESTEPS OUT      (config/peers.yaml: the agent `zoo-cli`)
#
# Its periodic evaluations are off (--eval-freq -1): ppo-bench evaluates the final policy itself, on its own seeds.
set -euo pipefail
env_id=$1 seed=$2 steps=$3 out=$4
zoo_python=${ZOO_PYTHON:-.venv-zoo/bin/python}
test -x "$zoo_python" || { echo "error: $zoo_python not found; build it with: make zoo-venv" >&2; exit 2; }

"$zoo_python" -m rl_zoo3.train --algo ppo --env "$env_id" --seed "$seed" -n "$steps" -f "$out" \
  --eval-freq -1 --vec-env dummy --device cpu --verbose 0
"$zoo_python" -c 'import json, rl_zoo3, stable_baselines3, gymnasium, torch, sys; json.dump({"rl_zoo3": rl_zoo3.__version__,
  "stable_baselines3": stable_baselines3.__version__, "gymnasium": gymnasium.__version__, "torch": torch.__version__,
  "python": sys.version.split()[0]}, open(sys.argv[1], "w"))' "$out/versions.json"

run="$out/ppo/${env_id}_1"  # the zoo numbers runs in a folder: a fresh {run_dir} holds only the first
normalizer=()
if [[ -f "$run/$env_id/vecnormalize.pkl" ]]; then normalizer=(--vecnormalize "$run/$env_id/vecnormalize.pkl"); fi
"${PPO_PYTHON:-python}" -m ppo export-onnx --sb3-model "$run/$env_id.zip" ${normalizer[@]+"${normalizer[@]}"} --env "$env_id" \
  --out "$out/policy.onnx"
