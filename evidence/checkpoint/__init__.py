"""Checkpoint mode (卡口) on the evidence side: pass records and their pictures, the watchlist,
alerts and their deliveries, all in the record store's database (tables in ``evidence.store.schema``).

The engine side (capture lines, matching, clone detection, dispatch) is ``pipelines.checkpoint``.
"""
