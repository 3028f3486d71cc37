#!/usr/bin/env bash
# The demo on an embedded default: a temp registry, a local DVC remote, two tiny valid
# GGUF versions; register, promote, deploy to a host root that a real server serves, and
# watch the served answer change on promote and change back on rollback.
# The server: llama.cpp's llama-server behind `gitmodel gateway` when llama-server is built
# (`make llama-server`) and this gitmodel has the gateway; else the reference server,
# `gitmodel serve`. GITMODEL_DEMO_SERVER=reference picks the reference server anyway.
set -euo pipefail
export DVC_NO_ANALYTICS=1
here="$(cd "$(dirname "$0")" && pwd)"
# Asked before HOME moves below: the binary lives in the user's cache.
llama_server="$(bash "$here/build_llama_server.sh" --path)"
mode=reference
if [ "${GITMODEL_DEMO_SERVER:-}" != reference ] && [ -x "$llama_server" ] \
	&& gitmodel gateway --help >/dev/null 2>&1; then
	mode=llama
fi
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

# Real GGUF files (the `gguf` package's writer): with llama-server, complete tiny llama
# models (~0.5 MB, seeded weights, so two versions answer differently); else a few KB each.
gguf=(python3 -m gitmodel.demo)
if [ "$mode" = llama ]; then gguf+=(--llama); fi
"${gguf[@]}" support.gguf --seed 1
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

"${gguf[@]}" models/support/support.gguf.new --seed 2
mv models/support/support.gguf.new models/support/support.gguf
# Known prompts v1.1.0 must answer before it takes traffic (docs/checks.md); part of the version.
cat >models/support/checks.yaml <<'YAML'
checks:
  - prompt: "How do I get a refund?"
    min_length: 1
    max_tokens: 8
YAML
cat >meta2.yaml <<'YAML'
description: Retrained with Q1 support tickets
metrics: {accuracy: 0.942, hallucination_rate: 0.021, latency_p95_ms: 890}
YAML
step gitmodel register support models/support/support.gguf --meta meta2.yaml --bump auto --push
step gitmodel diff support v1.0.0 v1.1.0

# Environments: the gate compares each candidate with what the environment serves.
step gitmodel promote support v1.0.0 staging --push
step gitmodel promote support v1.0.0 production --push

# An inference host: its own clone, a root the model server reads, and the server on a
# free local port.
root="$work/host-root"
git clone -q "$work/origin.git" "$work/host-clone"
cd "$work/host-clone"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
url="http://127.0.0.1:$port"
if [ "$mode" = llama ]; then
	# The host file (what `gitmodel host init` writes on a real server) says where the root is
	# and how the model is served: llama-server on two ports, blue/green, behind the gateway.
	mkdir -p "$root"
	export GITMODEL_HOST_CONFIG="$work/host.yaml"
	cat >"$GITMODEL_HOST_CONFIG" <<YAML
root: $root
gateway: {listen: "127.0.0.1:$port"}
models:
  support:
    backend: {kind: llama-cpp, binary: $llama_server, ports: [$(free_port), $(free_port)], args: [-c, "256"]}
    reload: {url: "$url/-/gitmodel/reload?model=support"}
    info_url: "$url/-/gitmodel/info?model=support"
YAML
	printf '\n\033[1m$ cat %s\033[0m\n' "$GITMODEL_HOST_CONFIG"
	cat "$GITMODEL_HOST_CONFIG"
	gitmodel gateway 2>"$work/serve.log" &
	server=$!
	trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
	echo "serving: llama-server ($llama_server) behind gitmodel gateway on $url"
	host_flags=() status_flags=()  # the host file says it all
	step gitmodel deploy production support
else
	echo "serving: gitmodel serve (the reference server) on $url"
	step gitmodel deploy production support --root "$root"
	gitmodel serve support --root "$root" --port "$port" 2>"$work/serve.log" &
	server=$!
	trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
	host_flags=(--root "$root" --reload-url "$url/reload" --info-url "$url/info")
	status_flags=(--root "$root")
fi

ask() {
	# One POST /v1/completions (greedy): which version answered, and what it said.
	python3 - "$url" <<'PY' || { cat "$work/serve.log" >&2; return 1; }
import json, sys, time, urllib.request
url = sys.argv[1]
body = json.dumps({"prompt": "How do I get a refund?", "max_tokens": 8, "temperature": 0}).encode()
for _ in range(100):  # the server may still be starting
    try:
        req = urllib.request.Request(url + "/v1/completions", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            version = r.headers.get("X-Gitmodel-Version")  # the gateway labels each answer
            answer = json.load(r)
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit(f"no answer from {url}; the server's log:")
print(f"answer from support {version or answer['version']}: {answer['choices'][0]['text']!r}")
PY
}
printf '\n\033[1mPOST %s/v1/completions {"prompt": "How do I get a refund?", "max_tokens": 8, "temperature": 0}\033[0m\n' "$url"
ask

cd "$work/registry"
step gitmodel promote support v1.1.0 staging --push
step gitmodel promote support v1.1.0 production --push
step gitmodel list
cd "$work/host-clone"
step gitmodel deploy production support "${host_flags[@]}"
ask
step gitmodel rollback production support "${host_flags[@]}" --reason "demo: wrong refund answers"
ask
step gitmodel status production "${status_flags[@]}"
step gitmodel history support
if [ "$mode" = llama ]; then
	printf '\n\033[1m$ grep checked %s\033[0m\n' "$root/support/journal.jsonl"
	grep '"checked"' "$root/support/journal.jsonl" || true
fi
echo
echo "demo registry: $work/registry   host root: $root"
if [ "$mode" = llama ]; then
	echo "serve it again: GITMODEL_HOST_CONFIG=$work/host.yaml gitmodel gateway"
	echo "  (or the reference server: gitmodel serve support --root $root --port 8080)"
else
	echo "serve it again: gitmodel serve support --root $root --port 8080"
fi
