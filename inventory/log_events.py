"""The transparency-log events the inventory appends (see transparency.events)."""

from transparency.events import register_event_name

for _name, _description in {
    "facility.registered": "A facility was registered (data: code, operator, country, coordinates).",
    "facility.updated": "A facility's record changed (before and after; seen in the old and new country).",
    "cluster.registered": "A cluster was declared in a facility.",
    "cluster.updated": "A cluster's declaration changed.",
    "campus.proposed": "The registry grouped nearby facilities into a campus, or regrouped it (data: every "
    "facility code; seen by treaty bodies and the inspectorates of its countries, not by operators).",
    "campus.dissolved": "A campus no longer holds two facilities within the distance (its facilities before).",
    "campus.membership": "One operator's facilities in a campus changed (data: that operator's codes only).",
    "finding.resolved": "An inspector or treaty body resolved a finding (who, why).",
    "findings.resolved_by_report": "A manufacturer's report resolved a holder's unreported_chip findings in one "
    "country (data: manufacturer, report: its event's log index, holder, findings, chips; seen by the holder and "
    "that country's inspectorate).",
    "transfer.shipped": "A shipper declared chips leaving (data: chips_sha256 of the chip ids).",
    "transfer.received": "A receiver confirmed what arrived.",
    "export.requested": "A custodian asked its country's inspectorate to authorise an export (reference, chips_sha256; "
    "seen by both operators and both countries' inspectorates).",
    "export.approved": "The exporting country's inspectorate approved an export authorisation (who, why, rules "
    "checked, valid_until).",
    "export.refused": "The exporting country's inspectorate refused an export authorisation (who, why).",
    "export.revoked": "The exporting country's inspectorate withdrew an approved export authorisation no shipment "
    "had used (who, why).",
    "declaration.recorded": "An operator declared the complete list of chips in a facility.",
    "inspection.recorded": "An inspectorate recorded an on-site inspection and the serials observed.",
    "facility.accepted": "The treaty body accepted a facility's declaration (who, why; seen by its operator and "
    "its country's inspectorate).",
    "facility.refused": "The treaty body refused a facility's declaration (who, why).",
    "link.declared": "An operator declared a network link between two of its sites, with its bandwidth.",
    "link.updated": "A network link's bandwidth or name changed (before and after).",
    "link.retired": "A network link was retired.",
    "workload_group.declared": "An operator declared sites of its own that run workloads together.",
    "workload_group.updated": "A workload group's name or description changed (before and after).",
    "workload_group.retired": "A workload group was retired.",
    "challenge_rule.declared": "The treaty body declared a new version of who may request challenge inspections "
    "and where (public, like thresholds).",
    "challenge.requested": "A challenge inspection of a facility or of coordinates was requested (reason, case, "
    "deadlines; read by the requester, the party concerned, the site country's inspectorate, the treaty body).",
    "challenge.acknowledged": "The party concerned acknowledged a challenge inspection (late or not).",
    "challenge.access_granted": "The party concerned granted the inspection team access.",
    "challenge.access_refused": "The party concerned refused access (its reason); an alert to the treaty body.",
    "challenge.overdue": "A challenge inspection's step (acknowledge, access) passed its deadline: escalated.",
    "challenge.recorded": "The team's observations were recorded (count and digest of serials, seals).",
}.items():
    register_event_name(_name, _description)
