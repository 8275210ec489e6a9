"""Where the FDL's buckets live for the embedded runtime: a MinIO server, or plain folders.

Both hold an object store (:mod:`herbmorph.store`: what the runtime lists, sweeps and writes
last-resort error documents through) and create the FDL's buckets or folders; :func:`object_event`
describes an object as a MinIO event record.

MinIO also gets what OSCAR sets up: one webhook target per service (``notify_webhook:<service>``,
with an auth token and, when MinIO runs on this machine, a ``queue_dir`` so events raised while
the runtime is down wait on disk) set through the admin API, and bucket notifications for
``s3:ObjectCreated:*`` on each input prefix and suffix. MinIO only loads new targets on restart,
so, like OSCAR, the runtime restarts MinIO through the admin API, and only when a target changed.
"""
from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import quote_plus, urlsplit

from herbmorph.store import FolderStore, ObjectInfo, ObjectStore, S3Credentials, S3Store

from .fdl import Fdl, StoragePath

log = logging.getLogger("herbmorph.serve")


def list_inputs(store: ObjectStore, path: StoragePath) -> Iterator[ObjectInfo]:
    """What sits under an FDL input path (the start-up sweep and the folder watcher)."""
    for obj in store.list(path.bucket, path.prefix):
        if path.matches(obj.key):
            yield obj


def object_event(obj: ObjectInfo, sequencer: str = "", config_id: str = "herbmorph-sweep") -> dict:
    """A MinIO ``s3:ObjectCreated:Put`` event for ``obj``, as MinIO's webhook would post it."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{obj.bucket}/{obj.key}",
        "Records": [{
            "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "", "eventTime": now,
            "eventName": "s3:ObjectCreated:Put", "userIdentity": {"principalId": "herbmorph"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": config_id,
                   "bucket": {"name": obj.bucket, "arn": f"arn:aws:s3:::{obj.bucket}"},
                   "object": {"key": quote_plus(obj.key, safe="/"), "size": obj.size, "eTag": obj.etag,
                              "sequencer": sequencer}},
        }],
    }


# ------------------------------------------------------------------------------------ MinIO


class MinioBackend:
    kind = "minio"

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: Optional[str] = None,
                 local: bool = False):
        self.endpoint, self.region, self.local = endpoint.rstrip("/"), region, local
        self._access_key, self._secret_key = access_key, secret_key
        self.store = S3Store.from_credentials(S3Credentials(endpoint=self.endpoint, access_key=access_key,
                                                            secret_key=secret_key, region=region))
        self.client = self.store.client

    def provider_block(self) -> dict:
        """``storage_providers.minio.default`` as OSCAR writes it into a function's config."""
        return {"endpoint": self.endpoint, "access_key": self._access_key, "secret_key": self._secret_key,
                "verify": self.endpoint.startswith("https://"), "region": self.region or "us-east-1"}

    def worker_env(self) -> dict[str, str]:
        """What :func:`herbmorph.store.provider_credentials` reads in a warm worker."""
        return {"MINIO_ENDPOINT": self.endpoint, "MINIO_ACCESS_KEY": self._access_key,
                "MINIO_SECRET_KEY": self._secret_key, **({"MINIO_REGION": self.region} if self.region else {})}

    def _admin(self):
        from minio.credentials import StaticProvider
        from minio.minioadmin import MinioAdmin

        url = urlsplit(self.endpoint)
        return MinioAdmin(endpoint=url.netloc, credentials=StaticProvider(self._access_key, self._secret_key),
                          secure=url.scheme == "https", region=self.region or "")

    def ready(self) -> bool:
        return self.store.ready()

    def ensure_buckets(self, fdl: Fdl) -> None:
        for bucket in fdl.buckets:
            self.store.ensure_bucket(bucket)

    def register_webhooks(self, fdl: Fdl, base_url: str, token: str, queue_dir: Optional[Path],
                          force: bool = False) -> bool:
        """Point one MinIO webhook target per service at ``base_url/events/<service>``.

        Returns True when MinIO had to be restarted to load changed targets.
        """
        admin = self._admin()
        changed = False
        for svc in fdl.services:
            config = {"endpoint": f"{base_url.rstrip('/')}/events/{svc.name}", "auth_token": token,
                      "queue_limit": "1000000", "enable": "on"}
            if queue_dir is not None:
                config["queue_dir"] = str(Path(queue_dir) / svc.name)
                Path(config["queue_dir"]).mkdir(parents=True, exist_ok=True)
            current = self._current_target(admin, svc.name)
            wanted = {k: v for k, v in config.items() if k in ("endpoint", "queue_dir")}
            if force or any(current.get(k) != v for k, v in wanted.items()):
                admin.config_set(f"notify_webhook:{svc.name}", config)
                changed = True
        if changed:
            log.info("restarting MinIO to load the webhook targets (as OSCAR does)")
            admin.service_restart()
            self._wait_ready()
        self._set_notifications(fdl)
        return changed

    @staticmethod
    def _current_target(admin, name: str) -> dict:
        try:
            text = admin.config_get(f"notify_webhook:{name}")
        except Exception:  # noqa: BLE001 - no such target yet
            return {}
        return dict(re.findall(r"(\w+)=(\S*)", text))

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        time.sleep(1.0)
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"MinIO at {self.endpoint} did not come back after the restart")
            time.sleep(0.3)

    def _set_notifications(self, fdl: Fdl) -> None:
        from minio.notificationconfig import NotificationConfig, PrefixFilterRule, QueueConfig, SuffixFilterRule

        for bucket in fdl.buckets:
            current = self.client.get_bucket_notification(bucket)
            # keep whatever others configured on this bucket; replace only our own entries
            mine = [q for q in current.queue_config_list if not (q.config_id or "").startswith("herbmorph-")]
            for svc in fdl.services:
                for n, path in enumerate(p for p in svc.inputs if p.bucket == bucket):
                    for m, suffix in enumerate(path.suffixes or ("",)):
                        mine.append(QueueConfig(
                            queue=f"arn:minio:sqs::{svc.name}:webhook", events=["s3:ObjectCreated:*"],
                            config_id=f"herbmorph-{svc.name}-{n}-{m}", prefix_filter_rule=PrefixFilterRule(path.prefix),
                            suffix_filter_rule=SuffixFilterRule(suffix) if suffix else None))
            self.client.set_bucket_notification(bucket, NotificationConfig(
                cloud_func_config_list=current.cloud_func_config_list, queue_config_list=mine,
                topic_config_list=current.topic_config_list))


class FolderBackend:
    """``root/<bucket>/<folder>/...``: the zero-setup default (:class:`~herbmorph.store.FolderStore`)."""

    kind = "folders"

    def __init__(self, root: Path):
        self.store = FolderStore(root)
        self.root = self.store.root

    def ensure_buckets(self, fdl: Fdl) -> None:
        for svc in fdl.services:
            for p in (*svc.inputs, *svc.outputs):
                (self.root / p.bucket / p.folder).mkdir(parents=True, exist_ok=True)

    def ready(self) -> bool:
        return self.store.ready()
