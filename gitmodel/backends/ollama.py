"""`ollama`: each version created as its own Ollama model from the version's GGUF.

    backend: {kind: ollama, url: http://127.0.0.1:11434}

Through Ollama's published API: the GGUF goes up as a blob (`HEAD`/`POST
/api/blobs/sha256:DIGEST`), `POST /api/create {model, files: {NAME.gguf: sha256:DIGEST}}`
makes the model `MODEL:VERSION`, `POST /api/generate {model}` loads it, and `DELETE
/api/delete {model}` removes it on stop.  Requests name the tag as their model
(`upstream_model`).  Confirm: `POST /api/show` describes the tag as built FROM the blob
with this version's digest (so the tag holds these bytes), and `GET /api/ps` lists it.

Not yet tested against a real Ollama (it cannot run on the machines this was built on):
only against tests/plugin/backend_stubs.py, a stub of the published API.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import http
from gitmodel import validate as v
from gitmodel.backends import config, process
from gitmodel.backends.base import BackendRefused, BackendUnreachable, Instance, VersionFiles

KIND = "ollama"
_KEYS = ("url", "keep_alive")
REQUEST_TIMEOUT = 10.0
_CHUNK = 1 << 20


@dataclass
class Ollama:
    url: str
    keep_alive: str | None = None  # passed to /api/generate when loading (Ollama's own default otherwise)
    kind: str = KIND

    @staticmethod
    def tag(files: VersionFiles) -> str:
        # Ollama names are [namespace/]name:tag in lower case; a namespace's ':' cannot stay.
        return f"{files.model.replace(':', '-').lower()}:{files.version}"

    def start(self, files: VersionFiles, slot: int, timeout: float) -> Instance:
        path = process.version_artifact(files)
        if not path.is_file():
            raise BackendRefused(f"Ollama creates models from one GGUF file; {path} is not a file")
        digest = sha256(path)
        tag = self.tag(files)
        blob = f"/api/blobs/sha256:{digest}"
        if not self._call("HEAD", blob, None, REQUEST_TIMEOUT).ok:
            try:
                sent = http.upload(f"{self.url}{blob}", path, timeout=timeout)
            except http.Unreachable as exc:
                raise BackendUnreachable(f"Ollama: {exc.message}") from None
            if not sent.ok:
                raise BackendRefused(f"Ollama at {self.url} refused the blob of {tag}: {_said(sent)}")
        created = self._call(
            "POST",
            "/api/create",
            {"model": tag, "files": {path.name: f"sha256:{digest}"}, "stream": False},
            timeout,
        )
        if not created.ok:
            raise BackendRefused(f"Ollama at {self.url} could not create {tag}: {_said(created)}")
        load: dict[str, Any] = {"model": tag, "stream": False}
        if self.keep_alive is not None:
            load["keep_alive"] = self.keep_alive
        loaded = self._call("POST", "/api/generate", load, timeout)
        instance = Instance(files, self.url, upstream_model=tag, state={"tag": tag, "digest": digest})
        if not loaded.ok:
            self._delete(tag)
            raise BackendRefused(f"Ollama at {self.url} could not load {tag}: {_said(loaded)}")
        return instance

    def confirm(self, instance: Instance) -> str | None:
        tag, digest = str(instance.state.get("tag")), str(instance.state.get("digest"))
        try:
            shown = self._call("POST", "/api/show", {"model": tag}, REQUEST_TIMEOUT)
            running = self._call("GET", "/api/ps", None, REQUEST_TIMEOUT).json_object().get("models")
        except BackendUnreachable as exc:
            return exc.message
        if not shown.ok:
            return f"Ollama at {self.url} does not know {tag}: {_said(shown)}"
        modelfile = str(shown.json_object().get("modelfile", ""))
        if f"sha256-{digest}" not in modelfile and f"sha256:{digest}" not in modelfile:
            return f"Ollama's {tag} is not built from this version's GGUF (sha256 {digest[:12]}…)"
        models = running if isinstance(running, list) else []
        names = {m.get(key) for m in models if isinstance(m, dict) for key in ("name", "model")}
        if tag not in names:
            return f"Ollama at {self.url} has {tag} but it is not loaded (/api/ps)"
        return None

    def stop(self, instance: Instance, timeout: float) -> None:
        self._delete(str(instance.state.get("tag")))

    def _delete(self, tag: str) -> None:
        answer = self._call("DELETE", "/api/delete", {"model": tag}, REQUEST_TIMEOUT)
        if not answer.ok and answer.status != 404:
            raise BackendRefused(f"Ollama at {self.url} would not delete {tag}: {_said(answer)}")

    def _call(self, method: str, path: str, payload: Any, timeout: float) -> http.Response:
        try:
            return http.request(method, f"{self.url}{path}", payload, timeout=timeout)
        except http.Unreachable as exc:
            raise BackendUnreachable(f"Ollama: {exc.message}") from None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _said(answer: http.Response) -> str:
    err = answer.json_object().get("error")
    return f"HTTP {answer.status} {' '.join(str(err or answer.text()).split())[:160]}"


def parse(raw: dict[str, Any], at: v.Field) -> Ollama:
    checked = config.fields(raw, at, _KEYS, ("url",))
    keep = checked.get("keep_alive")
    return Ollama(
        url=config.url_base(checked["url"], at / "url"),
        keep_alive=v.text(keep, at / "keep_alive") if keep is not None else None,
    )
