"""Object storage: one interface (:class:`ObjectStore`), on S3 or on a disk.

:func:`open_store` is how a function finds the store its configuration names, without knowing
which kind it is: ``HERBMORPH_STORE_DIR`` (a folder whose sub-folders are the buckets: the
embedded runtime's folder mode and tests), else S3 with the credentials of
:func:`~.credentials.provider_credentials` (environment, or OSCAR's function config and mounted
provider secret).
"""
from __future__ import annotations

from typing import Mapping

from .base import ObjectInfo, ObjectStore, StorageError, join_key, parse_s3_uri, s3_uri
from .credentials import S3Credentials, make_client, provider_credentials, read_function_config
from .folder import FolderStore, atomic_write, file_etag
from .s3 import S3Store

STORE_DIR_ENV = "HERBMORPH_STORE_DIR"

__all__ = ["ObjectInfo", "ObjectStore", "StorageError", "FolderStore", "S3Store", "S3Credentials", "atomic_write",
           "file_etag", "join_key", "make_client", "open_store", "parse_s3_uri", "provider_credentials",
           "read_function_config", "s3_uri", "STORE_DIR_ENV"]


def open_store(env: Mapping[str, str]) -> ObjectStore:
    """The store ``env`` configures (see the module docstring)."""
    root = env.get(STORE_DIR_ENV)
    if root:
        return FolderStore(root)
    return S3Store.from_env(env)
