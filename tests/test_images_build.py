"""The area image, built from images/area.Dockerfile by buildah and run the way OSCAR runs it.

``scripts/build_images.sh area`` builds the Dockerfile unchanged on the local stand-in for
``python:3.11-slim-bookworm`` (debootstrapped once per machine and cached; vfs storage, chroot
isolation: no registry, daemon or OCI runtime). ``scripts/image_run.py`` then runs the FDL's
``script.sh`` in a fresh container with what OSCAR's supervisor provides (the downloaded object in
TMP_INPUT_DIR, INPUT_FILE_PATH, TMP_OUTPUT_DIR, STORAGE_OBJECT_KEY, EVENT, the function config and the
provider's keys mounted where OSCAR mounts them) and a real MinIO on 127.0.0.1 holding the original.
The stage document is real: segment and scale run here first, through the project's handler.

The torch images (segment, scale, deepaas) are built and run by the same script by hand: they
take tens of minutes and gigabytes (images/README.md has the figures).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, SAMPLES

sys.path.insert(0, str(REPO / "scripts"))
import image_run  # noqa: E402

from herbmorph.results import ErrorDocument, ResultDocument  # noqa: E402

IMAGE = "localhost/herbmorph/herbmorph-area:test"
OPENDS = REPO.parent / "shared" / "reference" / "opends-0.4"
REL = f"{image_run.SUB}/{image_run.NAME}"


@pytest.fixture(scope="module")
def area_image():
    """The image, built now (the base is cached per machine; a cold one adds ~2 min)."""
    for tool in ("buildah", "debootstrap"):
        assert shutil.which(tool), f"{tool} is missing: scripts/setup.sh installs it"
    env = {**os.environ, "PYTHON": sys.executable, "TAG": "test"}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "build_images.sh"), "--no-run", "area"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=840)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert f"built {IMAGE} in" in proc.stdout
    yield IMAGE
    image_run.buildah("rmi", IMAGE, timeout=300)


def test_area_image_is_the_dockerfile_as_written(area_image):
    out = image_run.buildah("inspect", "--type", "image", area_image, timeout=60, check=True).stdout
    config = json.loads(out)["OCIv1"]["config"]
    assert config["User"] == "10001" and config["WorkingDir"] == "/opt/herbmorph"
    assert not config.get("Entrypoint"), "OSCAR runs its supervisor, not an entrypoint"
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["PATH"].startswith("/usr/local/bin:") and env["LANG"] == "C.UTF-8"
    assert env["PYTHON_VERSION"].startswith("3.11.") and env["PYTHONUNBUFFERED"] == "1"


def test_area_image_turns_a_real_stage_document_into_the_three_results(area_image, tmp_path):
    # segment + scale here (real inference), area in the image, area again here from the same
    # document: the image must write the same three files, equal but for timings and timestamps
    summary = image_run.run_stage("area", area_image, tmp_path, SAMPLES[0])
    assert summary["files"] == sorted(f"{REL}{s}" for s in (".json", ".opends.json", ".overlay.png"))

    out = tmp_path / "area-image-out"
    stage = json.loads(next((tmp_path / "scale-host-out").rglob("*.scale.json")).read_text("utf-8"))
    assert stage["schema"] == "herbmorph/stage/1" and stage["stage"] == "scale"
    doc = ResultDocument.model_validate_json((out / f"{REL}.json").read_text("utf-8"))
    assert doc.image.model_dump() == stage["image"]
    bucket, folder = image_run.split_path(image_run.service("herbmorph-segment")[0]["input"][0]["path"])
    assert doc.image.uri == f"s3://{bucket}/{folder}/{REL}"  # the upload, where the FDL's chain starts
    assert len(doc.organs) == len(stage["segment"]["organs"]) > 0
    assert set(doc.timings_ms) == {"segment", "scale", "area"}
    if doc.scale.status == "ok":
        assert all(o.area_cm2 and o.area_cm2 > 0 for o in doc.organs)
    event = json.loads((out / f"{REL}.opends.json").read_text("utf-8"))
    # one annotation per organ, and one for the ruler when it was located
    assert len(event["annotations"]) == len(doc.organs) + (doc.scale.bbox is not None)
    if OPENDS.is_dir():
        from herbmorph.area import validate_event

        validate_event(event, OPENDS)
    assert (out / f"{REL}.overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_area_image_answers_a_foreign_document_with_one_error_document(area_image, tmp_path):
    bad = tmp_path / "docs" / f"{REL}.scale.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"schema": "someone-else/1"}', "utf-8")
    storage = image_run.Storage(tmp_path / "storage", SAMPLES[0])
    try:
        proc = image_run.run_in_image("area", area_image, bad, storage, tmp_path / "out")
    finally:
        storage.close()
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the handler's "error document written"
    assert image_run.files(tmp_path / "out") == [f"{REL}.error.json"]
    err = ErrorDocument.model_validate_json((tmp_path / "out" / f"{REL}.error.json").read_text("utf-8"))
    assert (err.stage, err.error.kind) == ("area", "bad-stage-document")
    assert bad.read_text("utf-8") == '{"schema": "someone-else/1"}'
