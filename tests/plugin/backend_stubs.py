"""Stubs of vLLM's and Ollama's published HTTP APIs: real HTTP servers on 127.0.0.1.

Neither server can run on these machines, so the `vllm` and `ollama` backends are tested
against these stubs, which answer as the documented APIs do (status codes, bodies and
error shapes), including their refusals.  They are not the real servers; docs/server.md
says so.

    VllmStub     /v1/models, /v1/load_lora_adapter, /v1/unload_lora_adapter, /v1/completions
    OllamaStub   /api/blobs/sha256:D (HEAD, POST), /api/create, /api/show, /api/generate,
                 /api/ps, /api/delete, /api/tags
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Stub:
    """A ThreadingHTTPServer on 127.0.0.1 with a route table; `url`, `calls`, `close()`."""

    def __init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _dispatch(self, method: str) -> None:
                body = self._body() if method in ("POST", "DELETE") else b""
                stub.calls.append((method, self.path))
                status, answer = stub.route(method, self.path, body)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                if isinstance(answer, str):
                    data = answer.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_HEAD(self) -> None:
                self._dispatch("HEAD")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class VllmStub(_Stub):
    """vLLM's OpenAI server with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True."""

    def __init__(self, base_model: str = "meta-llama/Llama-3.1-8B", base_path: str = "/models/base") -> None:
        self.base_model, self.base_path = base_model, base_path
        self.adapters: dict[str, str] = {}  # lora_name -> lora_path
        super().__init__()

    def _error(self, status: int, message: str, kind: str) -> tuple[int, Any]:
        return status, {"object": "error", "message": message, "type": kind, "param": None, "code": status}

    def route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        data = _json(body)
        with self.lock:
            if (method, path) == ("GET", "/v1/models"):
                cards = [{"id": self.base_model, "object": "model", "root": self.base_path, "parent": None}]
                cards += [
                    {"id": name, "object": "model", "root": root, "parent": self.base_model}
                    for name, root in self.adapters.items()
                ]
                return 200, {"object": "list", "data": cards}
            if (method, path) == ("POST", "/v1/load_lora_adapter"):
                name, root = data.get("lora_name"), data.get("lora_path")
                if not name or not root:
                    return self._error(
                        400, "Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput"
                    )
                if name in self.adapters:
                    return self._error(
                        400, f"The lora adapter '{name}' has already been loaded.", "InvalidUserInput"
                    )
                if not os.path.isfile(os.path.join(root, "adapter_config.json")):
                    return self._error(404, f"No adapter found for {root}", "NotFoundError")
                self.adapters[name] = root
                return 200, f"Success: LoRA adapter '{name}' added successfully."
            if (method, path) == ("POST", "/v1/unload_lora_adapter"):
                name = data.get("lora_name")
                if name not in self.adapters:
                    return self._error(404, f"The lora adapter '{name}' cannot be found.", "NotFoundError")
                del self.adapters[name]
                return 200, f"Success: LoRA adapter '{name}' removed successfully."
            if (method, path) == ("POST", "/v1/completions"):
                model = data.get("model")
                if model != self.base_model and model not in self.adapters:
                    return self._error(404, f"The model `{model}` does not exist.", "NotFoundError")
                return 200, {
                    "object": "text_completion",
                    "model": model,
                    "choices": [{"text": f"from {model}"}],
                }
        return 404, {"detail": "Not Found"}


class OllamaStub(_Stub):
    """Ollama's API: blobs by sha256, models created from a GGUF blob, loaded, deleted."""

    def __init__(self, blob_dir: str = "/root/.ollama/models/blobs") -> None:
        self.blob_dir = blob_dir
        self.blobs: dict[str, int] = {}  # digest -> size
        self.models: dict[str, str] = {}  # name -> blob digest ("sha256:...")
        self.running: set[str] = set()
        super().__init__()

    @staticmethod
    def _name(model: object) -> str:
        text = str(model or "")
        return text if ":" in text.rpartition("/")[2] else f"{text}:latest"

    def route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        data = _json(body) if not path.startswith("/api/blobs/") else {}
        with self.lock:
            if path.startswith("/api/blobs/"):
                digest = path.removeprefix("/api/blobs/")
                if method == "HEAD":
                    return (200, b"") if digest in self.blobs else (404, b"")
                if method == "POST":
                    if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                        return 400, {"error": "digest mismatch"}
                    self.blobs[digest] = len(body)
                    return 201, b""
            if (method, path) == ("POST", "/api/create"):
                name, files = self._name(data.get("model")), data.get("files")
                if not isinstance(files, dict) or len(files) != 1:
                    return 400, {"error": "neither 'from' or 'files' was specified"}
                (digest,) = files.values()
                if digest not in self.blobs:
                    return 400, {"error": f"blob {digest} not found"}
                self.models[name] = digest
                return 200, {"status": "success"}
            if (method, path) == ("POST", "/api/show"):
                name = self._name(data.get("model"))
                if name not in self.models:
                    return 404, {"error": f"model '{name}' not found"}
                blob = f"{self.blob_dir}/{self.models[name].replace(':', '-')}"
                return 200, {
                    "modelfile": f'# Modelfile generated by "ollama show"\nFROM {blob}\n',
                    "details": {"format": "gguf", "family": "llama"},
                    "model_info": {"general.architecture": "llama"},
                }
            if (method, path) == ("POST", "/api/generate"):
                name = self._name(data.get("model"))
                if name not in self.models:
                    return 404, {"error": f"model '{name}' not found"}
                self.running.add(name)
                return 200, {"model": name, "response": "", "done": True, "done_reason": "load"}
            if (method, path) == ("GET", "/api/ps"):
                return 200, {
                    "models": [
                        {"name": n, "model": n, "digest": self.models[n][7:]} for n in sorted(self.running)
                    ]
                }
            if (method, path) == ("GET", "/api/tags"):
                return 200, {"models": [{"name": n, "model": n} for n in sorted(self.models)]}
            if (method, path) == ("DELETE", "/api/delete"):
                name = self._name(data.get("model"))
                if name not in self.models:
                    return 404, {"error": f"model '{name}' not found"}
                del self.models[name]
                self.running.discard(name)
                return 200, b""
        return 404, b"404 page not found"


def crashing_main() -> None:
    """A fork-per-connection OpenAI-style server: `PORT ARRIVALS_FILE` (tests/test_gateway_faults.py).

    Each POST appends "PID PROMPT" to ARRIVALS_FILE once its body is read.  A POST whose
    prompt is "crash" then kills the worker process handling it before any answer (a backend
    crashing mid-request), while the server keeps accepting: a second send would arrive.
    """
    import socketserver
    import sys
    from http.server import HTTPServer

    port, arrivals = int(sys.argv[1]), sys.argv[2]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the gateway pools the connection

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, doc: dict[str, Any]) -> None:
            data = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send({"status": "ok"})

        def do_POST(self) -> None:
            prompt = _json(self.rfile.read(int(self.headers.get("Content-Length") or 0))).get("prompt")
            with open(arrivals, "a", encoding="utf-8") as f:
                f.write(f"{os.getpid()} {prompt}\n")
            if prompt == "crash":
                os._exit(1)
            self._send({"object": "text_completion", "choices": [{"text": f"ok {prompt}"}]})

    class Server(socketserver.ForkingMixIn, HTTPServer):
        allow_reuse_address = True

    Server(("127.0.0.1", port), Handler).serve_forever(0.05)
