"""Log events of tips and cases. Leaves are public: their object id is a random reference of the event's own
(object_id: never a case code, nor anything from a tip, nor shared by two events) and every event's data
carries a random nonce, so a leaf's data hash cannot
be confirmed by guessing its content. The data is read by the treaty body and, for a case, by the
inspectorates it added (their codes are the event's `parties`; no country is named)."""

import uuid

from transparency.events import register_event_name


def object_id():
    """A leaf's object id: a fresh random reference for each event. The leaf is public and names its event and
    object, so one id per tip or case would chain its events for anyone (a case's steps, the tips linked to it,
    when each tip and addition was sent); the event's data says what it is about, to its readers."""
    return str(uuid.uuid4())


for _name, _description in {
    "tip.received": "A tip was received (its sealed body's SHA-256 and size; never a word of it).",
    "tip.added_to": "A submitter added to a tip with its receipt code (the sealed addition's SHA-256 and size).",
    "tip.triaged": "The treaty body triaged a tip: into a new case, into an existing case, or dismissed.",
    "case.opened": "The treaty body opened a case.",
    "case.linked": "A tip, finding, alert, answer, clarification or challenge inspection was linked to a case.",
    "case.inspectorate_added": "The treaty body let an inspectorate read a case.",
    "case.inspectorate_removed": "The treaty body took an inspectorate off a case.",
    "case.state_changed": "A case's state changed (open, under inspection).",
    "case.closed": "A case was closed with a conclusion.",
}.items():
    register_event_name(_name, _description)
