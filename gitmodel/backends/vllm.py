"""`vllm`: versions as LoRA adapters on a running vLLM server; its base model stays loaded.

    backend: {kind: vllm, url: http://127.0.0.1:8000, base_model: meta-llama/Llama-3.1-8B}

Through vLLM's published API (the server runs with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True):
`POST /v1/load_lora_adapter {lora_name, lora_path}`, `POST /v1/unload_lora_adapter
{lora_name}`, and `GET /v1/models`, which lists each adapter with `root` (its path) and
`parent` (the base model).  Each version is the adapter `MODEL-VERSION` loaded from its
version directory; requests name it as their model (`upstream_model`).  Confirm: the
adapter is listed with exactly that path (and on `base_model`, when set).

Not yet tested against a real vLLM (it cannot run on the machines this was built on):
only against tests/plugin/backend_stubs.py, a stub of the published API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitmodel import http
from gitmodel import validate as v
from gitmodel.backends import config, process
from gitmodel.backends.base import BackendRefused, BackendUnreachable, Instance, VersionFiles, served_name

KIND = "vllm"
_KEYS = ("url", "base_model")
REQUEST_TIMEOUT = 10.0


@dataclass
class Vllm:
    url: str
    base_model: str | None = None
    kind: str = KIND

    @staticmethod
    def name(files: VersionFiles) -> str:
        return served_name(files)

    def start(self, files: VersionFiles, slot: int, timeout: float) -> Instance:
        name, path = self.name(files), str(process.version_artifact(files))
        answer = self._call("POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path}, timeout)
        instance = Instance(files, self.url, upstream_model=name, state={"name": name})
        if not answer.ok:
            # Already loaded from this very path (a gateway restarted): that is the version we want.
            if self._adapter(name) is not None and self.confirm(instance) is None:
                return instance
            raise BackendRefused(f"vLLM at {self.url} refused to load adapter {name}: {_said(answer)}")
        return instance

    def confirm(self, instance: Instance) -> str | None:
        name, path = str(instance.state.get("name")), str(process.version_artifact(instance.files))
        try:
            adapter = self._adapter(name)
        except BackendUnreachable as exc:
            return exc.message
        if adapter is None:
            return f"vLLM at {self.url} lists no adapter {name}"
        if adapter.get("root") != path:
            return f"vLLM's adapter {name} was loaded from {adapter.get('root')!r}, not {path}"
        if self.base_model is not None and adapter.get("parent") != self.base_model:
            return f"vLLM's adapter {name} sits on {adapter.get('parent')!r}, not {self.base_model}"
        return None

    def stop(self, instance: Instance, timeout: float) -> None:
        name = str(instance.state.get("name"))
        answer = self._call("POST", "/v1/unload_lora_adapter", {"lora_name": name}, timeout)
        if not answer.ok and self._adapter(name) is not None:
            raise BackendRefused(f"vLLM at {self.url} would not unload adapter {name}: {_said(answer)}")

    def _adapter(self, name: str) -> dict[str, Any] | None:
        data = self._call("GET", "/v1/models", None, REQUEST_TIMEOUT).json_object().get("data")
        for entry in data if isinstance(data, list) else []:
            if isinstance(entry, dict) and entry.get("id") == name:
                return entry
        return None

    def _call(self, method: str, path: str, payload: Any, timeout: float) -> http.Response:
        try:
            return http.request(method, f"{self.url}{path}", payload, timeout=timeout)
        except http.Unreachable as exc:
            raise BackendUnreachable(f"vLLM: {exc.message}") from None


def _said(answer: http.Response) -> str:
    """An error answer in one line: OpenAI-style {"error": {"message"}}, {"message"} or text."""
    data = answer.json_object()
    err = data.get("error")
    message = err.get("message") if isinstance(err, dict) else err or data.get("message") or answer.text()
    return f"HTTP {answer.status} {' '.join(str(message).split())[:160]}"


def parse(raw: dict[str, Any], at: v.Field) -> Vllm:
    checked = config.fields(raw, at, _KEYS, ("url",))
    base = checked.get("base_model")
    return Vllm(
        url=config.url_base(checked["url"], at / "url"),
        base_model=v.text(base, at / "base_model") if base is not None else None,
    )
