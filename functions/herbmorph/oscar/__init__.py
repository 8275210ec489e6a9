"""OSCAR adapter: the handler each function's ``script.sh`` runs under OSCAR's faas-supervisor.

See :mod:`herbmorph.oscar.handler`. Importing this package imports nothing heavy.
"""
