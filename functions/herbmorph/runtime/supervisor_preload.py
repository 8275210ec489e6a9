"""Imported once by the runtime's fork server, so forked supervisor runs start warm.

faas-supervisor and boto3 take ~0.6 s to import and botocore loads its S3 model on the first
client; paying that once instead of per event is the whole point of forking.
"""
import faassupervisor.supervisor  # noqa: F401
import faassupervisor.storage.providers.minio  # noqa: F401
import boto3

# A client is never used to connect here: building it loads and caches the S3 service model.
boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
             aws_access_key_id="preload", aws_secret_access_key="preload")
