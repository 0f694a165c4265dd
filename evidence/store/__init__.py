"""The violation record store (SQLAlchemy 2, SQLite file by default, PostgreSQL by URL).

Open it with ``RecordStore.from_config(StoreConfig, must_exist=...)``: that brings every table in
the database (records and the reviewer app's) to the head Alembic revision (``evidence.store.migrations``).
"""

from evidence.store.errors import SchemaTooNew, StoreConflict, StoreError, StoreMissing
from evidence.store.migrations import head_revision, migrate
from evidence.store.records import AddResult, NewRecord, RecordQuery, ReviewDecision, Status, ViolationRecord
from evidence.store.store import RecordStore, change_record

__all__ = [
    "SchemaTooNew", "head_revision", "migrate", "AddResult", "ReviewDecision", "NewRecord", "RecordQuery", "Status",
    "ViolationRecord", "RecordStore", "StoreError", "StoreMissing", "StoreConflict", "change_record",
]
