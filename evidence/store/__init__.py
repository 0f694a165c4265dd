"""The violation record store (SQLAlchemy 2, SQLite file by default, PostgreSQL by URL)."""

from evidence.store.migrations import LATEST as SCHEMA_VERSION, SchemaTooNew, migrate
from evidence.store.records import AddResult, Decision, NewRecord, RecordQuery, Status, ViolationRecord
from evidence.store.store import RecordStore, StoreConflict, StoreError, StoreMissing, change_record

__all__ = [
    "SCHEMA_VERSION", "SchemaTooNew", "migrate", "AddResult", "Decision", "NewRecord", "RecordQuery", "Status",
    "ViolationRecord", "RecordStore", "StoreError", "StoreMissing", "StoreConflict", "change_record",
]
