"""The transparency-log events of declared runs (see transparency.events).

Readers besides treaty bodies: the run's operator and the inspectorates of the
countries of its declared facilities and clusters (runs.services passes them).
"""

from transparency.events import register_event_name

for _name, _description in {
    "run.declared": (
        "An operator declared a training run (data: code, operator, model, kind, planned FLOP, precision, "
        "facilities, clusters, countries, planned dates, description's SHA-256, the state its declaration was "
        "classified in and the rule that classified it)."
    ),
    "run.approved": "The treaty body approved a run under review (who, why).",
    "run.objected": "The treaty body objected to a run under review (who, why).",
    "run.approved_by_silence": "A run's review period ended with no decision: approved by silence.",
    "run.withdrawn": "The operator withdrew a run before its planned start (who, why).",
}.items():
    register_event_name(_name, _description)
