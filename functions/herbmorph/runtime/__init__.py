"""The embedded one-machine runtime: ``herbmorph serve --fdl fdl/<file>.yaml``.

It runs the same FDL as OSCAR, without Kubernetes: MinIO bucket notifications (registered through
MinIO's admin API, as OSCAR does) or watched local folders feed a disk-backed event journal; a
bounded pool per service runs each event through the real faas-supervisor and the function's own
``script.sh``, with the models kept warm between events.

Kept import-light: :mod:`herbmorph.runtime.warm`'s forwarder runs inside every ``script.sh`` call.
"""
