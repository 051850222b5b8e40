"""chipreg wire formats: pure functions shared by the server, the operator agent
and any third-party verifier.

Nothing here imports Django, touches a database or reads a clock, so a treaty
party can audit these few modules alone and their tests need no fixtures. The
normative texts are docs/spec/ATTESTATION.md and docs/spec/LOG.md; the vectors in
tests/protocol/vectors/ are their known answers.

Modules: errors, encoding, serials, times, merkle, note, dsse, statements, leaves, usage, evidence.
"""
