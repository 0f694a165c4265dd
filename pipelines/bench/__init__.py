"""`epolice bench` and `epolice soak`: what the pipeline costs (per stage, end to end, memory over time).

Measurement lives beside the engine, not inside it: these modules import the engine, never the
other way round. ``run.run_bench`` is the entry point; ``soak.run_soak`` streams for minutes.
"""
