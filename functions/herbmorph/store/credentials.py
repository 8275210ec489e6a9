"""Where an S3 store's credentials come from, and the ``minio`` client made from them.

Plain S3 through the ``minio`` client works the same against MinIO, Ceph RGW or AWS S3.
MinIO-*admin* code (webhook targets, bucket notifications) does not belong here.

Credentials (:func:`provider_credentials`), first match wins:

1. environment: ``MINIO_ENDPOINT``, ``MINIO_ACCESS_KEY``, ``MINIO_SECRET_KEY`` (optional
   ``MINIO_REGION``, ``MINIO_VERIFY``/``MINIO_TLS_VERIFY``): what the embedded runtime, the batch
   runner and people at a terminal set;
2. OSCAR: the provider block ``storage_providers.minio.<id>`` of the function's FDL (env
   ``FUNCTION_CONFIG``, base64 YAML, or ``/oscar/config/function_config.yaml``) gives endpoint,
   region and verify; the keys come from that block when they are real, or else from the files
   OSCAR mounts for the provider, ``/var/run/secrets/providers/minio.<id>/{accessKey,secretKey}``
   (the folder can be moved with ``HERBMORPH_PROVIDER_SECRETS_DIR``, for tests).

No credential is ever logged: :class:`S3Credentials` hides the secret in its ``repr``.
"""
from __future__ import annotations

import base64
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import urlsplit

from .base import StorageError

OSCAR_FUNCTION_CONFIG = Path("/oscar/config/function_config.yaml")
OSCAR_PROVIDER_SECRETS = Path("/var/run/secrets/providers")
DEFAULT_PROVIDER = "minio.default"
# What OSCAR puts in the FDL copy instead of real keys.
_PLACEHOLDER_KEYS = {"", "hidden"}


# ----------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class S3Credentials:
    endpoint: str  # URL, e.g. http://minio-service.minio:9000
    access_key: str
    secret_key: str = field(repr=False)
    region: Optional[str] = None
    verify: bool = True
    source: str = ""  # where they were found, for messages (never the values)


def _truthy(value, default: bool = True) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("0", "false", "no", "off")


def read_function_config(env: Mapping[str, str] | None = None) -> dict:
    """The FDL service definition OSCAR hands the function (``{}`` outside OSCAR)."""
    env = os.environ if env is None else env
    import yaml  # light, already a core dependency

    raw = env.get("FUNCTION_CONFIG")
    try:
        if raw:
            text = base64.b64decode(raw).decode("utf-8")
        elif OSCAR_FUNCTION_CONFIG.is_file():
            text = OSCAR_FUNCTION_CONFIG.read_text("utf-8")
        else:
            return {}
        # libyaml when present: the pure-Python parser costs ~3 ms a call, twice per chain hop
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except Exception:  # noqa: BLE001 - a broken config just means "not found here"
        return {}
    return data if isinstance(data, dict) else {}


def provider_credentials(provider: str = DEFAULT_PROVIDER, env: Mapping[str, str] | None = None) -> S3Credentials:
    """Credentials for ``provider`` (``minio.<id>``); see the module docstring for the order.

    Raises :class:`StorageError` when nothing usable is found.
    """
    env = os.environ if env is None else env
    if env.get("MINIO_ENDPOINT") and env.get("MINIO_ACCESS_KEY") and env.get("MINIO_SECRET_KEY"):
        return S3Credentials(
            endpoint=env["MINIO_ENDPOINT"], access_key=env["MINIO_ACCESS_KEY"],
            secret_key=env["MINIO_SECRET_KEY"], region=env.get("MINIO_REGION") or None,
            verify=_truthy(env.get("MINIO_VERIFY", env.get("MINIO_TLS_VERIFY"))), source="environment")

    kind, _, ident = provider.partition(".")
    ident = ident or "default"
    block = (((read_function_config(env).get("storage_providers") or {}).get(kind) or {}).get(ident)) or {}
    endpoint = block.get("endpoint") or ""
    access_key = str(block.get("access_key") or "")
    secret_key = str(block.get("secret_key") or "")
    source = "function config"
    if access_key in _PLACEHOLDER_KEYS or secret_key in _PLACEHOLDER_KEYS:
        secrets_dir = Path(env.get("HERBMORPH_PROVIDER_SECRETS_DIR") or OSCAR_PROVIDER_SECRETS) / f"{kind}.{ident}"
        try:
            access_key = (secrets_dir / "accessKey").read_text("utf-8").strip()
            secret_key = (secrets_dir / "secretKey").read_text("utf-8").strip()
            source = f"mounted provider secret {secrets_dir}"
        except OSError:
            access_key = secret_key = ""
    endpoint = endpoint or env.get("MINIO_ENDPOINT", "")
    if not (endpoint and access_key and secret_key):
        raise StorageError(
            f"no credentials for storage provider {provider!r}: set MINIO_ENDPOINT/MINIO_ACCESS_KEY/"
            f"MINIO_SECRET_KEY, or run under OSCAR (function config + mounted provider secret)")
    return S3Credentials(endpoint=endpoint, access_key=access_key, secret_key=secret_key,
                         region=block.get("region") or None, verify=_truthy(block.get("verify")), source=source)


def make_client(creds: S3Credentials):
    """A ``minio.Minio`` client (S3 protocol: works with MinIO, Ceph RGW and AWS S3)."""
    from minio import Minio  # lazy: only adapters that talk to storage need it

    url = urlsplit(creds.endpoint if "://" in creds.endpoint else f"https://{creds.endpoint}")
    if url.scheme not in ("http", "https") or not url.netloc:
        raise StorageError(f"invalid storage endpoint {creds.endpoint!r}: expected http(s)://host[:port]")
    return Minio(url.netloc, access_key=creds.access_key, secret_key=creds.secret_key,
                 secure=url.scheme == "https", region=creds.region, cert_check=creds.verify)


@functools.lru_cache(maxsize=8)
def _client_for(creds: S3Credentials):
    return make_client(creds)


def client_from_env(env: Mapping[str, str], provider: str = DEFAULT_PROVIDER):
    """A client for ``provider`` as ``env`` configures it (see :func:`provider_credentials`).

    Reused while the credentials stay the same, so a warm worker keeps its connections open.
    """
    return _client_for(provider_credentials(provider, env))
