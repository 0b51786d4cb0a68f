"""The supervisor's hand-over of sidecar addresses (no nginx needed): the
file the workers read, and a failed write tried again at the next tick."""

from __future__ import annotations

import pytest

from swarmfaas_nginx import supervisor as supervisor_mod
from swarmfaas_nginx import upstream as upstream_mod
from swarmfaas_nginx.settings import load_settings
from swarmfaas_nginx.supervisor import Supervisor


@pytest.fixture
def sup(tmp_path, monkeypatch):
    monkeypatch.setattr(Supervisor, "look_for_cert", lambda self: None)
    state = tmp_path / "state"
    state.mkdir()
    return Supervisor(load_settings({"NGINX_STATE_DIR": str(state), "NGINX_IPV6": "off"}))


def test_new_addresses_are_written_for_the_workers(sup, monkeypatch):
    monkeypatch.setattr(upstream_mod, "resolve", lambda host, port: ("10.0.0.5:8080",))
    assert sup.check_once() is True
    with open(sup.s.sidecars_path) as f:
        assert f.read() == "10.0.0.5 8080\n"
    assert sup.check_once() is False  # unchanged: nothing to do
    assert sup.sidecar_changes == 1


def test_a_failed_write_is_tried_again_at_the_next_tick(sup, monkeypatch):
    monkeypatch.setattr(upstream_mod, "resolve", lambda host, port: ("10.0.0.6:8080",))
    real = supervisor_mod._write

    def full_disk(path: str, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(supervisor_mod, "_write", full_disk)
    with pytest.raises(OSError):
        sup.check_once()
    assert sup.addresses == ()  # not taken as served
    monkeypatch.setattr(supervisor_mod, "_write", real)
    assert sup.check_once() is True
    with open(sup.s.sidecars_path) as f:
        assert f.read() == "10.0.0.6 8080\n"
