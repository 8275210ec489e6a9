"""Imported once by the runtime's :mod:`~herbmorph.runtime.zygote`, so forked supervisor runs start warm.

faas-supervisor and boto3 take ~0.6 s to import and botocore loads its S3 model on the first
client; paying that once instead of per event is the whole point of forking.

The supervisor also parses ``FUNCTION_CONFIG`` with ``yaml.safe_load`` five or six times per event,
~2 ms each with PyYAML's pure-Python parser. Where PyYAML has its libyaml binding, ``safe_load`` is
pointed at the C safe loader: the same documents, the same Python objects, a tenth of the time. Only
this process (and the supervisor runs it forks) sees the change; the supervisor's code is untouched.
"""
import boto3
import yaml

import faassupervisor.storage.providers.minio  # noqa: F401
import faassupervisor.supervisor  # noqa: F401

# A client is never used to connect here: building it loads and caches the S3 service model.
boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
             aws_access_key_id="preload", aws_secret_access_key="preload")

if getattr(yaml, "CSafeLoader", None) is not None:
    def _c_safe_load(stream):
        return yaml.load(stream, Loader=yaml.CSafeLoader)

    yaml.safe_load = _c_safe_load

# The supervisor logs the object key it downloads and uploads as it got it. Its stream handler
# gets herbmorph's one-line formatter (same format string), so a key with a newline or an escape
# sequence cannot forge or split a line in the stage logs (herbmorph.logsafe).
import faassupervisor.logger  # noqa: E402

from herbmorph.logsafe import one_line_handler  # noqa: E402

faassupervisor.logger._get_stream_handler = lambda: one_line_handler(
    fmt="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
