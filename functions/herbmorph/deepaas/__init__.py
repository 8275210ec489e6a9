"""The synchronous API: a DEEPaaS v2 plugin (entry point ``deepaas.v2.model: herbmorph``).

``api`` is what ``deepaas-run`` and ``deepaas-cli`` load; ``schema`` documents the response for
Swagger; ``errors`` turns failures into JSON HTTP errors that survive DEEPaaS's worker processes.
Nothing here measures anything: the cores in :mod:`herbmorph.pipeline` do.
"""
