"""docs/errors.md's table of codes is the set every component can produce.

The sidecar's, the engine gate's and Alexa's codes come from the factories
registered in ``faas_sidecar.errors.CODES``; nginx's from its ``ERRORS`` table;
the watchdog's from the ``PlatformError(status, "code", ...)`` calls in its
package. A code string written anywhere in the sidecar must be a registered
one, so a typo fails here instead of breaking the contract quietly.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from pathlib import Path

import pytest
import sanic.exceptions

import faas_sidecar
import faas_sidecar.alexa.rejection as rejection
import faas_sidecar.gate.refusals as refusals
from faas_sidecar import errors
from faas_sidecar.app import _snake

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "errors.md"
SIDECAR = Path(faas_sidecar.__file__).parent
WATCHDOG = REPO / "watchdog" / "fwatchdog"
sys.path.insert(0, str(REPO / "nginx"))

from swarmfaas_nginx.render import ERRORS, WIRE_STATUS  # noqa: E402

Row = tuple[str, str, int]  # (component, code, status)
_ROW = re.compile(r"^\| `([a-z_]+)` \| (\d{3}) \| `([a-z-]+)` \| .+ \|$")


def documented() -> list[Row]:
    text = DOC.read_text()
    table = text[text.index("## Error codes"):]
    return [(m[3], m[1], int(m[2])) for m in map(_ROW.match, table.splitlines()) if m]


# The calls that take (status, code, reason): the error types and the writers.
_MAKERS = {"PlatformError", "Refused", "refusal", "_write_error"}


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def literal_codes(root: Path) -> set[tuple[Path, str, int]]:
    """(file, code, status) of every error made with a literal status and code,
    as ``PlatformError(404, "not_found", ...)``."""
    found = set()
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (not isinstance(node, ast.Call) or len(node.args) < 2
                    or _callee(node) not in _MAKERS):
                continue
            status, code = node.args[:2]
            if (isinstance(status, ast.Constant) and isinstance(status.value, int)
                    and 400 <= status.value <= 599
                    and isinstance(code, ast.Constant) and isinstance(code.value, str)):
                found.add((path, code.value, status.value))
    return found


def produced() -> set[Row]:
    rows = {(e.component, e.code, e.status) for e in errors.CODES.values()}
    rows |= {("nginx", code, WIRE_STATUS.get(status, status))
             for status, (code, _reason) in ERRORS.items()}
    rows |= {("watchdog", code, status) for _path, code, status in literal_codes(WATCHDOG)}
    return rows


def test_the_table_lists_each_code_once():
    rows = documented()
    keys = [(component, code) for component, code, _ in rows]
    assert len(rows) > 40  # the table was found and parsed
    assert len(keys) == len(set(keys))


def test_the_table_is_the_set_of_codes_the_platform_can_produce():
    rows = set(documented())
    assert sorted(produced() - rows) == [], "produced but not in docs/errors.md"
    assert sorted(rows - produced()) == [], "in docs/errors.md but produced by nothing"


def test_every_code_written_in_the_sidecar_is_a_registered_one():
    for path, code, status in literal_codes(SIDECAR):
        component = refusals.COMPONENT if path.parent.name == "gate" else errors.COMPONENT
        entry = errors.CODES.get((component, code))
        where = f"{path.relative_to(SIDECAR)}: {status} {code!r}"
        assert entry is not None, f"{where} is not a code of errors.CODES"
        assert entry.status == status, f"{where}: registered as {entry.status}"


# Sanic's exceptions that a request to the sidecar can meet (its HTTP layer,
# its router): app.setup_errors names them by their class.
SANIC_RAISES = (sanic.exceptions.BadRequest, sanic.exceptions.RequestTimeout,
                sanic.exceptions.PayloadTooLarge, sanic.exceptions.URITooLong,
                sanic.exceptions.MethodNotAllowed, sanic.exceptions.NotFound,
                sanic.exceptions.ExpectationFailed, sanic.exceptions.ServerError)


@pytest.mark.parametrize("exc", SANIC_RAISES, ids=lambda e: e.__name__)
def test_sanic_exceptions_render_as_registered_codes(exc):
    entry = errors.CODES.get((errors.COMPONENT, _snake(exc.__name__)))
    assert entry is not None and entry.status == exc.status_code


def _factories():
    for module in (errors, rejection, refusals):
        for name, func in vars(module).items():
            if callable(func) and hasattr(func, "error_code"):
                yield pytest.param(func, id=f"{module.__name__.rsplit('.', 1)[-1]}.{name}")


_SAMPLE = {"str": "x", "str | None": "x", "int": 7, "float": 2.5,
           "Mapping[str, str]": {"WWW-Authenticate": "Basic"}}


@pytest.mark.parametrize("factory", list(_factories()))
def test_each_factory_makes_its_registered_code(factory):
    entry = factory.error_code
    params = inspect.signature(factory).parameters.values()
    args = [_SAMPLE[p.annotation] for p in params if p.default is inspect.Parameter.empty]
    made = factory(*args)
    assert (made.code, made.status) == (entry.code, entry.status)
    assert isinstance(made.reason, str) and made.reason


def test_function_not_found_words_each_case():
    assert errors.function_not_found("nope").reason == "no function named 'nope'"
    assert errors.function_not_found().reason == "no function name in the request"
    assert errors.function_not_found(reason="scale: gone").reason == "scale: gone"


def test_headers_travel_with_the_error():
    assert errors.no_ready_replica("f").headers == {"Retry-After": "1"}


def test_a_code_is_defined_once():
    with pytest.raises(ValueError, match="defined twice"):
        errors.register("function_not_found", 404, "again")
