"""Continuity of knowledge from location statements: folding sightings into chips' last verification.

A statement's sightings are its evidence; `Chip.last_verified_at` is a
summary of them. Updating one chip row per sighted chip inside the request
held the log's lock for seconds at 100,000 chips (every row rewritten with
all its indexes), so the summary is folded in after the commit, one
set-based UPDATE per statement, by the `sightings.recorded` outbox event's
task. The continuity sweep asks `refresh_chips` first, so a fold that has not
run yet never makes a seen chip look silent.

Only a sighting by the chip's custodian (or a landmark's, which has no
operator) vouches for it: another operator listing a chip it does not hold
is a finding, and must not keep the holder's chip from looking silent.
"""

from attestations.storage import chips


def fold_statement(attestation_id):
    """Fold one statement's sightings into its chips' last verification; return the chips moved forward."""
    return chips.refresh_last_verified(chips.seen_in_statement(attestation_id))


def refresh_chips(chip_pks, since):
    """Fold the sightings since `since` of these chips (the continuity sweep's candidates)."""
    pks = list(chip_pks)
    if not pks:
        return 0
    return chips.refresh_last_verified(chips.seen_since(pks, since))
