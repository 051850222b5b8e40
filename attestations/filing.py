"""Filing a statement's findings: the speaker's own under it, those about other parties' chips under each
chip's custodian (ARCHITECTURE.md, "no party speaks for another")."""

from inventory.services.findings import raise_findings
from inventory.services.holders import file_under_holders


def cited(att):
    """What every finding of the statement cites."""
    return {"statement": att.pk, "statement_sha256": att.statement_sha256, "log_index": att.log_index}


def file(found, chips, att, speaker, facility):
    """Store the statement's findings `found` (its chips resolved: `chips`, or None) where each belongs;
    return (the speaker's own, [(finding, chip info)] of those about other parties' chips)."""
    own, others = by_entitlement(found, chips, speaker)
    evidence = cited(att)
    raise_findings(own, facility=facility, organisation=att.operator or facility.operator, evidence=evidence)
    raise_for_custodians(others, speaker, facility, evidence)
    return own, others


def by_entitlement(found, chips, speaker):
    """The speaker's findings, and (finding, chip info) of those about chips registered to another party.

    What a statement's answer and its speaker's stored findings say is computed from the speaker's own
    data only. About a chip someone else holds, the checks read that party's data (where it last saw the
    chip, the usage it reported, its chip's model): binary search on those flags would read them out
    (ATTESTATION.md section 5; ARCHITECTURE.md, "no party speaks for another"). Those findings go whole to
    the parties entitled to them: the chip's custodian, the inspectorates of both places, the treaty body.
    """
    if chips is None:
        return found, []
    registered, own, others = chips.found, [], []
    for d in found:
        info = registered.get(d.chip_ref) if d.chip_pk is not None else None
        if info is not None and info[1] != speaker.pk:
            others.append((d, info))
        else:
            own.append(d)
    return own, others


def raise_for_custodians(others, speaker, facility, evidence):
    """Store the findings about other parties' chips under each chip's custodian, seen by the inspectorates
    of the statement's facility (country) and of the chip (other_country); never under the speaker (an
    operator reads findings by organisation, so the facility on the row shows the speaker nothing)."""
    if not others:
        return
    # The holder reads the speaker and the statement's id, not its log entry: its leaf is public and carries
    # the signers' key ids, which the key directory names (nor its SHA-256, which finds the leaf). The holder
    # of a lost or stolen chip learns where it was seen as its lost_chip_sighted finding says it (the country
    # and the time: inventory.services.watch), not whose facility it was: its rows name neither the facility
    # nor the speaker. The inspectorates and the treaty body, entitled to the statement, follow
    # evidence.statement to both.
    file_under_holders(
        others, facility, {**evidence, "speaker": speaker.code}, watched_evidence={"statement": evidence["statement"]}
    )
