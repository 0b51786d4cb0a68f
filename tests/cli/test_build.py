import json
from pathlib import Path

import pytest

from faas_cli import build
from faas_cli.errors import CliError, Exit
from faas_cli.stack import Function
from faas_cli.templates import SHIPPED, load


@pytest.mark.parametrize(("image", "iid", "want"), [
    ("swarmfaas/fn-a:latest", "sha256:0123456789abcdef0000", "swarmfaas/fn-a:latest-0123456789ab"),
    ("swarmfaas/fn-a", "sha256:0123456789abcdef", "swarmfaas/fn-a:latest-0123456789ab"),
    ("reg:5000/fn-a", "sha256:0123456789abcdef", "reg:5000/fn-a:latest-0123456789ab"),
    ("reg:5000/fn-a:1.0", "sha256:0123456789abcdef", "reg:5000/fn-a:1.0-0123456789ab"),
])
def test_pinned(image, iid, want):
    assert build.pinned(image, iid) == want


@pytest.mark.parametrize(("text", "want"), [
    ("", False),
    ("# only a comment\n\n", False),
    ("requests==2.32\n", True),
    ("  flask  # web\n", True),
])
def test_has_requirements(text, want):
    assert build.has_requirements(text) is want


def test_docker_build_args():
    cmd = build.docker_build_args(context=Path("/ctx"), image="swarmfaas/fn-a:1",
                                  watchdog_tag="abc", build_args={"X": "1"},
                                  iidfile=Path("/b/a.iid"), no_cache=True)
    assert cmd == ["docker", "build", "--force-rm", "--iidfile", "/b/a.iid",
                   "-t", "swarmfaas/fn-a:1",
                   "--build-arg", "TAG=abc", "--build-arg", "X=1", "--no-cache", "/ctx"]


@pytest.mark.parametrize(("image", "ok"), [
    ("swarmfaas/fn-a:latest", True), ("reg:5000/x/y@sha256:ab", True),
    ("Swarmfaas/A", False), ("a b", False), ("", False),
])
def test_check_image_name(image, ok):
    if ok:
        build.check_image_name(image)
    else:
        with pytest.raises(CliError):
            build.check_image_name(image)


def fn(name="hello", lang="python", image="swarmfaas/fn-hello:latest"):
    return Function(name, lang, f"./{name}", image)


def test_last_build_only_for_the_same_image(tmp_path: Path):
    rec = build.build_record_path(tmp_path, "hello")
    assert build.last_build(tmp_path, fn()) is None
    rec.parent.mkdir()
    rec.write_text(json.dumps({"image": "swarmfaas/fn-hello:latest",
                               "pinned": "swarmfaas/fn-hello:latest-abc"}))
    assert build.last_build(tmp_path, fn()).pinned == "swarmfaas/fn-hello:latest-abc"
    assert build.last_build(tmp_path, fn(image="swarmfaas/fn-hello:2")) is None


def test_a_push_is_recorded_with_the_build(tmp_path: Path):
    (tmp_path / build.BUILD_DIR).mkdir()
    build.record_build(tmp_path, "hello", build.Built("swarmfaas/fn-hello:latest", "p"))
    assert build.last_build(tmp_path, fn()).pushed is None
    build.record_build(tmp_path, "hello", build.Built("swarmfaas/fn-hello:latest", "p",
                                                      "r:5000/swarmfaas/fn-hello@sha256:1"))
    assert build.last_build(tmp_path, fn()).pushed == "r:5000/swarmfaas/fn-hello@sha256:1"


D = "sha256:" + "a" * 64


@pytest.mark.parametrize(("image", "registry"), [
    ("swarmfaas/fn-a:1", None),          # Docker Hub's
    ("fn-a", None),
    ("reg:5000/fn-a:1", "reg:5000"),
    ("reg.example/x/fn-a", "reg.example"),
    ("localhost/fn-a", "localhost"),
    ("10.77.0.11:5000/swarmfaas/fn-a@" + D, "10.77.0.11:5000"),
])
def test_registry_of(image, registry):
    assert build.registry_of(image) == registry


@pytest.mark.parametrize(("image", "want"), [
    ("swarmfaas/fn-a:1-abc", "10.77.0.11:5000/swarmfaas/fn-a:1-abc"),
    ("other:5000/swarmfaas/fn-a:1", "10.77.0.11:5000/swarmfaas/fn-a:1"),
    ("fn-a", "10.77.0.11:5000/fn-a"),
])
def test_in_registry(image, want):
    assert build.in_registry(image, "10.77.0.11:5000") == want


@pytest.mark.parametrize(("digests", "image", "want"), [
    ([f"r:5000/swarmfaas/fn-a@{D}"], "r:5000/swarmfaas/fn-a:1-abc", f"r:5000/swarmfaas/fn-a@{D}"),
    # the same bytes pushed elsewhere too: the one of the registry pushed to
    ([f"other/fn-a@{D}", f"r:5000/fn-a@{D}"], "r:5000/fn-a:t", f"r:5000/fn-a@{D}"),
    ([f"r:5000/fn-b@{D}"], "r:5000/fn-a:t", None),
    ([], "r:5000/fn-a", None),
    ([f"r:5000/fn-a@{D}"], "r:5000/fn-a", f"r:5000/fn-a@{D}"),  # no tag: the port stays
])
def test_repo_digest(digests, image, want):
    assert build.repo_digest(digests, image) == want


def test_prepare_context_lays_out_template_and_handler(tmp_path: Path):
    handler = tmp_path / "hello"
    handler.mkdir()
    (handler / "handler.py").write_text("def handle(req): return req\n")
    (handler / "__pycache__").mkdir()
    ctx = build.prepare_context(tmp_path, fn(), load(SHIPPED / "python", "shipped"))
    assert ctx == tmp_path / "build" / "hello"
    assert (ctx / "Dockerfile").is_file() and (ctx / "index.py").is_file()
    assert (ctx / "function" / "handler.py").is_file()
    assert not (ctx / "function" / "__pycache__").exists()
    assert not (ctx / "template.yml").exists()


def test_prepare_context_dockerfile_lang_is_the_handler(tmp_path: Path):
    tpl = load(SHIPPED / "dockerfile", "shipped")
    (tmp_path / "own").mkdir()
    with pytest.raises(CliError, match="has no Dockerfile"):
        build.prepare_context(tmp_path, fn("own", "dockerfile"), tpl)
    (tmp_path / "own" / "Dockerfile").write_text("FROM x\n")
    ctx = build.prepare_context(tmp_path, fn("own", "dockerfile"), tpl)
    assert ctx == (tmp_path / "own").resolve()


def test_prepare_context_missing_handler_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(CliError) as e:
        build.prepare_context(tmp_path, fn(), load(SHIPPED / "python", "shipped"))
    assert e.value.code == Exit.USAGE and "faas new hello" in e.value.hint


def test_fetch_deps_pip_without_requirements_makes_an_empty_wheelhouse(tmp_path: Path):
    (tmp_path / "function").mkdir()
    (tmp_path / "function" / "requirements.txt").write_text("# none\n")
    build.fetch_deps(tmp_path, "pip", tmp_path / "log")
    assert (tmp_path / "wheels").is_dir() and not list((tmp_path / "wheels").iterdir())


def test_a_failed_step_shows_the_end_of_its_log(tmp_path: Path):
    with pytest.raises(CliError) as e:
        build._run(["sh", "-c", "echo first; echo '\x1b[91mlast words\x1b[0m'; exit 3"],
                   tmp_path / "log", "step", "do this")
    assert e.value.code == Exit.FAILED
    assert "exit 3" in e.value.message and "last words" in e.value.message
    assert "\x1b" not in e.value.message
    assert e.value.hint == "do this"


@pytest.mark.parametrize(("pinned", "registry", "via", "want"), [
    ("swarmfaas/fn-a:1-abc", None, None, None),           # stays local
    ("swarmfaas/fn-a:1-abc", None, "127.0.0.1:45078", None),
    ("swarmfaas/fn-a:1-abc", "10.77.0.11:5000", None,
     ("10.77.0.11:5000/swarmfaas/fn-a:1-abc", "10.77.0.11:5000")),
    # through a relay: pushed there, but the nodes pull from the registry's address
    ("swarmfaas/fn-a:1-abc", "10.77.0.11:5000", "127.0.0.1:45078",
     ("127.0.0.1:45078/swarmfaas/fn-a:1-abc", "10.77.0.11:5000")),
    # a name with its own registry keeps it, relay or not
    ("r.example/fn-a:1-abc", "10.77.0.11:5000", "127.0.0.1:45078",
     ("127.0.0.1:45078/fn-a:1-abc", "r.example")),
])
def test_push_plan(pinned, registry, via, want):
    assert build.push_plan(pinned, registry, via) == want


def test_a_push_through_a_relay_records_the_name_the_nodes_pull(tmp_path: Path, monkeypatch):
    from faas_cli import commands

    ran: list[list[str]] = []
    monkeypatch.setattr(build, "_run", lambda cmd, *a, **k: ran.append(cmd))
    monkeypatch.setattr(build, "tag", lambda image, target, log: ran.append(["tag", target]))
    # What Docker's RepoDigests holds after pushing to the relay: the relay's name.
    monkeypatch.setattr(build, "pushed_digest",
                        lambda image, log: f"{build.repository(image)}@{D}")
    (tmp_path / build.BUILD_DIR).mkdir()
    build.record_build(tmp_path, "hello", build.Built("swarmfaas/fn-hello:latest",
                                                      "swarmfaas/fn-hello:latest-abc"))
    commands._push([fn()], tmp_path, "10.77.0.11:5000", "127.0.0.1:45078")
    assert ["docker", "push", "127.0.0.1:45078/swarmfaas/fn-hello:latest-abc"] in ran
    assert build.last_build(tmp_path, fn()).pushed == f"10.77.0.11:5000/swarmfaas/fn-hello@{D}"
