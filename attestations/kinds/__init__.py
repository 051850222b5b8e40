"""Storing each kind of accepted statement: one module per kind (location, usage, rtt).

attestations.store is the dispatcher: it stores the statement's row and its
log leaf, hands the statement to its kind's module, and files the findings
that module returns.
"""
