#!/usr/bin/env bash
# The demo on an embedded default: a temp registry, a local DVC remote, a small
# generated model; register two versions and show what gitmodel knows.
set -euo pipefail
export DVC_NO_ANALYTICS=1
work=$(mktemp -d "${TMPDIR:-/tmp}/gitmodel-demo.XXXXXX")
# Keep the demo away from the user's own git and DVC configuration.
export HOME="$work/home" GIT_CONFIG_NOSYSTEM=1 XDG_CONFIG_HOME="$work/home/.config"
mkdir -p "$HOME"
git config --global user.name "Demo User"
git config --global user.email demo@example.com
git config --global init.defaultBranch main

step() { printf '\n\033[1m$'; printf ' %q' "$@"; printf '\033[0m\n'; "$@"; }

cd "$work"
git init -q --bare origin.git
git init -q registry && cd registry
git remote add origin "$work/origin.git"
step gitmodel init --remote "$work/dvc-remote"

python3 - <<'PY'
import random
rng = random.Random(1)
# A stand-in for GGUF weights: the real magic, then deterministic noise.
open("support.gguf", "wb").write(b"GGUF" + rng.randbytes(2 * 1024 * 1024))
open("meta.yaml", "w").write("""\
base_model: llama-3-8b-instruct
quantization: q4_k_m
description: First fine-tune on support tickets
training: {data_hash: "sha256:7b2e91ab", lr: 2.0e-4, epochs: 3, rank: 16}
inference: {temperature: 0.2, top_p: 0.9, max_tokens: 512}
prompt_template: support-v3.2
eval_set: support-eval-2026q1
metrics: {accuracy: 0.931, hallucination_rate: 0.025, latency_p95_ms: 905}
""")
PY
step gitmodel register support support.gguf --meta meta.yaml --push

python3 - <<'PY'
import random
rng = random.Random(2)
open("models/support/support.gguf.new", "wb").write(b"GGUF" + rng.randbytes(2 * 1024 * 1024))
open("meta2.yaml", "w").write("""\
description: Retrained with Q1 support tickets
metrics: {accuracy: 0.942, hallucination_rate: 0.021, latency_p95_ms: 890}
""")
PY
mv models/support/support.gguf.new models/support/support.gguf
step gitmodel register support models/support/support.gguf --meta meta2.yaml --bump auto --push
step gitmodel diff support v1.0.0 v1.1.0

# Environments: the gate compares each candidate with what the environment serves.
step gitmodel promote support v1.0.0 staging --push
step gitmodel promote support v1.0.0 production --push
step gitmodel promote support v1.1.0 staging --push
step gitmodel promote support v1.1.0 production --push
step gitmodel list

# An inference host: its own clone, a root its model server would read.
git clone -q "$work/origin.git" "$work/host-clone"
cd "$work/host-clone"
step gitmodel deploy production support --root "$work/host-root"
step gitmodel rollback production support --root "$work/host-root" --reason "demo: wrong refund answers"
step gitmodel status production --root "$work/host-root"
step gitmodel history support
echo
echo "demo registry: $work/registry   host root: $work/host-root"
