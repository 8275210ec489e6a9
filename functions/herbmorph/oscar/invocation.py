"""One OSCAR call, as the supervisor describes it in the environment.

OSCAR's faas-supervisor has already downloaded the triggering object and set

``INPUT_FILE_PATH``     the downloaded object;
``STORAGE_OBJECT_KEY``  its key inside the bucket (URL-decoded);
``TMP_OUTPUT_DIR``      the folder whose files it uploads to the function's output path afterwards;
``EVENT``               the storage event (S3/MinIO records: the bucket name is read from it);
``FUNCTION_CONFIG``     the service's FDL entry (input and output paths).

The chain (see ``fdl/README.md``)::

    in/<k>.jpg ─segment─► segmented/<r>.segment.json ─scale─► scaled/<r>.scale.json
               ─area───► results/<r>.json + <r>.opends.json + <r>.overlay.png

``<r>`` is :func:`herbmorph.outputs.output_relpath` of the upload's key below ``in/``, the same
at every stage (:func:`stage_relpath`).
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import unquote_plus

from herbmorph.config import Settings
from herbmorph.outputs import ERROR_SUFFIX, is_output_relpath, output_relpath
from herbmorph.store import ObjectStore, open_store, read_function_config, s3_uri

from .pixels import PixelCache

STAGES = ("segment", "scale", "area")
#: what each stage writes (the area stage writes the final result files instead)
STAGE_SUFFIX = {"segment": ".segment.json", "scale": ".scale.json"}
#: the stage whose document each stage consumes
UPSTREAM = {"scale": "segment", "area": "scale"}
#: the folder of each stage's input path in the documented chain (<bucket>/<folder>)
DEFAULT_INPUT_PREFIX = {"segment": "in", "scale": "segmented", "area": "scaled"}
DEFAULT_BUCKET = "herbarium"


def event_location(raw: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """(bucket, key) from an S3/MinIO event (``Records[0].s3``, or MinIO's ``Key`` = bucket/key)."""
    if not raw:
        return None, None
    try:
        event = json.loads(raw)
        if isinstance(event, dict) and isinstance(event.get("event"), dict):
            event = event["event"]  # some callers wrap it
        records = event.get("Records") if isinstance(event, dict) else None
        if records:
            s3 = records[0].get("s3") or {}
            bucket = (s3.get("bucket") or {}).get("name")
            key = (s3.get("object") or {}).get("key")
            return bucket or None, unquote_plus(key) if key else None
        if isinstance(event, dict) and isinstance(event.get("Key"), str) and "/" in event["Key"]:
            bucket, _, key = event["Key"].partition("/")
            return bucket, key
    except Exception:  # noqa: BLE001 - a sync call's body is not an event
        pass
    return None, None


def split_path(path: str) -> tuple[str, str]:
    """An FDL storage path ``bucket/folder`` -> ``(bucket, folder)``."""
    bucket, _, folder = str(path).strip(" /").partition("/")
    return bucket, folder.strip("/")


def stage_relpath(stage: str, key: str, input_prefix: str) -> str:
    """The output path (no suffix) ``stage`` writes for input ``key``: the same ``<r>`` at every stage."""
    upstream = UPSTREAM.get(stage)
    prefix = input_prefix.strip("/")
    if upstream and key.startswith(prefix + "/" if prefix else ""):
        # <r>.segment.json / <r>.error.json: <r> was named by the first stage; read it back as is
        rel = key[len(prefix) + 1:] if prefix else key
        for tag in (STAGE_SUFFIX[upstream], ERROR_SUFFIX):
            if rel.endswith(tag) and is_output_relpath(rel[: -len(tag)]):
                return rel[: -len(tag)]
    return output_relpath(key, input_prefix)  # anything else (a key nobody of ours wrote): named afresh


@dataclass
class Invocation:
    stage: str
    out_dir: Path
    input_path: Optional[Path]
    key: str
    bucket: str
    input_prefix: str
    settings: Settings
    config: dict = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, stage: str, env: Mapping[str, str] | None = None) -> "Invocation":
        env = dict(os.environ if env is None else env)
        out = env.get("TMP_OUTPUT_DIR")
        if not out:
            raise RuntimeError("TMP_OUTPUT_DIR is not set: run under OSCAR's supervisor or set it")
        input_path = Path(env["INPUT_FILE_PATH"]) if env.get("INPUT_FILE_PATH") else None
        ev_bucket, ev_key = event_location(env.get("EVENT"))
        config = read_function_config(env)
        key = env.get("STORAGE_OBJECT_KEY") or ev_key or (input_path.name if input_path else "")
        inputs = [i for i in (config.get("input") or []) if isinstance(i, dict) and i.get("path")]
        cfg_bucket, _ = split_path(inputs[0]["path"]) if inputs else ("", "")
        bucket = ev_bucket or env.get("HERBMORPH_BUCKET") or cfg_bucket or DEFAULT_BUCKET
        prefix = env.get("HERBMORPH_INPUT_PREFIX")
        if not prefix:
            # the input path whose folder the key is under (a function may have several inputs)
            for entry in inputs:
                b, folder = split_path(entry["path"])
                if b == bucket and folder and key.startswith(folder + "/"):
                    prefix = folder
                    break
        prefix = (prefix or DEFAULT_INPUT_PREFIX.get(stage, "")).strip("/")
        # this call's settings: a warm worker serves calls whose variables differ from its own
        return cls(stage=stage, out_dir=Path(out), input_path=input_path, key=key, bucket=bucket,
                   input_prefix=prefix, settings=Settings.from_env(env), config=config, env=env)

    @property
    def relpath(self) -> str:
        """Output path (no suffix) below the output folder; identical across the three stages."""
        return stage_relpath(self.stage, self.key, self.input_prefix)

    @property
    def object_uri(self) -> str:
        return s3_uri(self.bucket, self.key)

    @functools.cached_property
    def store(self) -> ObjectStore:
        """Where the originals and the results live (S3, or the runtime's folders: not our concern)."""
        return open_store(self.env)

    @functools.cached_property
    def pixels(self) -> Optional[PixelCache]:
        """The decoded originals shared with the other stages on this machine, if any."""
        return PixelCache.from_env(self.env)

    def output_path(self) -> tuple[str, str]:
        """``(bucket, folder)`` of the function's (first) output path: ``HERBMORPH_OUTPUT_PATH``,
        else the FDL's."""
        out_path = self.env.get("HERBMORPH_OUTPUT_PATH")
        if not out_path:
            outputs = [o for o in (self.config.get("output") or []) if isinstance(o, dict) and o.get("path")]
            out_path = outputs[0]["path"] if outputs else ""
        return split_path(out_path)
