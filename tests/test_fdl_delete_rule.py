"""No deployment action on any FDL in fdl/ can delete the bucket that holds a collection's originals or
results, under OSCAR's own bucket rules, transcribed here from its source:

- removing a service, DELETE /system/services/<name>: grycap/oscar pkg/handlers/delete.go,
  MakeDeleteHandler -> deleteBuckets (module github.com/grycap/oscar/v4, commit 0344498c, the rule
  since 3.6): every MinIO input bucket is deleted with all its objects, and every MinIO/S3 output
  bucket that is not also an input bucket of the same provider, unless the bucket is the one of
  the service's `mount` (sameStorage: same provider name and id, same first path segment);
  WebDAV and Rucio paths are skipped; with isolation_level USER the per-user buckets in
  bucket_list go too;
- a create that fails after its buckets were made: pkg/handlers/create.go, MakeCreateHandler calls
  the same deleteBuckets (unless the error says the bucket already exists);
- updating, PUT /system/services: pkg/handlers/update.go, MakeUpdateHandler deletes only the
  USER-isolation buckets that the new definition no longer lists; other buckets of the old
  definition are made private, never deleted.
A redeploy is one of these (oscar-cli apply PUTs an existing service; remove + apply is a DELETE
then a POST). So the FDLs are safe when deleteBuckets spares every bucket holding data and no
service uses USER isolation.
"""
from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO

FDLS = sorted((REPO / "fdl").glob("*.yaml"))
DATA_PROVIDERS = ("minio", "s3")


def provider_info(raw: str) -> tuple[str, str]:
    """create.go getProviderInfo: ``minio.default`` -> (id "default", name "minio"); no dot: id default."""
    name, _, ident = raw.strip().partition(".")
    return (ident or "default"), name.lower()


def bucket_of(path: str) -> str:
    """delete.go getBucketNameFromPath: the first segment of the path trimmed of spaces and slashes."""
    return path.strip(" /").split("/", 1)[0]


def same_storage(io: dict, mount: dict) -> bool:
    """delete.go sameStorage."""
    return (provider_info(io.get("storage_provider", "")) == provider_info(mount.get("storage_provider", ""))
            and bucket_of(io.get("path", "")) == bucket_of(mount.get("path", "")))


def buckets_deleted(svc: dict) -> set[tuple[str, str]]:
    """(provider name, bucket) that deleteBuckets removes when ``svc`` is deleted.

    Where deleteBuckets returns an error half-way (an unknown input provider, a provider not
    defined), the buckets it already removed stay removed: the loop is followed in its order.
    """
    mount = svc.get("mount") or {}
    defined = {"minio": {"default"}}  # checkValues always adds minio.default
    for kind, providers in (svc.get("storage_providers") or {}).items():
        defined.setdefault(kind.lower(), set()).update(providers or {})
    gone: set[tuple[str, str]] = set()
    inputs = svc.get("input") or []
    for io in inputs:
        ident, name = provider_info(io.get("storage_provider", ""))
        if name not in ("minio", "webdav", "rucio"):
            return gone  # errInput
        if name in ("webdav", "rucio"):
            continue
        if ident not in defined.get(name, ()):
            return gone
        if not same_storage(io, mount):
            gone.add((name, bucket_of(io["path"])))
    for io in svc.get("output") or []:
        ident, name = provider_info(io.get("storage_provider", ""))
        if name in ("webdav", "rucio"):
            continue
        if ident not in defined.get(name, ()):
            return gone
        if name in DATA_PROVIDERS:
            also_input = any(provider_info(i.get("storage_provider", "")) == (ident, name)
                             and bucket_of(i.get("path", "")) == bucket_of(io["path"]) for i in inputs)
            if not also_input and not same_storage(io, mount):
                gone.add((name, bucket_of(io["path"])))
    if str(svc.get("isolation_level", "")).upper() == "USER":  # bucket_list: <input bucket>-<user id>
        gone |= {("minio", bucket_of(io["path"]) + "-<user>") for io in inputs
                 if provider_info(io.get("storage_provider", ""))[1] == "minio"}
    return gone


def _services(path) -> list[dict]:
    data = yaml.safe_load(path.read_text("utf-8"))
    return [svc for entry in data["functions"]["oscar"] for svc in entry.values()]


def _paths(svc: dict, key: str) -> set[tuple[str, str]]:
    return {(provider_info(io.get("storage_provider", ""))[1], io["path"].strip(" /")) for io in svc.get(key) or []}


def data_buckets() -> dict[tuple[str, str], str]:
    """The buckets that hold originals or results, over every FDL in fdl/ (they share one cluster):
    originals are where a chain starts (an input path no service writes), results where it ends
    (an output path no service reads)."""
    out: dict[tuple[str, str], str] = {}
    for path in FDLS:
        services = _services(path)
        written = set().union(*(_paths(s, "output") for s in services))
        read = set().union(*(_paths(s, "input") for s in services))
        for name, p in read - written:
            out[(name, bucket_of(p))] = f"originals ({p}, {path.name})"
        for name, p in written - read:
            out[(name, bucket_of(p))] = f"results ({p}, {path.name})"
    return out


def test_the_collection_buckets_are_known():
    """The rule below is only as good as this set: the chain's uploads and results must be in it."""
    held = data_buckets()
    assert held[("minio", "herbarium")].startswith(("originals", "results"))
    assert {b for _, b in held} == {"herbarium"}


@pytest.mark.parametrize("fdl", FDLS, ids=lambda p: p.name)
def test_removing_or_updating_any_service_keeps_originals_and_results(fdl):
    held = data_buckets()
    for svc in _services(fdl):
        assert str(svc.get("isolation_level", "SERVICE")).upper() != "USER", \
            f"{fdl.name} {svc['name']}: USER isolation deletes per-user buckets on update and removal"
        lost = {b: held[b] for b in buckets_deleted(svc) if b in held}
        assert not lost, f"{fdl.name}: removing {svc['name']} deletes {lost}"
        if svc.get("input") or svc.get("output"):
            # every bucket the service names is its mount's: nothing at all is deleted, scratch included
            assert buckets_deleted(svc) == set(), (fdl.name, svc["name"])


def test_the_rule_deletes_what_oscar_deletes():
    """The transcription can fail: without `mount`, removing a chain service would delete the
    whole collection (the layout this repository had), and a mount on another bucket does not help."""
    chain = _services(REPO / "fdl" / "herbmorph-chain.yaml")
    for svc in chain:
        bare = {k: v for k, v in svc.items() if k != "mount"}
        assert buckets_deleted(bare) == {("minio", "herbarium")}, svc["name"]
        elsewhere = dict(copy.deepcopy(svc), mount={"storage_provider": "minio.default", "path": "scratch/x"})
        assert buckets_deleted(elsewhere) == {("minio", "herbarium")}
        other_provider = dict(copy.deepcopy(svc), mount={"storage_provider": "minio.other", "path": "herbarium/in"})
        assert buckets_deleted(other_provider) == {("minio", "herbarium")}
    # outputs: a bucket that is also an input is spared by the output loop; one that is not is deleted
    svc = {"input": [{"storage_provider": "minio.default", "path": "a/in"}],
           "output": [{"storage_provider": "minio.default", "path": "a/out"},
                      {"storage_provider": "minio", "path": "/b/out/"},
                      {"storage_provider": "webdav.dcache", "path": "c/out"}],
           "mount": {"storage_provider": "minio.default", "path": "a"}}
    assert buckets_deleted(svc) == {("minio", "b")}
    # an unknown input provider stops deleteBuckets before anything is deleted
    assert buckets_deleted({"input": [{"storage_provider": "onedata.x", "path": "a/in"}],
                            "output": [{"storage_provider": "minio.default", "path": "b/out"}]}) == set()
