"""Build large registries fast, exactly as gitmodel would have written them.

Registering 50,000 versions through the CLI would take hours, so one `git fast-import`
stream writes the same objects instead: commits holding each version's
models/NAME/model.yaml and DVC pointer, and one annotated tag per event whose name,
tagger, target and annotation (gitmodel.records.format_message, with the record the
real `register` and `promote` write, gate verdict included) match what the CLI creates.
Events are one second apart, in the order a team would have made them, so GTO's
one-second tag times order them too. tests/test_clients.py checks that gto and
gitmodel read such a registry the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gitmodel import config
from gitmodel.gate import evaluate
from gitmodel.records import Act, format_message
from gitmodel.yamlio import dumps

EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z
BASE_MODEL = "llama-3-8b-instruct"
ARTIFACT = "weights.gguf"


@dataclass(frozen=True)
class Shape:
    """A registry to build: models x versions, and the share of versions promoted."""

    label: str
    models: int
    versions: int
    staging: float  # share of each model's versions promoted to staging
    production: float  # share promoted on to production (only versions that were in staging)
    batch: int = 1  # models whose new version share one commit (1: a commit per version)

    def picks(self, share: float, k: int) -> bool:
        """Spread `share` evenly: version k is picked when floor((k+1)*share) steps up."""
        return int((k + 1) * share) > int(k * share)

    def envs(self, k: int) -> list[str]:
        if not self.picks(self.staging, k):
            return []
        return ["staging", "production"] if self.picks(self.production, k) else ["staging"]

    def tags(self) -> int:
        return self.models * sum(1 + len(self.envs(k)) for k in range(self.versions))


@dataclass(frozen=True)
class Built:
    root: Path
    shape: Shape
    tags: int
    names: list[str]


def model_names(count: int) -> list[str]:
    return [f"m{i:05d}" for i in range(count)]


def version(k: int) -> str:
    # Each later version carries new bytes on the same base model: a minor bump.
    return f"v1.{k}.0"


def metrics(k: int) -> dict[str, float]:
    # Slowly improving, so promoting a later version passes the default gate.
    return {"accuracy": round(0.80 + 0.0001 * k, 6), "latency_p95_ms": round(900.0 - 0.01 * k, 4)}


def artifact_bytes(name: str, k: int) -> bytes:
    return f"{name} {version(k)} weights\n".encode() * 16


def _meta(name: str, k: int, identity: str, data: bytes, when: int) -> dict[str, Any]:
    stamp = dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "name": name,
        "version": version(k),
        "parent_version": version(k - 1) if k else None,
        "created_at": stamp,
        "created_by": identity,
        "base_model": BASE_MODEL,
        "quantization": "q4_k_m",
        "description": f"bench build {k}",
        # the evidence the default gitmodel.yaml requires for production
        "training": {"data_hash": "sha256:0123abcd"},
        "eval_set": "bench-eval-1",
        "metrics": metrics(k),
        "artifact": {
            "path": ARTIFACT,
            "kind": "file",
            "dvc_md5": hashlib.md5(data).hexdigest(),
            "size": len(data),
            "files": {ARTIFACT: "sha256:" + hashlib.sha256(data).hexdigest()},
        },
    }


_NUMBERISH = re.compile(r"[0-9]*(?:e[0-9]*)?")  # hex strings YAML would read as numbers


def _model_yaml(meta: dict[str, Any]) -> str:
    """What gitmodel.yamlio.dumps writes for this metadata, ~100x faster than ruamel.

    ruamel needs ~2 ms a document (100 s for 50,000 versions); `check_model_yaml`
    compares this text with the real dumps before every build.
    """
    art, m, parent = meta["artifact"], meta["metrics"], meta["parent_version"]
    if _NUMBERISH.fullmatch(art["dvc_md5"]):  # ruamel would quote it: let ruamel write it
        return dumps(meta)
    return (
        f"name: {meta['name']}\nversion: {meta['version']}\n"
        f"parent_version:{' ' + parent if parent else ''}\n"
        f"created_at: '{meta['created_at']}'\ncreated_by: {meta['created_by']}\n"
        f"base_model: {meta['base_model']}\nquantization: {meta['quantization']}\n"
        f"description: {meta['description']}\n"
        f"training:\n  data_hash: {meta['training']['data_hash']}\neval_set: {meta['eval_set']}\n"
        f"metrics:\n  accuracy: {m['accuracy']!r}\n  latency_p95_ms: {m['latency_p95_ms']!r}\n"
        f"artifact:\n  path: {art['path']}\n  kind: {art['kind']}\n  dvc_md5: {art['dvc_md5']}\n"
        f"  size: {art['size']}\n  files:\n    {ARTIFACT}: {art['files'][ARTIFACT]}\n"
    )


def check_model_yaml(samples: int = 60) -> None:
    """Refuse to build if the fast formatter drifts from what gitmodel writes."""
    for k in range(samples):
        meta = _meta(f"m{k:05d}", k, "Bench Bot <bench@example.com>", artifact_bytes("m", k), EPOCH + k)
        if _model_yaml(meta) != dumps(meta):
            raise RuntimeError(f"the bench's model.yaml text differs from gitmodel's at version {k}")


def _pointer(data: bytes) -> str:
    # What `dvc add` writes for a file (DVC 3).
    md5 = hashlib.md5(data).hexdigest()
    return f"outs:\n- md5: {md5}\n  size: {len(data)}\n  hash: md5\n  path: {ARTIFACT}\n"


def _dvc_yaml(names: list[str], k: int) -> str:
    # The `artifacts:` entries gitmodel.dvcyaml.declare writes, for every model.
    lines = ["artifacts:"]
    for name in names:
        lines += [
            f"  {name}:",
            f"    path: models/{name}/{ARTIFACT}",
            "    type: model",
            f"    desc: bench build {k}",
            "    meta:",
            f"      base_model: {BASE_MODEL}",
            f"      version: {version(k)}",
        ]
    return "\n".join(lines) + "\n"


class _Writer:
    """A fast-import stream: commits on main (with marks) and annotated tags on them."""

    def __init__(self, out: IO[bytes], identity: str, parent: str) -> None:
        self.out, self.who, self.parent = out, identity, parent
        self.mark = 0
        self.tags = 0

    def _data(self, text: str) -> None:
        raw = text.encode()
        self.out.write(b"data %d\n%s\n" % (len(raw), raw))

    def commit(self, when: int, message: str, files: Mapping[str, str]) -> int:
        self.mark += 1
        self.out.write(b"commit refs/heads/main\nmark :%d\n" % self.mark)
        self.out.write(f"committer {self.who} {when} +0000\n".encode())
        self._data(message)
        if self.parent:
            self.out.write(f"from {self.parent}\n".encode())
            self.parent = ""
        for path, text in files.items():
            self.out.write(f"M 100644 inline {path}\n".encode())
            self._data(text)
        return self.mark

    def tag(self, name: str, mark: int, when: int, message: str) -> None:
        self.out.write(f"tag {name}\nfrom :{mark}\ntagger {self.who} {when} +0000\n".encode())
        self._data(message)
        self.tags += 1


class _History:
    """Every version and assignment of the shape, round by round, one second apart."""

    def __init__(self, shape: Shape, identity: str, writer: _Writer, objects: Path | None) -> None:
        self.shape, self.identity, self.w, self.objects = shape, identity, writer, objects
        self.gate = config.default().gate
        self.when = EPOCH + 60
        self.counters: dict[str, int] = {}
        self.serving: dict[tuple[str, str], int] = {}

    def write(self, names: list[str]) -> None:
        for k in range(self.shape.versions):
            for i in range(0, len(names), self.shape.batch):
                self._round(names[i : i + self.shape.batch], k)

    def _round(self, chunk: list[str], k: int) -> None:
        files: dict[str, str] = {}
        for name in chunk:
            data = artifact_bytes(name, k)
            self._store(data)
            meta = _meta(name, k, self.identity, data, self.when + 1)
            files[f"models/{name}/model.yaml"] = _model_yaml(meta)
            files[f"models/{name}/{ARTIFACT}.dvc"] = _pointer(data)
            if k == 0:
                files[f"models/{name}/.gitignore"] = f"/{ARTIFACT}\n"
        who = chunk[0] if len(chunk) == 1 else f"{chunk[0]}..{chunk[-1]}"
        body = f"bench build {k}"
        mark = self.w.commit(self.when + 1, f"gitmodel: register {who} {version(k)}\n\n{body}\n", files)
        for name in chunk:
            self.when += 1
            summary = f"gitmodel: register {name} {version(k)}"
            record = {
                "action": Act.REGISTER,
                "version": version(k),
                "parent": version(k - 1) if k else None,
                "bump": "minor" if k else None,
                "reason": "artifact bytes changed" if k else "first version",
            }
            self.w.tag(f"{name}@{version(k)}", mark, self.when, format_message(summary, record, body))
            for env in self.shape.envs(k):
                self._promote(name, k, env, mark)

    def _promote(self, name: str, k: int, env: str, mark: int) -> None:
        # The record gitmodel.environments writes for a promote that passed the gate.
        self.when += 1
        n = self.counters[name] = self.counters.get(name, 0) + 1
        prev = self.serving.get((name, env))
        was = version(prev) if prev is not None else None
        verdict = evaluate(metrics(k), metrics(prev) if prev is not None else None, self.gate, baseline=was)
        record = {
            "action": Act.PROMOTE,
            "version": version(k),
            "from": was,
            "env": env,
            "reason": None,
            "actor": self.identity,
            "gate": verdict.to_record(),
        }
        summary = f"gitmodel: promote {name} {version(k)} to {env}" + (f" (was {was})" if was else "")
        self.w.tag(f"{name}#{env}#{n}", mark, self.when, format_message(summary, record, ""))
        self.serving[(name, env)] = k

    def _store(self, data: bytes) -> None:
        if self.objects is None:
            return
        md5 = hashlib.md5(data).hexdigest()
        target = self.objects / "files" / "md5" / md5[:2] / md5[2:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def build(
    root: Path,
    shape: Shape,
    env: Mapping[str, str],
    gitmodel: list[str],
    dvc_remote: Path,
    objects: bool,
) -> Built:
    """A real registry at `root` (git init + `gitmodel init`), then its history in one stream.

    With `objects`, every version's bytes are also put on the local DVC remote, so
    commands that check the remote (rollback) see a complete registry. Refs end up
    packed, as in any clone or gc'ed repository.
    """

    def run(*args: str, extra: Mapping[str, str] | None = None) -> str:
        proc = subprocess.run(
            list(args), cwd=root, env={**env, **(extra or {})}, capture_output=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode().strip()

    check_model_yaml()
    root.mkdir(parents=True)
    run("git", "init", "-q")
    # Dated before the history that follows, so commit times only move forward.
    run(*gitmodel, "init", "--remote", str(dvc_remote), extra={"GIT_COMMITTER_DATE": f"{EPOCH} +0000"})
    ident = run("git", "var", "GIT_COMMITTER_IDENT")
    identity = ident[: ident.rindex(">") + 1]
    names = model_names(shape.models)
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=root,
        env=dict(env),
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stderr is not None
    writer = _Writer(proc.stdin, identity, run("git", "rev-parse", "HEAD"))
    try:
        writer.commit(EPOCH + 1, "gitmodel: declare the bench models\n", {"dvc.yaml": _dvc_yaml(names, 0)})
        history = _History(shape, identity, writer, dvc_remote if objects else None)
        history.write(names)
        writer.commit(
            history.when + 1,
            "gitmodel: declare the latest versions\n",
            {"dvc.yaml": _dvc_yaml(names, shape.versions - 1)},
        )
        proc.stdin.write(b"done\n")
        proc.stdin.close()
    except BrokenPipeError:
        pass  # fast-import died; its stderr says why
    err = proc.stderr.read()
    if proc.wait() != 0:
        raise RuntimeError(f"git fast-import failed: {err.decode(errors='replace').strip()}")
    run("git", "pack-refs", "--all")
    run("git", "reset", "-q", "--hard", "main")
    return Built(root, shape, writer.tags, names)


def clean_env(home: Path) -> dict[str, str]:
    """A hermetic environment: temp HOME and git identity, no system config, no analytics."""
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Bench Bot\n\temail = bench@example.com\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR", "TERM")}
    return {
        **keep,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "DVC_NO_ANALYTICS": "1",
        "ITERATIVE_DO_NOT_TRACK": "1",
        "DVC_GLOBAL_CONFIG_DIR": str(home / ".config" / "dvc"),
        "DVC_SYSTEM_CONFIG_DIR": str(home / "etc-dvc"),
        "DVC_SITE_CACHE_DIR": str(home / "dvc-site-cache"),
    }
