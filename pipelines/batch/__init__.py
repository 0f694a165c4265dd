"""Batch reprocessing of recorded footage: segment planning, job ledger, local and Redis runners."""
