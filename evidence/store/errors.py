"""What opening or changing the record store can refuse, in one place for the store and its migrations."""


class StoreError(Exception):
    """Bad request to the store (unknown record, forbidden status change, stale version, unknown schema)."""


class StoreMissing(StoreError):
    """A read-only opener found no database (a typo in the URL should not create an empty one)."""


class StoreConflict(StoreError):
    """The record changed between reading it and writing it (another reviewer or process)."""


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer epolice than this one."""
