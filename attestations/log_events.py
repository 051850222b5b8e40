from transparency.events import register_event_name

for _name, _description in {
    "key.registered": "A signing key was registered (data: keyid, algorithm, organisation, PEM).",
    "key.retired": "A signing key was retired: no statements after that instant.",
    "key.revoked": "A signing key was revoked as compromised since an instant.",
    "landmark.registered": "A landmark server was registered with its coordinates.",
}.items():
    register_event_name(_name, _description)

for _name, _description in {
    "delegation.granted": "An operator let another operator deliver its signed statements (data: both, who).",
    "delegation.revoked": "A delegation of delivery ended, revoked by the operator or renounced by the uploader.",
}.items():
    register_event_name(_name, _description)
