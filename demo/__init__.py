"""The demo world `make run` loads (`manage.py load_demo`).

The top of the import graph: it may import every app, and no app imports it
(tests/test_layers.py holds both). `parties` creates the organisations, users
and chips; `world` the facilities, statements, rules and alerts the console shows.
"""
