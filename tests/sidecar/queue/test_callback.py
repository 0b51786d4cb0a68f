"""Which X-Callback-Url the platform will call (queue/callback.py), as tables."""

from __future__ import annotations

import pytest

from faas_sidecar.queue.callback import callback_refusal, result_headers

ALLOW = ("hooks.example.com", "*.internal.example", "10.0.0.5:9000")


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/done",
    "http://hooks.example.com:8080/done?x=1",       # the host matches, any port
    "https://HOOKS.example.com/",                     # hosts are case-insensitive
    "https://a.internal.example/cb",
    "https://a.b.internal.example/cb",
    "http://10.0.0.5:9000/cb",
])
def test_allowed(url):
    assert callback_refusal(url, ALLOW) is None


@pytest.mark.parametrize(("url", "why"), [
    ("https://evil.example.com/", "not in CALLBACK_ALLOWLIST"),
    ("https://hooks.example.com.evil.net/", "not in CALLBACK_ALLOWLIST"),
    ("https://internal.example/", "not in CALLBACK_ALLOWLIST"),  # *. needs a subdomain
    ("http://10.0.0.5/cb", "not in CALLBACK_ALLOWLIST"),         # only port 9000 there
    ("http://10.0.0.5:9001/cb", "not in CALLBACK_ALLOWLIST"),
    ("ftp://hooks.example.com/", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("hooks.example.com/done", "http:// or https://"),
    ("https://user:pw@hooks.example.com/", "no user or password"),
    ("https://user@hooks.example.com/", "no user or password"),
    ("https:///nohost", "no host"),
    ("https://hooks.example.com:99999/", "cannot be parsed"),
    ("https://hooks.example.com/\r\nX: y", "control characters"),
    ("https://hooks.example.com/a b", "spaces"),
    ("https://hooks.example.com/" + "a" * 2100, "too long"),
])
def test_refused(url, why):
    refusal = callback_refusal(url, ALLOW)
    assert refusal is not None and why in refusal


def test_an_empty_allowlist_refuses_every_callback():
    assert "off" in callback_refusal("https://hooks.example.com/", ())


@pytest.mark.parametrize(("status", "shown"), [(200, "200"), (500, "500"), (None, "none")])
def test_result_headers(status, shown):
    headers = dict(result_headers("c-1", "echo", status, 0.12345, 2, "text/plain"))
    assert headers == {"X-Call-Id": "c-1", "X-Function-Name": "echo",
                       "X-Function-Status": shown, "X-Duration-Seconds": "0.123",
                       "X-Delivery-Attempt": "2", "Content-Type": "text/plain"}
    assert "Content-Type" not in dict(result_headers("c", "f", 200, 0, 1, None))
