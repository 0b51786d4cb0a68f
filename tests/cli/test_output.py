import pytest

from faas_cli import output


def test_function_rows_sorted_with_stack():
    rows = output.function_rows([
        {"name": "b", "replicas": 2, "availableReplicas": 1, "invocationCount": 7,
         "image": "i:b", "namespace": "swarmfaas-fn",
         "labels": {"com.docker.stack.namespace": "faas"}},
        {"name": "a", "replicas": 1, "availableReplicas": 1, "image": "i:a",
         "namespace": "swarmfaas-fn"},
    ])
    assert rows == [("a", "-", "1/1", "0", "i:a"), ("b", "faas", "1/2", "7", "i:b")]


@pytest.mark.parametrize(("status", "want"), [
    ({"replicas": 1, "availableReplicas": 0}, False),
    ({"replicas": 1, "availableReplicas": 1}, True),
    ({"replicas": 3, "availableReplicas": 1}, True),
    ({"replicas": 0, "availableReplicas": 0}, True),  # scaled to zero: nothing to wait for
    ({}, True),
])
def test_is_ready(status, want):
    assert output.is_ready(status) is want


def test_describe_rows():
    rows = dict(output.describe_rows({
        "name": "a", "image": "i", "replicas": 2, "availableReplicas": 1,
        "labels": {"b": "2", "a": "1"}, "limits": {"memory": "128M"}, "secrets": ["s1", "s2"],
    }))
    assert rows["status"] == "ready"
    assert rows["replicas"] == "1 ready of 2"
    assert rows["labels"] == "a=1, b=2"
    assert rows["limits"] == "memory 128M"
    assert rows["secrets"] == "s1, s2"
    assert rows["annotations"] == "-"


@pytest.mark.parametrize(("line", "want"), [
    ('{"name": "f", "instance": "0123456789abcdef", "timestamp": "2026-12-04T10:00:00Z",'
     ' "text": "hello\\n"}', "2026-12-04T10:00:00Z (0123456789ab) hello"),
    ('{"text": "only text"}', "only text"),
    ("not json", "not json"),
    ("[1]", "[1]"),
])
def test_log_line(line, want):
    assert output.log_line(line) == want


def test_table_never_cuts_the_name_column(monkeypatch):
    from rich.console import Console

    console = Console(width=60, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    monkeypatch.setattr(output, "out", console)
    name = "cli-python-http-024f73-a-long-function-name"
    output.table("functions", ["name", "stack", "image"],
                 [(name, "faastest", "swarmfaas/fn-" + "x" * 60)])
    assert name in console.export_text()
