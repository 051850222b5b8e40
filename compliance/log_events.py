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
