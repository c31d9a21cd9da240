"""Table 6 of the guide as the call bridge applies it, per alarm level."""

from __future__ import annotations

import pytest

from moot.callbridge.enforcement import (
    COMPLIANCE_TEXT,
    NOTICE_SECONDS,
    Enforcement,
    EnforcementSource,
)
from moot.callbridge.prompts import PROMPT_TEXTS, duration


@pytest.mark.parametrize(
    ("level", "prompt", "seconds", "encryption"),
    [
        (0, None, "none", True),
        (1, None, "none", True),  # out of compliance: a notice to the administrator only
        (2, "license_expired", NOTICE_SECONDS, True),
        (3, "out_of_compliance", None, False),  # the text stays; encrypted calls are not processed
    ],
)
def test_levels(level: int, prompt: str | None, seconds: object, encryption: bool) -> None:
    e = Enforcement(level)
    assert e.prompt == prompt
    assert e.encryption_allowed is encryption
    if seconds == "none":
        assert e.notice is None
    else:
        assert e.notice is not None and e.notice[1] == seconds


def test_level_3_says_the_guides_words() -> None:
    assert PROMPT_TEXTS["out_of_compliance"] == COMPLIANCE_TEXT
    assert "out of licensing compliance, please contact your administrator" in COMPLIANCE_TEXT
    assert 3.0 < duration("out_of_compliance") < 8.0 and 3.0 < duration("license_expired") < 8.0


def test_the_level_is_evaluated_again_after_a_minute() -> None:
    now = [0.0]
    levels = iter([0, 2, 3])
    source = EnforcementSource(lambda: next(levels), ttl=60.0, clock=lambda: now[0])
    assert source().level == 0
    now[0] = 59.0
    assert source().level == 0  # cached
    now[0] = 60.0
    assert source().level == 2  # a lapsed licence takes effect without a restart
    now[0] = 130.0
    assert source().level == 3
