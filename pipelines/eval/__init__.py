"""`epolice eval`: accuracy against labelled data (detector, plates, riders, violations).

Measurement lives beside the engine, not inside it: these modules import the engine, never the
other way round.
"""
