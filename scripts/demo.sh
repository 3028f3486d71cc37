#!/usr/bin/env bash
# The demo on an embedded default: a temp registry, a local DVC remote, two tiny valid
# GGUF versions; register, promote, deploy to a host root that `gitmodel serve` serves,
# and watch the served answer change on promote and change back on rollback.
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

# Real GGUF files (the `gguf` package's writer), a few KB each: the server loads them.
python3 -m gitmodel.demo support.gguf --seed 1
cat >meta.yaml <<'YAML'
base_model: llama-3-8b-instruct
quantization: q4_k_m
description: First fine-tune on support tickets
training: {data_hash: "sha256:7b2e91ab", lr: 2.0e-4, epochs: 3, rank: 16}
inference: {temperature: 0.2, top_p: 0.9, max_tokens: 512}
prompt_template: support-v3.2
eval_set: support-eval-2026q1
metrics: {accuracy: 0.931, hallucination_rate: 0.025, latency_p95_ms: 905}
YAML
step gitmodel register support support.gguf --meta meta.yaml --push

python3 -m gitmodel.demo models/support/support.gguf.new --seed 2
mv models/support/support.gguf.new models/support/support.gguf
cat >meta2.yaml <<'YAML'
description: Retrained with Q1 support tickets
metrics: {accuracy: 0.942, hallucination_rate: 0.021, latency_p95_ms: 890}
YAML
step gitmodel register support models/support/support.gguf --meta meta2.yaml --bump auto --push
step gitmodel diff support v1.0.0 v1.1.0

# Environments: the gate compares each candidate with what the environment serves.
step gitmodel promote support v1.0.0 staging --push
step gitmodel promote support v1.0.0 production --push

# An inference host: its own clone, a root the model server reads, and the reference
# server (`gitmodel serve`) on a free local port.
root="$work/host-root"
git clone -q "$work/origin.git" "$work/host-clone"
cd "$work/host-clone"
step gitmodel deploy production support --root "$root"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
gitmodel serve support --root "$root" --port "$port" 2>"$work/serve.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
server_flags=(--reload-url "$url/reload" --info-url "$url/info")

ask() {
	# One POST /v1/completions: which version answered, and what it said.
	python3 - "$url" <<'PY' || { cat "$work/serve.log" >&2; return 1; }
import json, sys, time, urllib.request
url = sys.argv[1]
body = json.dumps({"prompt": "How do I get a refund?", "max_tokens": 8}).encode()
for _ in range(100):  # the server may still be starting
    try:
        req = urllib.request.Request(url + "/v1/completions", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            answer = json.load(r)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit(f"no answer from {url}; the server's log:")
print(f"answer from support {answer['version']}: {answer['choices'][0]['text']!r}")
PY
}
printf '\n\033[1mPOST %s/v1/completions {"prompt": "How do I get a refund?", "max_tokens": 8}\033[0m\n' "$url"
ask

cd "$work/registry"
step gitmodel promote support v1.1.0 staging --push
step gitmodel promote support v1.1.0 production --push
step gitmodel list
cd "$work/host-clone"
step gitmodel deploy production support --root "$root" "${server_flags[@]}"
ask
step gitmodel rollback production support --root "$root" "${server_flags[@]}" --reason "demo: wrong refund answers"
ask
step gitmodel status production --root "$root"
step gitmodel history support
echo
echo "demo registry: $work/registry   host root: $root"
echo "serve it again: gitmodel serve support --root $root --port 8080"
