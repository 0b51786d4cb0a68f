"""nginx_log's reading of the access log and its sorting of outcomes: pure,
so in `make unit` (no cluster)."""

from __future__ import annotations

import json
from typing import NamedTuple

import pytest
from nginx_log import Logged, parse_access_log, sort_by_sidecar


class Out(NamedTuple):
    result: str
    call_id: str


def _line(call_id: str, upstream: str, status: str = "200") -> str:
    return json.dumps({"call_id": call_id, "upstream_addr": upstream, "status": status})


@pytest.mark.parametrize(("upstream", "tried"), [
    ("10.0.0.5:8080", ("10.0.0.5:8080",)),
    ("10.0.0.5:8080, 10.0.0.6:8080", ("10.0.0.5:8080", "10.0.0.6:8080")),
    ("10.0.0.5:8080 : 10.0.0.6:8080", ("10.0.0.5:8080", "10.0.0.6:8080")),
    ("", ()),
])
def test_every_address_nginx_tried_is_kept_in_order(upstream, tried):
    calls = parse_access_log([_line("load-x-1", upstream)], "load-x-")
    assert calls == {"load-x-1": Logged("200", tried)}


def test_other_lines_and_other_calls_are_skipped():
    lines = ["swarmfaas-nginx INFO reloaded nginx: sidecar at 10.0.0.5:8080",
             "{not json", _line("7306d2ae", "10.0.0.5:8080"), _line("load-x-2", "10.0.0.6:8080")]
    assert list(parse_access_log(lines, "load-x-")) == ["load-x-2"]


DEAD, LIVE = "10.0.0.5:8080", "10.0.0.6:8080"


@pytest.mark.parametrize(("outcome", "logged", "kind"), [
    (Out("502", "a"), Logged("502", (DEAD,)), "failed_there"),
    (Out("502", "a"), Logged("502", (LIVE, DEAD)), "failed_there"),
    (Out("502", "a"), Logged("502", (LIVE,)), "failed_elsewhere"),
    (Out("ReadTimeout", "a"), None, "failed_elsewhere"),  # never logged: not known to be there
    (Out("ok", "a"), Logged("200", (DEAD, LIVE)), "resent"),
    (Out("ok", "a"), Logged("200", (LIVE,)), None),
    (Out("ok", "a"), Logged("200", (DEAD,)), None),  # answered before the kill
])
def test_outcomes_are_sorted_by_what_nginx_did_with_them(outcome, logged, kind):
    calls = {} if logged is None else {"a": logged}
    sorted_ = sort_by_sidecar([outcome], calls, DEAD)
    found = [k for k in ("failed_there", "failed_elsewhere", "resent")
             if getattr(sorted_, k) == [outcome]]
    assert found == ([kind] if kind else [])
