"""Growing delays after repeated failures: the rule of the sign-in throttle, without a database.

A counter of failures is kept per key (csa/accounts/throttle.py stores it). The first
``free`` failures cost nothing; after the n-th failure (n >= free) the next attempt must
wait ``first * 2 ** (n - free)`` seconds, never more than ``cap``. The README's figures of
what an attacker can try per hour come from ``attempts_within``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """How many failures are free, the first delay after them and the longest one (seconds)."""

    free: int
    first: float
    cap: float
    forget: float  # a key with no failure for this long starts again from zero

    def delay_after(self, failures: int) -> float:
        """Seconds the next attempt must wait after this many failures in a row."""
        if failures < self.free:
            return 0.0
        exponent = failures - self.free
        # 2 ** exponent overflows nothing here, but stop doubling once past the cap.
        if exponent > 64:
            return float(self.cap)
        return float(min(self.first * 2**exponent, self.cap))

    def attempts_within(self, seconds: float) -> int:
        """The most attempts one can make in this many seconds, each failing, from zero.

        Every attempt is made the moment it is allowed, which is what an attacker does.
        """
        made, clock = 0, 0.0
        while clock <= seconds:
            made += 1
            clock += self.delay_after(made)
            if made > 10_000_000:  # a zero delay would never end; the rule has free < inf
                break
        return made
