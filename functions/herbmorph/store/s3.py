"""A store on S3 (MinIO, Ceph RGW, AWS S3) through the ``minio`` client."""
from __future__ import annotations

import io
from typing import Iterator, Mapping, Optional

from .base import ObjectInfo, StorageError, s3_uri
from .credentials import DEFAULT_PROVIDER, S3Credentials, client_from_env, make_client


class S3Store:
    kind = "minio"

    def __init__(self, client):
        self.client = client

    @classmethod
    def from_credentials(cls, creds: S3Credentials) -> "S3Store":
        return cls(make_client(creds))

    @classmethod
    def from_env(cls, env: Mapping[str, str], provider: str = DEFAULT_PROVIDER) -> "S3Store":
        """Credentials as :func:`~.credentials.provider_credentials` finds them; the client is
        reused while they stay the same, so a warm worker keeps its connections open."""
        return cls(client_from_env(env, provider))

    def get(self, bucket: str, key: str, max_bytes: Optional[int] = None) -> bytes:
        from minio.error import S3Error

        uri = s3_uri(bucket, key)
        response = None
        try:
            if max_bytes is not None:
                size = self.client.stat_object(bucket, key).size
                if size is not None and size > max_bytes:
                    raise StorageError(f"{uri} is {size:,} bytes, over the limit of {max_bytes:,}", kind="too-large")
            response = self.client.get_object(bucket, key)
            data = response.read() if max_bytes is None else response.read(max_bytes + 1)
            if max_bytes is not None and len(data) > max_bytes:
                raise StorageError(f"{uri} is over the limit of {max_bytes:,} bytes", kind="too-large")
            return data
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                raise StorageError(f"{uri} does not exist ({exc.code})", kind="not-found") from exc
            raise StorageError(f"cannot read {uri}: {exc.code}: {exc.message}") from exc
        except StorageError:
            raise
        except Exception as exc:  # noqa: BLE001 - network, TLS, DNS: one kind for the error document
            raise StorageError(f"cannot read {uri}: {type(exc).__name__}: {exc}") from exc
        finally:
            if response is not None:
                response.close()
                response.release_conn()

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectInfo:
        """One PUT: S3 shows an object whole or not at all."""
        res = self.client.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        return ObjectInfo(bucket, key, (res.etag or "").strip('"'), len(data))

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        from minio.error import S3Error

        try:
            for obj in self.client.list_objects(bucket, prefix=prefix or None, recursive=True):
                if not obj.is_dir:
                    yield ObjectInfo(bucket, obj.object_name, (obj.etag or "").strip('"'), int(obj.size or 0))
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                return
            raise

    def stat(self, bucket: str, key: str) -> Optional[ObjectInfo]:
        from minio.error import S3Error

        try:
            st = self.client.stat_object(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                return None
            raise
        return ObjectInfo(bucket, key, (st.etag or "").strip('"'), int(st.size or 0))

    def exists(self, bucket: str, key: str) -> bool:
        return self.stat(bucket, key) is not None

    def remove(self, bucket: str, keys: list[str]) -> list[str]:
        if not keys:
            return []
        from minio.deleteobjects import DeleteObject

        return [e.name for e in self.client.remove_objects(bucket, [DeleteObject(k) for k in keys])]

    def ensure_bucket(self, bucket: str) -> None:
        if not self.client.bucket_exists(bucket):
            self.client.make_bucket(bucket)

    def ready(self) -> bool:
        try:
            self.client.list_buckets()
            return True
        except Exception:  # noqa: BLE001 - any failure means "not usable now"
            return False
