"""The deployment recipes in deploy/ are checked offline (docs/deploy.md).

Every `gitmodel ...` command line they hold is parsed by the real CLI, the systemd units
pass `systemd-analyze verify`, the Containerfile parses, and the Kubernetes manifests
validate against the schemas kubernetes-validate ships (strict: no unknown fields).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
import yaml

from gitmodel import localconfig
from gitmodel.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
KUBE = DEPLOY / "kubernetes"
KUBE_VERSION = "1.37"  # the newest schema set kubernetes-validate 1.37.0 ships
INSTANCES = {"gitmodel-agent@.service": "production", "gitmodel-serve@.service": "support"}


# --- gitmodel command lines ---------------------------------------------------------------


@pytest.fixture
def offline_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in the recipes name the target host's filesystem: parse them, don't stat them."""

    def walk(command: click.Command) -> Iterator[click.Parameter]:
        yield from command.params
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                yield from walk(sub)

    for param in walk(cli):
        if isinstance(param.type, click.Path):
            monkeypatch.setattr(param.type, "exists", False)


def dry_parse(argv: list[str]) -> click.Context:
    """Resolve argv to its command and parse its options as `gitmodel` would, without running it."""
    ctx = click.Context(cli, info_name="gitmodel", **cli.context_settings)
    command: click.Command = cli
    args = list(argv)
    while isinstance(command, click.Group):
        assert args, f"`gitmodel {' '.join(argv)}` names a group, not a command"
        name, *args = args
        sub = command.get_command(ctx, name)
        assert sub is not None, f"`gitmodel {' '.join(argv)}`: no command {name!r}"
        command = sub
        ctx = command.make_context(name, args, parent=ctx)
    return ctx


def unit_sections(path: Path) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit_exec_argv(path: Path) -> list[str]:
    """ExecStart= with %i and ${VAR} expanded as systemd would for the sample instance."""
    service = unit_sections(path)["Service"]
    env = dict(item.split("=", 1) for item in service.get("Environment", []))
    line = service["ExecStart"][0].replace("%i", INSTANCES[path.name])
    line = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], line)
    return shlex.split(line)


def containerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and continuation lines joined."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word, rest.strip()))
    return found


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, doc) for p in sorted(KUBE.glob("*.yaml")) for doc in yaml.safe_load_all(p.read_text()) if doc]


def one(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in manifests() if d["kind"] == kind]
    return doc


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = one("Deployment")["spec"]["template"]["spec"]
    return spec


def containers() -> dict[str, dict[str, Any]]:
    spec = pod_spec()
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def docs_command_lines() -> list[list[str]]:
    """`gitmodel ...` lines in docs/deploy.md's shell blocks (path prefixes like sudo dropped)."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in re.sub(r"\\\n", " ", block).splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["sudo"]:
                words = words[3:] if words[1:2] == ["-u"] else words[1:]
            if words and (words[0] == "gitmodel" or words[0].endswith("/bin/gitmodel")):
                found.append(words[1:])
    return found


def command_lines() -> list[tuple[str, list[str]]]:
    lines = [(f"{p.name} ExecStart", unit_exec_argv(p)[1:]) for p in sorted(UNITS.glob("*.service"))]
    instructions = dict(containerfile_instructions())
    image = json.loads(instructions["ENTRYPOINT"]) + json.loads(instructions["CMD"])
    lines.append(("Containerfile ENTRYPOINT+CMD", image[1:]))
    for name, container in containers().items():
        argv = [*container.get("command", []), *container.get("args", [])]
        if argv and argv[0] == "gitmodel":
            lines.append((f"deployment.yaml {name}", argv[1:]))
    lines.extend((f"docs/deploy.md {' '.join(a[:2])}", a) for a in docs_command_lines())
    return lines


def test_recipes_hold_the_expected_command_lines() -> None:
    names = {label: argv[:1] for label, argv in command_lines()}
    assert names["gitmodel-agent@.service ExecStart"] == ["agent"]
    assert names["gitmodel-serve@.service ExecStart"] == ["serve"]
    assert names["Containerfile ENTRYPOINT+CMD"] == ["agent"]
    assert names["deployment.yaml gitmodel-agent"] == ["agent"]
    assert names["deployment.yaml model-server"] == ["serve"]
    assert any(argv[:2] == ["host", "init"] for _, argv in command_lines())


@pytest.mark.parametrize(("where", "argv"), command_lines(), ids=[label for label, _ in command_lines()])
def test_every_gitmodel_command_line_parses(offline_paths: None, where: str, argv: list[str]) -> None:
    ctx = dry_parse(argv)
    assert ctx.command.callback is not None, f"{where}: {argv} resolves to no runnable command"


def test_dry_parse_refuses_what_gitmodel_refuses(offline_paths: None) -> None:
    with pytest.raises(click.NoSuchOption):
        dry_parse(["agent", "production", "--intervall", "30"])
    with pytest.raises(click.MissingParameter):
        dry_parse(["serve", "support", "--root", "/srv/models"])
    with pytest.raises(AssertionError, match="no command 'agnet'"):
        dry_parse(["agnet", "production"])


# --- systemd ------------------------------------------------------------------------------


def test_units_are_templates_for_the_instances_the_docs_name() -> None:
    assert {p.name for p in UNITS.glob("*.service")} == set(INSTANCES)
    agent = unit_sections(UNITS / "gitmodel-agent@.service")["Service"]
    assert agent["Environment"] == ["DVC_NO_ANALYTICS=1", "GITMODEL_HOST_CONFIG=/etc/gitmodel/host.yaml"]
    # The root comes from the host file: no --root in the unit (flags would override it).
    assert "--root" not in unit_exec_argv(UNITS / "gitmodel-agent@.service")


def verify_units(tmp_path: Path, units: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """systemd-analyze verify, with ExecStart= pointing at this venv's real gitmodel."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    gitmodel = Path(sys.executable).parent / "gitmodel"
    assert gitmodel.exists(), f"{gitmodel} missing: install the project (pip install -e .)"
    for name, text in units.items():
        (tmp_path / name).write_text(text.replace("/opt/gitmodel/bin/gitmodel", str(gitmodel)))
    targets = [str(tmp_path / name.replace("@.", f"@{INSTANCES.get(name, 'x')}.")) for name in units]
    return subprocess.run(
        [analyze, "verify", "--man=no", *targets], capture_output=True, text=True, timeout=60, check=False
    )


def test_systemd_units_verify(tmp_path: Path) -> None:
    proc = verify_units(tmp_path, {p.name: p.read_text() for p in UNITS.glob("*.service")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


def test_systemd_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    broken = (UNITS / "gitmodel-agent@.service").read_text().replace("RestartSec=", "RestartSecs=")
    proc = verify_units(tmp_path, {"gitmodel-agent@.service": broken})
    assert "Unknown key 'RestartSecs'" in proc.stderr


# --- the container image ------------------------------------------------------------------

KNOWN_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


def test_containerfile_parses() -> None:
    instructions = containerfile_instructions()
    assert instructions[0][0] == "FROM"
    assert {word for word, _ in instructions} <= KNOWN_INSTRUCTIONS
    words = dict(instructions)
    # Exec form: the agent is PID 1 and gets SIGTERM itself (it finishes a deploy first).
    assert json.loads(words["ENTRYPOINT"]) == ["gitmodel"]
    assert isinstance(json.loads(words["CMD"]), list)
    assert words["USER"] == "gitmodel"
    assert "GITMODEL_HOST_CONFIG=/etc/gitmodel/host.yaml" in words["ENV"]
    # The build context is the repository root: every COPY source must be there.
    for word, rest in instructions:
        if word == "COPY":
            *sources, _dest = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


# --- Kubernetes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "doc"), manifests(), ids=[f"{p.name}:{d['kind']}" for p, d in manifests()])
def test_manifest_validates_against_the_kubernetes_schema(path: Path, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_schema_validation_catches_a_misspelled_field() -> None:
    doc = copy.deepcopy(one("Deployment"))
    server = doc["spec"]["template"]["spec"]["containers"][0]
    server["readinessProbe"]["httpGet"]["pth"] = server["readinessProbe"]["httpGet"].pop("path")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_configmap_host_file_is_one_gitmodel_reads(tmp_path: Path) -> None:
    path = tmp_path / "host.yaml"
    path.write_text(one("ConfigMap")["data"]["host.yaml"])
    host = localconfig.host_file(path)
    assert host.env == "production"
    assert host.root == Path("/var/lib/gitmodel/models")
    assert host.trust_file == Path("/etc/gitmodel/trust.yaml") and host.require_signatures
    assert host.defaults.reload_url == "http://127.0.0.1:8080/reload"
    assert host.defaults.info_url == "http://127.0.0.1:8080/info"


def test_deployment_wires_server_agent_config_and_trust() -> None:
    spec, by_name, configmap = pod_spec(), containers(), one("ConfigMap")
    server, agent = by_name["model-server"], by_name["gitmodel-agent"]
    host = yaml.safe_load(configmap["data"]["host.yaml"])

    # Readiness from the server's confirmation endpoint, on the port the host file calls.
    (port,) = server["ports"]
    assert server["readinessProbe"]["httpGet"] == {"path": "/health", "port": port["name"]}
    assert host["info_url"] == f"http://127.0.0.1:{port['containerPort']}/info"
    serve = server["command"]
    assert serve[serve.index("--port") + 1] == str(port["containerPort"])
    assert serve[serve.index("--root") + 1] == host["root"]

    # One shared volume at one path: the root and the clone's DVC cache on one filesystem.
    mounts = {c: {m["name"]: m for m in by_name[c]["volumeMounts"]} for c in by_name}
    data = {mounts[c]["gitmodel-data"]["mountPath"] for c in by_name}
    assert data == {"/var/lib/gitmodel"}
    assert host["root"].startswith("/var/lib/gitmodel/")
    assert agent["workingDir"].startswith("/var/lib/gitmodel/")
    assert mounts["model-server"]["gitmodel-data"].get("readOnly") is True

    # host.yaml from the ConfigMap and trust.yaml from a Secret, where the agent looks.
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert set(volumes) >= {m for c in mounts.values() for m in c}
    sources = volumes["gitmodel-config"]["projected"]["sources"]
    assert sources[0]["configMap"]["name"] == configmap["metadata"]["name"]
    assert sources[0]["configMap"]["items"] == [{"key": "host.yaml", "path": "host.yaml"}]
    assert sources[1]["secret"] == {
        "name": "gitmodel-trust",
        "items": [{"key": "trust.yaml", "path": "trust.yaml"}],
    }
    config_dir = mounts["gitmodel-agent"]["gitmodel-config"]["mountPath"]
    env = {e["name"]: e.get("value") for e in agent["env"]}
    assert env["GITMODEL_HOST_CONFIG"] == f"{config_dir}/host.yaml"
    assert host["trust_file"] == f"{config_dir}/trust.yaml"
    clone = by_name["clone-registry"]["env"][0]["valueFrom"]["configMapKeyRef"]
    assert clone["name"] == configmap["metadata"]["name"] and clone["key"] in configmap["data"]

    # The Service selects these pods and targets the server's named port.
    service = one("Service")
    assert service["spec"]["selector"].items() <= spec_labels().items()
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]


def spec_labels() -> dict[str, str]:
    labels: dict[str, str] = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


def test_clone_registry_sets_the_hosts_own_s3_endpoint(tmp_path: Path) -> None:
    """The init container's script, run for real: clone, then the endpoint in config.local."""
    origin = tmp_path / "origin"
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    bins = str(Path(sys.executable).parent)
    env = {"PATH": f"{bins}:/usr/bin:/bin", "HOME": str(tmp_path), "DVC_NO_ANALYTICS": "1"}
    for argv in (["dvc", "init", "-q"], ["dvc", "remote", "add", "-d", "storage", "s3://models/reg"]):
        subprocess.run(argv, cwd=origin, env=env, check=True)
    subprocess.run(["git", "add", ".dvc"], cwd=origin, check=True)
    subprocess.run(["git", "commit", "-qm", "registry"], cwd=origin, check=True)
    clone = containers()["clone-registry"]
    script = clone["command"][2].replace("/var/lib/gitmodel/registry", str(tmp_path / "reg"))
    assert clone["env"][1]["valueFrom"]["configMapKeyRef"]["optional"] is True
    run = {**env, "GITMODEL_REGISTRY": str(origin), "DVC_ENDPOINT_URL": "http://127.0.0.1:9"}
    subprocess.run(["sh", "-c", script], env=run, check=True, capture_output=True)
    local = (tmp_path / "reg" / ".dvc" / "config.local").read_text()
    assert "['remote \"storage\"']" in local and "endpointurl = http://127.0.0.1:9" in local
    assert "endpointurl" not in (tmp_path / "reg" / ".dvc" / "config").read_text()
    # Without the key the clone is left as git made it; a second start clones nothing.
    del run["DVC_ENDPOINT_URL"]
    subprocess.run(["sh", "-c", script], env=run, check=True, capture_output=True)
    assert (tmp_path / "reg" / ".dvc" / "config.local").read_text() == local
