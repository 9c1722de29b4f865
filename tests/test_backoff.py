"""The throttle's rule (csa/core/backoff.py), without an app, and the figures the README gives
for the default settings (an attacker's tries per hour), so the two cannot drift apart."""

from __future__ import annotations

import pytest

from csa.config import Config
from csa.core.backoff import Backoff

RULE = Backoff(free=5, first=1, cap=900, forget=86400)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0), (4, 0), (5, 1), (6, 2), (7, 4), (14, 512), (15, 900), (200, 900), (10**6, 900)],
)
def test_delays_double_after_the_free_failures_up_to_the_cap(failures, delay):
    assert RULE.delay_after(failures) == delay


@pytest.mark.parametrize(
    ("seconds", "attempts"),
    [(0, 5), (0.99, 5), (1, 6), (3, 7), (1023, 15), (1922, 15), (1923, 16), (3600, 17)],
)
def test_attempts_within_a_span(seconds, attempts):
    assert RULE.attempts_within(seconds) == attempts


def _per_hour(setting: tuple[int, int, int, int]) -> tuple[int, int]:
    """Tries in the first hour of an attack, and in each later hour."""
    free, first, cap, forget = setting
    rule = Backoff(free=free, first=first, cap=cap, forget=forget)
    first_hour = rule.attempts_within(3600)
    return first_hour, rule.attempts_within(2 * 3600) - first_hour


def test_the_readme_figures():
    """README.md "Signing in, sessions and passwords" quotes these numbers."""
    assert _per_hour(Config.THROTTLE_LOGIN_PAIR) == (17, 4)
    assert _per_hour(Config.THROTTLE_LOGIN_ADDRESS) == (164, 60)
    assert _per_hour(Config.THROTTLE_FORGOT_ADDRESS) == (10, 1)
    assert _per_hour(Config.THROTTLE_FORGOT_EMAIL) == (6, 1)
    day = Backoff(*Config.THROTTLE_LOGIN_PAIR).attempts_within(86400)
    assert day == 109
