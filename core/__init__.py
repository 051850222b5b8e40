"""Shared plumbing for every app: problem details, keyset pagination, the
role permission and the restrict() queryset protocol. No models live here."""
