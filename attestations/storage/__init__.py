"""Every hand-written SQL statement of attestations, by name, behind functions with plain signatures.

- `ingest`: what accepting a statement runs (the registry's rows for its checks in one round trip,
  its row, nonces, chips and sightings, the reads and writes after its log append);
- `chips`: `refresh_last_verified`, the one write of registry_chip rows by attestations;
- `usage_days`: folding usage records into the daily totals;
- `partitions`: the DDL of the time partitions.

Table and column names come from the models (`names.Table`). Domain modules call these functions; no
other module of attestations opens a cursor. tests/attestations/test_storage.py runs each statement
against its ORM equivalent on the same rows.
"""
