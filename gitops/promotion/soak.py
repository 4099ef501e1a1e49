"""The soak of a proof (Kargo's requiredSoakTime): how long an image must have run verified in the
upstream before it is promoted. Its own module, free of the proof's git and YAML readers, so the
Pulumi program's settings hold `promotion.soakMinutes` to the same bound as the CLI's
`--soak-minutes`."""

from __future__ import annotations

from datetime import datetime, timedelta

# The longest soak asked for: a week (Kargo's soak times are minutes to days).
MAX_SOAK_MINUTES = 7 * 24 * 60


def soak_left(proven_at: datetime, soak: timedelta, now: datetime) -> timedelta | None:
    """How long the soak still runs after the newest proof at `proven_at`, or None when it is over.
    Without a soak no clock is compared (GitHub's and this machine's may disagree a little)."""
    if not soak or now >= proven_at + soak:
        return None
    return proven_at + soak - now
