"""The ``epolice`` command line. Each area registers its commands in its own module (see main.py)."""
