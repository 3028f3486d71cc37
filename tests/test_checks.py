"""Functional checks (gitmodel/checks.py): the file's one parser, each rule, hostile files, run()."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from plugin.fsguard import Guard
from plugin.host import free_port
from plugin.server import ServerProcess, make_version, swap_current, wait_for

from gitmodel import checkrun, checks, hostlayout, http
from gitmodel.checkrun import CheckResult
from gitmodel.checks import Checks, ChecksError
from gitmodel.demo import write_llama_gguf
from gitmodel.errors import GitModelError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "checks.md"
GOOD = """\
max_tokens: 8
checks:
  - prompt: "Hello"
    exact: " world"
  - prompt: "The capital of France is"
    contains: "Paris"
    max_tokens: 4
  - prompt: "Q: 2+2=\\nA:"
    regex: "^\\\\s*4\\\\b"
    min_length: 1
    max_length: 40
"""


def check(**rules: object) -> str:
    body = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in rules.items())
    return f"checks:\n  - prompt: p\n{body}"


# --- the parser ---------------------------------------------------------------------------


def test_a_sound_file_parses_into_its_rules() -> None:
    got = checks.parse(GOOD, "models/support/checks.yaml")
    assert [c.prompt for c in got.items] == ["Hello", "The capital of France is", "Q: 2+2=\nA:"]
    assert [c.max_tokens for c in got.items] == [8, 4, 8]
    assert got.items[0].exact == " world" and got.items[1].contains == "Paris"
    assert got.items[2].regex == r"^\s*4\b" and (got.items[2].min_length, got.items[2].max_length) == (1, 40)
    assert got.digest.startswith("sha256:") and got.text == GOOD


def test_the_documented_example_parses() -> None:
    text = DOCS.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    assert len(checks.parse(text, "docs/checks.md").items) >= 5


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdef", "bcdefg", strict=True)
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("- 1\n", "the document is refused: it must be a mapping"),
        ("checks: []\n", "checks (0 entries) is refused: it must be a list of 1 to 20"),
        ("checks: {a: 1}\n", "checks (dict) is refused"),
        ("checks:\n" + "  - {prompt: p, contains: x}\n" * 21, "checks (21 entries)"),
        ("cheks: []\n", "key 'cheks' is refused"),
        ("checks: [hello]\n", "check 1 ('hello') is refused: each check is a mapping"),
        ("checks:\n  - {prompt: p, contain: x}\n", "check 1 key 'contain' is refused: the rules are exact"),
        ("checks:\n  - {prompt: p}\n", "check 1 is refused: it has no rule"),
        ("checks:\n  - {contains: x}\n", "check 1 is refused: it has no prompt"),
        (check(contains=4).replace('"4"', "4"), "check 1 contains 4 is refused: it must be a string"),
        (check(contains="x").replace("prompt: p", "prompt: 12"), "check 1 prompt 12 is refused"),
        (check(contains="x").replace("prompt: p", "prompt: ''"), "check 1 prompt is refused: it must not"),
        (check(contains=""), "check 1 contains is refused: it must not be empty"),
        (check(exact="x" * 4001), "check 1 exact (4001 characters) is refused: at most 4000"),
        (check(contains="x", max_tokens=0), "check 1 max_tokens 0 is refused: it must be a whole number"),
        (check(contains="x", max_tokens=257), "check 1 max_tokens 257 is refused"),
        (check(contains="x", max_tokens=True), "check 1 max_tokens True is refused"),
        (check(contains="x", max_tokens="5"), "check 1 max_tokens '5' is refused"),
        ("max_tokens: 1000\nchecks:\n  - {prompt: p, contains: x}\n", "max_tokens 1000 is refused"),
        (check(min_length=-1), "check 1 min_length -1 is refused"),
        (check(max_length=2.5), "check 1 max_length 2.5 is refused"),
        (check(min_length=5, max_length=2), "check 1 min_length 5 is refused: it is above max_length 2"),
        (check(regex=r"(a)\1"), "check 1 regex '(a)\\\\1' is refused: RE2 cannot compile it (invalid escape"),
        (check(regex="(?=a)b"), "RE2 cannot compile it (invalid perl operator: (?=)"),
        (check(regex="(unclosed"), "RE2 cannot compile it (missing ): (unclosed)"),
        (check(regex="a" * 501), "check 1 regex (501 characters) is refused: at most 500"),
        ("checks: [\n", "is not valid YAML"),
        ("x: " + "[" * 200 + "]" * 200 + "\n", "nests deeper than"),
        (ALIAS_BOMB + "checks: []\n", "an alias bomb"),
        (
            "checks:\n  - {prompt: p, contains: x}\n#" + "x" * 70_000 + "\n",
            "the file (70039 bytes) is refused",
        ),
    ],
)
def test_a_broken_file_is_one_line_naming_the_field(text: str, words: str) -> None:
    started = time.monotonic()
    with pytest.raises(GitModelError) as caught:
        checks.parse(text, "models/support/checks.yaml")
    message = str(caught.value)
    assert message.startswith("models/support/checks.yaml") and "\n" not in message, message
    assert words in message, message
    assert caught.value.exit_code in (1, 2)
    assert time.monotonic() - started < 2


# --- each rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "text", "why"),
    [
        ({"exact": " world"}, " world", None),
        ({"exact": " world"}, " world.", "expected exactly ' world', got ' world.'"),
        ({"exact": ""}, "", None),
        ({"contains": "Paris"}, " Paris, of course", None),
        ({"contains": "Paris"}, " Lyon", "expected 'Paris' in the answer, got ' Lyon'"),
        ({"regex": r"^\s*4\b"}, " 4 apples", None),
        ({"regex": r"^\s*4\b"}, " 42", r"the answer ' 42' does not match the regex '^\\s*4\\b'"),
        ({"regex": "(?i)paris"}, "PARIS", None),
        ({"min_length": 3}, "ab", "the answer has 2 characters, fewer than min_length 3"),
        ({"max_length": 3}, "abcd", "the answer has 4 characters, more than max_length 3"),
        ({"min_length": 2, "max_length": 2}, "ab", None),
        ({"contains": "a", "max_length": 2}, "aaa", "the answer has 3 characters, more than max_length 2"),
    ],
)
def test_each_rule_judges_the_completion(rules: dict[str, object], text: str, why: str | None) -> None:
    (one,) = checks.parse(check(**rules), "c.yaml").items
    assert one.judge(text) == why


def test_a_regex_bomb_for_python_re_is_linear_under_re2() -> None:
    """`(a+)+$` takes Python's re seconds at 25 characters; RE2 judges 60,000 at once."""
    (one,) = checks.parse(check(regex="(a+)+$"), "c.yaml").items
    (two,) = checks.parse(check(regex=".*.*.*.*x"), "c.yaml").items
    started = time.monotonic()
    assert one.judge("a" * 60_000 + "b") is not None
    assert two.judge("a" * 60_000) is not None
    assert time.monotonic() - started < 0.5


# --- the result's JSON shape --------------------------------------------------------------


def test_the_result_round_trips_in_the_documented_shape() -> None:
    result = CheckResult((checkrun.Outcome(1, None, "x"), checkrun.Outcome(2, "expected 'a'", "b")))
    data = result.to_json()
    assert data == {"passed": False, "failed": [{"prompt": 2, "why": "expected 'a'"}], "total": 2}
    back = CheckResult.from_json(json.loads(json.dumps(data)))
    assert back is not None and back.to_json() == data
    assert result.describe() == "1 of 2 checks failed: check 2: expected 'a'"
    assert CheckResult((checkrun.Outcome(1, None),)).describe() == "1 of 1 checks passed"


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"passed": True, "failed": [], "total": -1},
        {"passed": True, "failed": [], "total": True},
        {"passed": True, "failed": {}, "total": 1},
        {"passed": True, "failed": [{"prompt": 1, "why": "x"}], "total": 1},  # passed but failed
        {"passed": False, "failed": [], "total": 1},
        {"passed": False, "failed": [{"prompt": 2, "why": "x"}], "total": 1},
        {"passed": False, "failed": [{"prompt": 1, "why": 3}], "total": 1},
        {"passed": False, "failed": ["x"], "total": 1},
    ],
)
def test_a_result_in_another_shape_is_not_taken(data: object) -> None:
    assert CheckResult.from_json(data) is None


# --- hostile files on disk ----------------------------------------------------------------


def test_read_file_refuses_links_fifos_folders_and_huge_files(
    tmp_path: Path, fs_guard: Callable[..., Guard]
) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text(GOOD)
    (tmp_path / "link.yaml").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "huge.yaml").write_text("checks:\n  - {prompt: p, contains: x}\n" + "#" * 100_000 + "\n")
    (tmp_path / "latin1.yaml").write_bytes("checks:\n  - {prompt: caf\xe9, contains: x}\n".encode("latin-1"))
    guard = fs_guard(tmp_path)
    expected = {
        "link.yaml": "is a symbolic link",
        "fifo.yaml": "is not a plain file",
        "dir.yaml": "is not a plain file",
        "huge.yaml": "at most 65536 bytes",
        "latin1.yaml": "is not UTF-8 text",
    }
    for name, words in expected.items():
        with pytest.raises(ChecksError, match=words):
            checks.read_file(tmp_path / name)
    assert checks.read_file(tmp_path / "absent.yaml") is None
    assert checks.read_file(secret) is not None
    guard.assert_only()


def _version_with_checks(root: Path, text: str | None, **manifest: object) -> Path:
    vdir = make_version(root, "support", "v1.0.0", gguf_seed=1, manifest=False)
    found = checks.parse(text, "c") if text is not None else None
    doc = {
        "model": "support",
        "version": "v1.0.0",
        "dvc_md5": "0" * 32,
        "artifact": "model.gguf",
        "kind": "file",
        "files": {"model.gguf": "sha256:" + "0" * 64},
        "checks": found.digest if found else None,
        **manifest,
    }
    hostlayout.manifest_path(vdir).write_text(json.dumps(doc))
    if text is not None:
        (vdir / hostlayout.CHECKS).write_text(text)
    return vdir


def test_for_version_reads_the_copy_the_manifest_names(tmp_path: Path) -> None:
    vdir = _version_with_checks(tmp_path, GOOD)
    got = checks.for_version(vdir)
    assert isinstance(got, Checks) and len(got.items) == 3
    assert checks.for_version(_version_with_checks(tmp_path / "other", None)) is None


def test_for_version_refuses_a_changed_missing_or_linked_copy(
    tmp_path: Path, fs_guard: Callable[..., Guard]
) -> None:
    vdir = _version_with_checks(tmp_path, GOOD)
    copy = vdir / hostlayout.CHECKS
    guard = fs_guard(tmp_path)
    copy.write_text(GOOD.replace("Paris", "Lyon"))
    with pytest.raises(ChecksError, match=r"its sha256 .* is refused: the manifest says"):
        checks.for_version(vdir)
    copy.unlink()
    with pytest.raises(ChecksError, match="the manifest names it but it is missing"):
        checks.for_version(vdir)
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(GOOD)
    copy.symlink_to(elsewhere)
    with pytest.raises(ChecksError, match="symbolic link"):
        checks.for_version(vdir)
    guard.assert_only(copy, elsewhere)


def test_a_manifest_naming_no_digest_is_refused(tmp_path: Path) -> None:
    vdir = _version_with_checks(tmp_path, GOOD, checks="../../etc/passwd")
    with pytest.raises(hostlayout.ManifestError, match="'checks' a digest is 'sha256:'"):
        checks.for_version(vdir)


# --- run() against a real server ----------------------------------------------------------


@pytest.fixture
def toy_server(tmp_path: Path) -> Iterator[ServerProcess]:
    root = tmp_path / "root"
    make_version(root, "support", "v1.0.0", gguf_seed=1)
    make_version(root, "support", "v1.1.0", gguf_seed=2)
    swap_current(root, "support", "v1.0.0")
    server = ServerProcess(root, "support", workdir=tmp_path).wait_ready()
    yield server
    server.stop()


PROMPTS = ["Hello", "Reset my password", "Where is my order?", "Refund", "Hi"]


def _exact_checks(server: ServerProcess | str, prompts: list[str]) -> Checks:
    """Checks whose exact answers are the ones the server gives now (greedy, 4 tokens)."""
    url = server if isinstance(server, str) else server.url
    lines = ["max_tokens: 4", "checks:"]
    for prompt in prompts:
        answer = http.post(
            url + "/v1/completions", {"prompt": prompt, "max_tokens": 4, "temperature": 0}, timeout=10
        )
        text = answer.json_object()["choices"][0]["text"]
        lines += [f"  - prompt: {json.dumps(prompt)}", f"    exact: {json.dumps(text)}"]
    return checks.parse("\n".join(lines) + "\n", "c.yaml")


@pytest.mark.slow
def test_run_passes_on_the_version_it_was_written_for_and_fails_on_another(
    toy_server: ServerProcess, tmp_path: Path
) -> None:
    served = toy_server
    known = _exact_checks(served, PROMPTS)
    result = checkrun.run(known, served.url, "support", timeout=10)
    assert result.to_json() == {"passed": True, "failed": [], "total": 5}
    assert all(o.answer for o in result.outcomes)

    swap_current(tmp_path / "root", "support", "v1.1.0")
    assert served.post("/reload").status == 200
    result = checkrun.run(known, served.url, "support", timeout=10)
    assert not result.passed and result.total == 5 and len(result.failed) >= 4
    assert result.failed[0].why is not None and result.failed[0].why.startswith("expected exactly")


def test_run_says_why_when_nobody_answers_or_the_answer_is_an_error(tmp_path: Path) -> None:
    known = checks.parse(check(contains="x"), "c.yaml")
    dead = checkrun.run(known, "http://127.0.0.1:9", None, timeout=2)
    assert dead.to_json()["failed"][0]["why"].startswith("no answer from http://127.0.0.1:9/v1/completions")

    root = tmp_path / "empty-root"
    root.mkdir()
    server = ServerProcess(root, "support", workdir=tmp_path).wait_ready()
    try:
        empty = checkrun.run(known, server.url, "support", timeout=5)
    finally:
        server.stop()
    assert empty.to_json()["failed"][0]["why"].startswith("HTTP 503: ")


def test_run_keeps_to_its_time_budget(silent_port: int) -> None:
    known = checks.parse(GOOD, "c.yaml")
    started = time.monotonic()
    result = checkrun.run(known, f"http://127.0.0.1:{silent_port}", "support", timeout=0.5)
    assert time.monotonic() - started < 2
    whys = [f["why"] for f in result.to_json()["failed"]]
    assert len(whys) == 3 and "timed out" in whys[0]
    assert all(w.startswith("not asked: the 0.5 s for all checks were spent") for w in whys[1:])


@pytest.fixture
def llama(llama_server_bin: Path, tmp_path: Path) -> Iterator[Callable[[int], str]]:
    """llama(SEED) -> the URL of a real llama-server serving a tiny llama GGUF of that seed."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(seed: int) -> str:
        model, port = tmp_path / f"m{seed}.gguf", free_port()
        write_llama_gguf(model, seed=seed)
        args = [str(llama_server_bin), "-m", str(model), "--host", "127.0.0.1", "--port", str(port)]
        procs.append(
            subprocess.Popen(
                [*args, "-t", "1", "-c", "256"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return http.get(url + "/health", timeout=1).ok
            except GitModelError:
                return False

        wait_for(healthy, timeout=20)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_run_against_llama_server_tells_two_versions_apart(llama: Callable[[int], str]) -> None:
    """Greedy decoding on a real llama.cpp server: exact answers hold for the same weights only."""
    first = llama(1)
    known = _exact_checks(first, PROMPTS)
    passed = checkrun.run(known, first, "m1", timeout=20)
    assert passed.to_json() == {"passed": True, "failed": [], "total": 5}
    other = checkrun.run(known, llama(2), "m2", timeout=20)
    assert not other.passed and other.total == 5
    assert all(f.why and f.why.startswith("expected exactly") for f in other.failed)


def test_the_host_journals_a_reload_answers_check_in_its_shape(tmp_path: Path) -> None:
    from gitmodel.host import confirm, journal

    log = journal.Journal(tmp_path, model="support", env="production")
    confirm.journal_check(log, "v1.1.0", {})  # a server that checks nothing says nothing
    confirm.journal_check(log, "v1.1.0", {"check": {"passed": True, "failed": [], "total": 3}})
    bad = {"passed": True, "failed": [{"prompt": 9, "why": "x"}], "total": 1}
    confirm.journal_check(log, "v1.2.0", {"check": bad})
    steps = [(r["step"], r["version"], r.get("check")) for r in journal.read(tmp_path)]
    assert steps == [
        ("checked", "v1.1.0", {"passed": True, "failed": [], "total": 3}),
        ("check-unreadable", "v1.2.0", None),
    ]


def test_at_commit_refuses_a_folder_a_link_or_a_huge_blob_in_git(tmp_path: Path) -> None:
    """What a pusher can put at models/NAME/checks.yaml in a commit, read as the host reads it."""
    repo = tmp_path / "repo"
    folder = repo / "models" / "support"
    folder.mkdir(parents=True)

    def commit(make: Callable[[Path], object]) -> str:
        target = folder / checks.FILENAME
        if target.is_dir() and not target.is_symlink():
            for child in target.iterdir():
                child.unlink()
            target.rmdir()
        elif os.path.lexists(target):
            target.unlink()
        make(target)
        for args in (["add", "-A"], ["commit", "-q", "-m", "c"]):
            subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
        )
        return out.stdout.strip()

    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    sound = commit(lambda p: p.write_text(GOOD))
    got = checks.at_commit(repo, sound, "models/support", "support@v1.0.1")
    assert got is not None and got.text == GOOD
    assert checks.at_commit(repo, sound, "models/other", "x") is None

    def folder_there(p: Path) -> None:
        p.mkdir()
        (p / "x").write_text("x")

    cases = {
        "it is a tree, not a file": folder_there,
        "the document is refused: it must be a mapping": lambda p: p.symlink_to("/etc/passwd"),
        "the file (70040 bytes) is refused": lambda p: p.write_text(GOOD + "#" * (70040 - len(GOOD))),
    }
    for words, make in cases.items():
        rev = commit(make)
        with pytest.raises(ChecksError, match=re.escape(words)):
            checks.at_commit(repo, rev, "models/support", "support@v1.0.2")
