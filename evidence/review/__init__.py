"""The reviewer web app: people check every machine-recorded violation before it counts.

By law (道路交通安全违法行为处理程序规定, Art. 19-20) an automatically recorded violation enters
the violation system only after a person has checked it. This package serves the queue, the
record page, decisions with an optional second review, plate corrections, export and a dashboard,
behind accounts with roles, CSRF protection and an append-only, hash-chained audit log.

Start it with ``epolice review serve --config site.yaml`` or ``create_app(settings)``.
"""
