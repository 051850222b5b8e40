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
