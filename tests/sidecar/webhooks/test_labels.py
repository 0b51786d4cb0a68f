"""The swarmfaas.webhook.* labels: what they parse to and every refusal."""

from __future__ import annotations

import pytest

from faas_sidecar.spec import InvalidFunction, parse_service
from faas_sidecar.webhooks.labels import LabelError, WebhookCheck, parse_webhook_labels
from faas_sidecar.webhooks.signatures import Scheme

W = "swarmfaas.webhook."

GOOD = [
    ({}, None),
    ({"swarmfaas.timeout": "3"}, None),
    ({W + "scheme": "github", W + "secrets": "gh"}, WebhookCheck(Scheme("github"), ("gh",))),
    ({W + "scheme": " Slack ", W + "secrets": "old, new", W + "tolerance": "60"},
     WebhookCheck(Scheme("slack", 60.0), ("old", "new"))),
    ({W + "scheme": "hmac", W + "secrets": "s", W + "header": "X-Signature",
      W + "digest": "SHA512", W + "encoding": "base64", W + "prefix": "sha512=",
      W + "id_header": "X-Delivery"},
     WebhookCheck(Scheme("hmac", header="x-signature", digest="sha512", encoding="base64",
                         prefix="sha512=", id_header="x-delivery"), ("s",))),
]


@pytest.mark.parametrize(("labels", "parsed"), GOOD)
def test_parses(labels, parsed):
    assert parse_webhook_labels(labels) == parsed


BAD = [
    ({W + "secrets": "gh"}, W + "scheme"),
    ({W + "scheme": "gitlab", W + "secrets": "gh"}, W + "scheme"),
    ({W + "scheme": "github"}, W + "secrets"),
    ({W + "scheme": "github", W + "secrets": "../etc/passwd"}, W + "secrets"),
    ({W + "scheme": "github", W + "secrets": "gh", W + "tolerance": "0"}, W + "tolerance"),
    ({W + "scheme": "github", W + "secrets": "gh", W + "tolerance": "soon"}, W + "tolerance"),
    ({W + "scheme": "github", W + "secrets": "gh", W + "header": "X-Sig"}, W + "header"),
    ({W + "scheme": "hmac", W + "secrets": "s"}, W + "header"),
    ({W + "scheme": "hmac", W + "secrets": "s", W + "header": "X Sig"}, W + "header"),
    ({W + "scheme": "hmac", W + "secrets": "s", W + "header": "X-Sig", W + "digest": "md5"},
     W + "digest"),
    ({W + "scheme": "hmac", W + "secrets": "s", W + "header": "X-Sig",
      W + "encoding": "base32"}, W + "encoding"),
    ({W + "scheme": "hmac", W + "secrets": "s", W + "header": "X-Sig",
      W + "id_header": "a b"}, W + "id_header"),
]


@pytest.mark.parametrize(("labels", "named"), BAD)
def test_refuses_naming_the_label(labels, named):
    with pytest.raises(LabelError, match=named.replace(".", r"\.")):
        parse_webhook_labels(labels)


def test_a_bad_webhook_label_makes_the_service_unroutable_not_open():
    service = {"ID": "x", "Spec": {"Name": "hook", "Labels": {
        "swarmfaas.function": "true", W + "scheme": "github"}}}
    with pytest.raises(InvalidFunction, match="secrets"):
        parse_service(service)
    service["Spec"]["Labels"][W + "secrets"] = "gh"
    assert parse_service(service).webhook == WebhookCheck(Scheme("github"), ("gh",))
