"""The corpus itself (pure, in make unit): big enough, every category covered,
and no case that would accept a 5xx."""

from __future__ import annotations

from .corpus import CASES, by_category


def test_the_corpus_has_at_least_120_cases_in_every_category() -> None:
    counts = by_category()
    assert sum(counts.values()) >= 120, counts
    for category in ("request-line", "method", "path", "name", "header", "smuggling", "body",
                     "slow", "alexa", "system", "h2-stream", "h2-frame"):
        assert counts.get(category, 0) >= 3, (category, counts)
    assert len({(c.protocol, c.name) for c in CASES}) == len(CASES), "two cases share a name"
    assert not [c.name for c in CASES if isinstance(c.expect, int) and c.expect >= 500]
