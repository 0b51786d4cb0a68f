"""How build_table makes its objects cheaply: frozen dataclasses made through
their slots (model.slot_maker), the garbage collector paused for a build
(spec.collector_paused). Pure, table-driven."""

from __future__ import annotations

import dataclasses
import gc
from types import MappingProxyType

import pytest

from faas_sidecar.model import FunctionSpec, Replica, slot_maker
from faas_sidecar.spec import collector_paused, make_function_spec, make_replica

SPEC_ARGS = ("echo", "s1", "faas_echo", "img:1", 8080, 60.0, 2,
             MappingProxyType({"swarmfaas.function": "true"}),
             (Replica("t1", "10.0.1.5", 8080, "n1"),), None, None, True, False, None, "",
             "policy", None)


@pytest.mark.parametrize("cls, make, args", [
    (Replica, make_replica, ("t1", "10.0.1.5", 8080, "n1")),
    (Replica, make_replica, ("", "fd00::5", 1, "")),
    (FunctionSpec, make_function_spec, SPEC_ARGS),
    (FunctionSpec, slot_maker(FunctionSpec), tuple(reversed(SPEC_ARGS))),
])
def test_a_slot_maker_makes_what_the_dataclass_makes(cls, make, args):
    made = make(*args)
    assert type(made) is cls
    assert made == cls(*args)
    assert repr(made) == repr(cls(*args))
    assert [getattr(made, f.name) for f in dataclasses.fields(cls)] == list(args)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.port = 1


@pytest.mark.parametrize("cls", [Replica, FunctionSpec])
def test_a_slot_maker_takes_every_field_in_order(cls):
    names = [f.name for f in dataclasses.fields(cls)]
    made = slot_maker(cls)(*names)
    assert [getattr(made, name) for name in names] == names
    with pytest.raises(TypeError):
        slot_maker(cls)(*names[1:])  # no defaults: every field is given


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_paused_puts_it_back_as_it_was(enabled):
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(KeyError), collector_paused():
            raise KeyError("x")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
