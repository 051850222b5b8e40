"""The transparency-log events the registry appends besides the chip events
transparency.events declares (see registry.records)."""

from transparency.events import register_event_name

for _name, _description in {
    "organisation.created": "An organisation was created (data: code, name, kind, country, jurisdictions, by).",
    "organisation.updated": (
        "An organisation's record changed (data: before and after of the changed fields among name, kind, "
        "country, jurisdictions); seen by the inspectorates of the old and new countries."
    ),
    "user.created": "A person was added to an organisation (data: user, role, organisation, is_active, by).",
    "user.updated": (
        "A person's authority changed: role, active, organisation, staff or superuser (data: before and after)."
    ),
    "token.issued": "An API token was issued (data: user, prefix, at, by).",
    "token.revoked": "An API token was revoked (data: user, prefix, at, by).",
    "model.added": "An accelerator model was added to the catalog by hand (data: model, figures).",
    "model.corrected": "An accelerator model's figures were corrected (data: before and after, reason).",
}.items():
    register_event_name(_name, _description)

register_event_name(
    "chip.identity_enrolled",
    "A chip's device identity was enrolled (data: chip, identity, key_sha256, source manufacturer | evidence,"
    " organisation that enrolled it, replaces: the identity it contradicts); read by the chip's custodian,"
    " manufacturer, the enrolling party, the inspectorate of the chip's country and the treaty body.",
)

for _name, _description in {
    "disposal.requested": (
        "A holder asked to have chips destroyed or decommissioned (data: request, kind, organisation, country,"
        " method, place, date, chips and chips_sha256, each attachment's name, type, size and SHA-256); the"
        " chips do not change until it is accepted. Read by the holder and the chips' country's inspectorate."
    ),
    "disposal.accepted": (
        "An inspector of the chips' country or the treaty body witnessed a disposal (data: request, kind,"
        " chips_sha256, attachments_sha256, requested_log_index, by, by_organisation, reason); the chips' status"
        " changes under this entry (their history rows carry its log index and the request)."
    ),
    "disposal.refused": "A disposal request was refused, with the reason; the chips stay as they are.",
    "chips.registration_refused": (
        "A registration was refused because it named chips another party holds (data: registrant, by, chips:"
        " those chips, at most 20); read by the registrant, the chips' holders and their countries' inspectorates."
    ),
    "chips.manufacturer_reported": (
        "A manufacturer reported chips it produced (data: manufacturer, by, serials, serials_sha256 of the"
        " serials it added, sorted, one per line)."
    ),
}.items():
    register_event_name(_name, _description)
