"""Reads to a replica, writes to the primary: for read-only API nodes.

With DATABASE_REPLICA_URL set, the "replica" alias exists and this router
sends reads there. A node that must read its own writes (ingest, console
forms) runs without the replica. Migrations run on the primary only.
"""


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        return "replica"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"
