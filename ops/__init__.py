"""Operations: /healthz, /readyz and /metrics.

At the top of the import graph, like console/: it reads the tables of the
apps below it (outbox, transparency) and no app imports it. What app code
records as it runs (counters, histograms) lives in core/metrics.py instead.
"""
