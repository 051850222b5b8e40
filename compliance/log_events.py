from transparency.events import register_event_name

for _name, _description in {
    "threshold.declared": "A treaty body declared a threshold rule (or a new version of one).",
    "threshold.retired": "A threshold rule stopped being in force.",
    "alert.raised": "An alert was raised, with its frozen evidence's hash.",
    "alert.reopened": "A resolved or dismissed alert crossed again.",
    "alert.acknowledged": "An alert was acknowledged.",
    "alert.resolved": "An alert was resolved.",
    "alert.dismissed": "An alert was dismissed.",
    "alert.escalated": "An alert with a clock was not cleared by its due date: its severity rose.",
}.items():
    register_event_name(_name, _description)

for _name, _description in {
    "answer.submitted": "A party answered a finding or alert about it (attachments by SHA-256, requests it fulfils).",
    "answer.accepted": "The requester or the treaty body accepted an answer (and maybe closed the finding or alert).",
    "answer.rejected": "The requester or the treaty body rejected an answer: the request stands with a new deadline.",
    "clarification.requested": "The treaty body or an inspectorate asked the party concerned to clarify by a deadline.",
    "clarification.overdue": "A request for clarification passed its deadline unanswered and raised an alert.",
}.items():
    register_event_name(_name, _description)

for _name, _description in {
    "destination_rule.declared": "The treaty body declared a destination rule (countries forbidden as export "
    "destinations) or a new version of one; public.",
    "destination_rule.retired": "A destination rule stopped being in force.",
}.items():
    register_event_name(_name, _description)
