from pathlib import Path

import pytest

from faas_cli.errors import CliError, Exit
from faas_cli.stack import parse_stack, substitute

# A faas-cli project's stack file as faas-cli writes and users extend it.
FAAS_CLI_STACK = """
version: 1.0
provider:
  name: openfaas
  gateway: http://127.0.0.1:8080
functions:
  figlet:
    lang: python3
    handler: ./figlet
    image: ${REGISTRY:-swarmfaas}/fn-figlet:${TAG:-latest}
    fprocess: python3 index.py
    environment:
      write_debug: true
      read_timeout: 10s
      retries: 3
    environment_file:
      - env.yml
    labels:
      com.openfaas.scale.min: "2"
    annotations:
      topic: cron-function
    secrets:
      - api-key
    constraints:
      - node.role == manager
    limits:
      memory: 40Mi
      cpu: 100m
    requests:
      memory: 20Mi
    build_args:
      ADDITIONAL_PACKAGE: figlet
    readonly_root_filesystem: true
    namespace: openfaas-fn
  plain:
    lang: dockerfile
    image: swarmfaas/fn-plain
    skip_build: true
configuration:
  templates:
    - name: python3-flask
      source: https://github.com/openfaas/python-flask-template
"""

FILES = {"env.yml": "environment:\n  from_file: yes\n  write_debug: false\n"}


def parse(text, env=None):
    return parse_stack(text, env=env or {}, read=lambda p: FILES[p], where="stack.yml")


def test_a_faas_cli_stack_file_parses_whole():
    s = parse(FAAS_CLI_STACK, {"TAG": "1.2"})
    assert (s.provider, s.gateway) == ("openfaas", "http://127.0.0.1:8080")
    assert [t.name for t in s.templates] == ["python3-flask"]
    f, plain = s.functions
    assert f.name == "figlet" and f.lang == "python3" and f.handler == "./figlet"
    assert f.image == "swarmfaas/fn-figlet:1.2"
    assert f.fprocess == "python3 index.py"
    # environment wins over environment_file; scalars become strings
    assert f.environment == {"from_file": "true", "write_debug": "true",
                             "read_timeout": "10s", "retries": "3"}
    assert f.labels == {"com.openfaas.scale.min": "2"}
    assert f.annotations == {"topic": "cron-function"}
    assert f.secrets == ("api-key",)
    assert f.constraints == ("node.role == manager",)
    assert f.limits == {"memory": "40Mi", "cpu": "100m"}
    assert f.requests == {"memory": "20Mi"}
    assert f.build_args == {"ADDITIONAL_PACKAGE": "figlet"}
    assert f.readonly_root_filesystem is True
    assert plain.handler == "./plain" and plain.skip_build is True
    assert plain.readonly_root_filesystem is None  # silent: the platform's default


@pytest.mark.parametrize(("text", "env", "want"), [
    ("${A}", {"A": "x"}, "x"),
    ("${A:-d}", {}, "d"),
    ("${A:-d}", {"A": ""}, "d"),
    ("${A}", {}, ""),
    ("$A ${B:-}", {"A": "1"}, "$A "),
    ("a${X}b${Y:-y}", {"X": "-"}, "a-by"),
])
def test_substitute(text, env, want):
    assert substitute(text, env) == want


def fn(body: str) -> str:
    return "provider: {name: openfaas}\nfunctions:\n  f:\n" + "".join(
        f"    {line}\n" for line in body.strip().splitlines())


@pytest.mark.parametrize(("text", "in_message"), [
    ("functions: [", "not valid YAML"),
    ("- 1", "expected a mapping"),
    ("provider: {name: openfaas}", "no `functions`"),
    ("provider: x\nfunctions: {f: {image: i}}", "provider must be a mapping"),
    (fn("image: i\nlimts: {memory: 1M}"), "unknown field functions.f.limts"),
    (fn("lang: python"), "functions.f.image is missing"),
    (fn("image: i\nenvironment: [a]"), "functions.f.environment must be a mapping"),
    (fn("image: i\nsecrets: {a: b}"), "functions.f.secrets must be a list"),
    (fn("image: i\nlimits: {gpu: 1}"), "unknown field functions.f.limits.gpu"),
    (fn("image: i\nnamespace: dev"), "functions.f.namespace is 'dev'"),
    (fn("image: {a: b}"), "functions.f.image must be a string"),
    ("functions: {Bad_Name: {image: i}}", "function name 'Bad_Name' is not valid"),
    ("functions: {f: {image: i, environment_file: [missing.yml]}}",
     "cannot read environment_file missing.yml"),
])
def test_errors_name_the_field(text, in_message):
    with pytest.raises(CliError) as e:
        parse_stack(text, env={}, read=lambda p: Path("/nonexistent", p).read_text())
    assert e.value.code == Exit.USAGE
    assert in_message in e.value.message


def test_a_single_secret_string_is_a_list():
    s = parse(fn("image: i\nsecrets: one"))
    assert s.functions[0].secrets == ("one",)


@pytest.mark.parametrize(("names", "want"), [
    ((), ["figlet", "plain"]),
    (("plain",), ["plain"]),
])
def test_select(names, want):
    assert [f.name for f in parse(FAAS_CLI_STACK).select(names)] == want


def test_select_unknown_says_which_exist():
    with pytest.raises(CliError) as e:
        parse(FAAS_CLI_STACK).select(("nope",))
    assert "'nope'" in e.value.message and "figlet, plain" in e.value.hint
