"""docs/labels.md and faas_sidecar.labels name the same labels, with the same defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from faas_sidecar import labels
from faas_sidecar.labels import NAME_PRECHECK, NAME_RE, is_valid_name

DOC = Path(__file__).resolve().parents[2] / "docs" / "labels.md"
# A stated default is one backticked literal per key ("`8080`", "`1` / `20`");
# anything else ("(none)", "service name without the stack prefix") states none.
_LITERALS = re.compile(r"^`([^`]*)`(?: / `([^`]*)`)*$")


def documented() -> dict[str, str | None]:
    """key -> default, from the table and the line naming Docker's labels."""
    found: dict[str, str | None] = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith(("`swarmfaas.", "`function`",
                                                        "`com.openfaas.annotations.")):
            keys = re.findall(r"`([^`]+)`", cells[0])
            defaults: list[str | None] = [None] * len(keys)
            if _LITERALS.match(cells[1]):
                defaults = re.findall(r"`([^`]*)`", cells[1])
            assert len(defaults) == len(keys), line
            found.update(zip(keys, defaults, strict=True))
        elif line.startswith("Labels the platform reads that Docker"):
            follows = DOC.read_text().split(line, 1)[1].split("\n\n", 1)[0]
            found.update((key, None) for key in re.findall(r"`([a-z.]+)`", line + follows))
    return found


def test_the_doc_lists_exactly_the_labels_of_the_module():
    in_doc = documented()
    assert len(in_doc) >= 12  # the table was found and parsed
    assert sorted(in_doc) == sorted(label.key for label in labels.DOCUMENTED)


@pytest.mark.parametrize("label", labels.DOCUMENTED, ids=lambda label: label.key)
def test_the_doc_states_the_module_default(label):
    assert documented()[label.key] == label.default


def test_every_key_constant_is_documented():
    keys = {value for name, value in vars(labels).items()
            if name.isupper() and isinstance(value, str) and not name.endswith(
                ("PREFIX", "FILTER", "PRECHECK"))}
    assert keys <= {label.key for label in labels.DOCUMENTED}


def test_the_doc_gives_the_name_pattern():
    assert f"`{NAME_RE.pattern}`" in DOC.read_text()


@pytest.mark.parametrize(("name", "valid"), [
    ("echo", True), ("a", True), ("0", True), ("fn-2", True), ("e" * 63, True),
    ("", False), ("-x", False), ("x-", False), ("Echo", False), ("e" * 64, False),
    ("a_b", False), ("a.b", False),
    # `$` also matches before a final newline: the whole name must match
    ("0\n", False), ("echo\n", False),
])
def test_function_names(name, valid):
    assert is_valid_name(name) is valid
    if valid:  # the fast path's pre-check lets every valid name through
        assert re.fullmatch(NAME_PRECHECK, name)


@pytest.mark.parametrize("name", ["-x", "x-", "--", "e" * 63])
def test_the_precheck_is_looser_only_at_the_ends(name):
    assert re.fullmatch(NAME_PRECHECK, name)
