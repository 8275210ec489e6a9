"""openDS 0.4 export: annotations valid against ../shared/reference/opends-0.4 (resolved locally)."""
from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "functions") not in sys.path:
    sys.path.insert(0, str(REPO / "functions"))

import herbmorph  # noqa: E402
from herbmorph.area import build_document  # noqa: E402
from herbmorph.area.opends import (  # noqa: E402
    MEDIA_FDO_TYPE,
    ROI_VOCABULARY,
    WHOLE_IMAGE,
    MediaTarget,
    annotation_event,
    default_creator,
    hash_inputs,
    mas_agent,
    roi_fractions,
    to_annotations,
)
from herbmorph.area.opends_schema import validate_annotations, validate_event  # noqa: E402
from herbmorph.results import ImageInfo, ModelInfo, Organ, ScaleResult, SegmentResult  # noqa: E402

SCHEMA_DIR = REPO.parent / "shared" / "reference" / "opends-0.4"
needs_schemas = pytest.mark.skipif(not SCHEMA_DIR.is_dir(), reason=f"{SCHEMA_DIR} not present")
SHA = "d" * 64
DEFAULT_TARGET = f"urn:herbmorph:image:sha256:{SHA}"

CREATED = "2024-06-27T12:00:00.000Z"
SEG_MODEL = ModelInfo(name="seg", sha256="a" * 64)


def organ(i, cls, bbox, conf=0.9, poly=None):
    x1, y1, x2, y2 = bbox
    return Organ(id=i, **{"class": cls}, confidence=conf, bbox=list(bbox),
                 polygon=poly or [[x1, y1], [x2, y1], [x2, y2], [x1, y2]], area_px=float((x2 - x1) * (y2 - y1)))


def doc_with(organs, scale, width=4000, height=6000):
    seg = SegmentResult(organs=organs, model=SEG_MODEL, imgsz=1024, conf=0.5)
    return build_document(ImageInfo(uri="s3://herbarium/sheets/B100.jpg", sha256=SHA, width=width, height=height),
                          seg, scale, {})


OK = ScaleResult(px_per_cm=137.9, method="ocr-consecutive", status="ok", bbox=[100, 5500, 2000, 5800])
NULL = ScaleResult.null("digits and ticks disagree")
ORGANS = [organ(0, "leaf", (400, 600, 1400, 2600), 0.91), organ(1, "flower", (2000, 100, 2300, 400), 0.55)]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Validation must resolve every $ref locally: any socket use fails the test."""
    def refuse(*a, **k):
        raise AssertionError("network access attempted")
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@needs_schemas
@pytest.mark.parametrize("scale", [OK, NULL], ids=["scale-ok", "scale-null"])
def test_organ_annotations_validate(scale):
    doc = doc_with(ORGANS, scale)
    anns = to_annotations(doc, created=CREATED)
    assert len(anns) == 2 + (scale.bbox is not None)  # one per organ, one for a located ruler
    validate_annotations(anns, SCHEMA_DIR)
    validate_event(annotation_event(doc, "https://hdl.handle.net/20.5000.1025/JOB-123-456", created=CREATED), SCHEMA_DIR)
    for a, o in zip(anns, ORGANS):
        assert a["@type"] == "ods:Annotation" and "@id" not in a
        assert a["oa:motivation"] == "ods:adding"
        assert a["dcterms:created"] == CREATED
        cr = a["dcterms:creator"]
        # stable across releases (DiSSCo hashes the creator's @id); the release is in the body
        assert cr == default_creator() and cr["@id"] == "urn:herbmorph"
        assert herbmorph.__version__ not in json.dumps(cr)
        assert a["oa:hasBody"]["dcterms:references"].startswith(f"herbmorph {herbmorph.__version__}")
        t = a["oa:hasTarget"]
        # no DOI known: the image's content hash, never the storage URI
        assert t["@id"] == t["dcterms:identifier"] == DEFAULT_TARGET
        assert t["@type"] == "ods:DigitalMedia" and t["ods:fdoType"] == MEDIA_FDO_TYPE
        sel = t["oa:hasSelector"]
        assert sel["@type"] == "oa:FragmentSelector" and sel["dcterms:conformsTo"] == ROI_VOCABULARY
        body = a["oa:hasBody"]
        assert body["@type"] == "oa:TextualBody" and body["ods:score"] == o.confidence
        value = json.loads(body["oa:value"][0])
        assert value["class"] == o.class_ and value["score"] == o.confidence
        assert value["boundingBox"] == o.bbox and value["polygon"] == o.polygon
        assert value["areaInPixel"] == o.area_px
        assert value["scaleStatus"] == scale.status and value["scaleReason"] == scale.reason
        if scale.status == "ok":
            assert value["one_cm_in_pixel"] == 137.9
            assert value["areaInCm2"] == round(o.area_px / 137.9 ** 2, 4)
        else:
            assert value["one_cm_in_pixel"] is None and value["areaInCm2"] is None
    roi = anns[0]["oa:hasTarget"]["oa:hasSelector"]["ac:hasROI"]
    assert roi == {"ac:xFrac": 0.1, "ac:yFrac": 0.1, "ac:widthFrac": 0.25, "ac:heightFrac": 2000 / 6000}
    if scale.bbox is not None:
        ruler = anns[-1]
        assert ruler["oa:motivation"] == "ods:adding"
        assert ruler["oa:hasTarget"]["oa:hasSelector"]["ac:hasROI"] == roi_fractions(scale.bbox, 4000, 6000)
        value = json.loads(ruler["oa:hasBody"]["oa:value"][0])
        assert value["class"] == "scale" and value["one_cm_in_pixel"] == 137.9 and value["method"] == scale.method


@needs_schemas
@pytest.mark.parametrize("scale", [OK, NULL], ids=["scale-ok", "scale-null"])
def test_no_organs_gives_one_commenting_annotation(scale):
    doc = doc_with([], scale)
    anns = to_annotations(doc, created=CREATED)
    assert len(anns) == 1 + (scale.bbox is not None)
    a = anns[-1]
    assert a["oa:motivation"] == "oa:commenting"
    # a selector even here: DiSSCo hashes it; the whole image
    assert a["oa:hasTarget"]["oa:hasSelector"]["ac:hasROI"] == WHOLE_IMAGE
    assert "no plant organs found" in a["oa:hasBody"]["oa:value"][0].lower()
    detail = json.loads(a["oa:hasBody"]["oa:value"][1])
    assert detail["organCount"] == 0 and detail["scaleStatus"] == scale.status
    assert detail["one_cm_in_pixel"] == scale.px_per_cm and detail["scaleReason"] == scale.reason
    validate_annotations(anns, SCHEMA_DIR)
    ev = annotation_event(doc, "job-1", created=CREATED)
    assert ev["jobId"] == "job-1" and ev["annotations"] == anns
    validate_event(ev, SCHEMA_DIR)


@needs_schemas
def test_duplicate_rois_do_not_collide():
    same = (100, 200, 300, 400)
    organs = [organ(0, "leaf", same), organ(1, "leaf", same), organ(2, "stem", same), organ(3, "fruit", (0, 0, 0, 0)),
              organ(4, "fruit", (0, 0, 0, 0)), organ(5, "seed", (4000, 6000, 4000, 6000)), organ(6, "seed", (4000, 6000, 4000, 6000))]
    anns = to_annotations(doc_with(organs, OK), created=CREATED)
    rois = [json.dumps(a["oa:hasTarget"]["oa:hasSelector"]["ac:hasROI"], sort_keys=True) for a in anns]
    assert len(set(rois)) == len(rois)
    validate_annotations(anns, SCHEMA_DIR)  # also checks the de-duplication key
    first = anns[0]["oa:hasTarget"]["oa:hasSelector"]["ac:hasROI"]
    second = anns[1]["oa:hasTarget"]["oa:hasSelector"]["ac:hasROI"]
    assert first["ac:xFrac"] == second["ac:xFrac"] and abs(first["ac:widthFrac"] - second["ac:widthFrac"]) < 1e-8
    # each still names its own organ in the body
    assert [json.loads(a["oa:hasBody"]["oa:value"][0])["organId"] for a in anns[:7]] == list(range(7))
    assert json.loads(anns[7]["oa:hasBody"]["oa:value"][0])["class"] == "scale"


@needs_schemas
def test_validate_rejects_collisions_ids_and_bad_values():
    anns = to_annotations(doc_with(ORGANS, OK), created=CREATED)
    with pytest.raises(ValueError, match="collides"):
        validate_annotations([anns[0], json.loads(json.dumps(anns[0]))], SCHEMA_DIR)
    with pytest.raises((ValueError, jsonschema.ValidationError)):
        validate_annotations([{**anns[0], "@id": "https://hdl.handle.net/20.5000.1025/ABC-DEF-GHI"}], SCHEMA_DIR)
    bad = json.loads(json.dumps(anns[0]))
    bad["oa:hasTarget"]["oa:hasSelector"]["ac:hasROI"]["ac:xFrac"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        validate_annotations([bad], SCHEMA_DIR)
    with pytest.raises(jsonschema.ValidationError):
        validate_event({"annotations": anns}, SCHEMA_DIR)  # jobId is required
    with pytest.raises(ValueError):
        validate_annotations([{**anns[0], "dcterms:created": "yesterday"}], SCHEMA_DIR)


def test_roi_is_clamped_and_overrides_apply():
    assert roi_fractions([-50, -10, 5000, 7000], 4000, 6000) == {
        "ac:xFrac": 0.0, "ac:yFrac": 0.0, "ac:widthFrac": 1.0, "ac:heightFrac": 1.0}
    r = roi_fractions([3900, 5900, 4100, 6100], 4000, 6000)
    assert r["ac:xFrac"] + r["ac:widthFrac"] <= 1.0 and r["ac:yFrac"] + r["ac:heightFrac"] <= 1.0
    assert all(0.0 <= v <= 1.0 for v in r.values())
    with pytest.raises(ValueError):
        roi_fractions([0, 0, 1, 1], None, None)
    creator = {"@type": "schema:SoftwareApplication", "@id": "https://hdl.handle.net/20.5000.1025/MAS-000-001"}
    anns = to_annotations(doc_with(ORGANS, OK), target_id="https://hdl.handle.net/20.5000.1025/MED-IA0-001",
                          creator=creator, created=CREATED)
    assert anns[0]["oa:hasTarget"]["@id"] == "https://hdl.handle.net/20.5000.1025/MED-IA0-001"
    assert anns[0]["dcterms:creator"] == creator
    # deterministic with a fixed created
    assert to_annotations(doc_with(ORGANS, OK), created=CREATED) == to_annotations(doc_with(ORGANS, OK), created=CREATED)
    # default created is an ISO UTC timestamp
    assert to_annotations(doc_with(ORGANS, OK))[0]["dcterms:created"].endswith("Z")


MEDIA = {"@id": "https://doi.org/10.3535/AB1-CD2-EF3", "@type": "ods:DigitalMedia",
         "dcterms:identifier": "https://doi.org/10.3535/AB1-CD2-EF3",
         "ods:fdoType": "https://doi.org/21.T11148/bbad8c4e101e8af01115",
         "ac:accessURI": "https://example.org/B100.jpg"}


@needs_schemas
@pytest.mark.parametrize("organs", [ORGANS, []], ids=["organs", "no-organs"])
def test_mas_annotations_target_the_doi_with_the_mas_agent(organs):
    agent = mas_agent("20.5000.1025/MAS-HRB-001", "herbmorph plant organ areas")
    doc = doc_with(organs, OK)
    anns = to_annotations(doc, target=MediaTarget.from_media_object(MEDIA), creator=agent, created=CREATED)
    validate_event({"jobId": "20.5000.1025/JOB-ABC-DEF", "annotations": anns}, SCHEMA_DIR)
    for a in anns:
        t = a["oa:hasTarget"]
        assert t["@id"] == t["dcterms:identifier"] == MEDIA["@id"] and t["ods:fdoType"] == MEDIA["ods:fdoType"]
        assert t["@type"] == "ods:DigitalMedia" and t["oa:hasSelector"]["@type"] == "oa:FragmentSelector"
        cr = a["dcterms:creator"]
        assert cr["@id"] == cr["schema:identifier"] == "https://hdl.handle.net/20.5000.1025/MAS-HRB-001"
        assert cr["schema:name"] == "herbmorph plant organ areas"
        assert cr["ods:hasRoles"] == [{"@type": "schema:Role", "schema:roleName": "machine-annotation-service"}]
        assert cr["ods:hasIdentifiers"][0]["dcterms:type"] == "Handle"
    # a full handle URL as MAS_ID gives the same agent
    assert mas_agent("https://hdl.handle.net/20.5000.1025/MAS-HRB-001", "herbmorph plant organ areas") == agent


def test_hash_inputs_are_the_same_on_a_rerun():
    """DiSSCo recognises an annotation by target + selector + creator @id + motivation: a rerun of
    the same sheet (another time, another job) must give the same inputs, so it updates."""
    agent = mas_agent("20.5000.1025/MAS-HRB-001", "herbmorph")
    target = MediaTarget.from_media_object(MEDIA)
    first = to_annotations(doc_with(ORGANS, OK), target=target, creator=agent, created=CREATED)
    again = to_annotations(doc_with(ORGANS, OK), target=target, creator=agent)
    assert [hash_inputs(a) for a in first] == [hash_inputs(a) for a in again]
    assert len({hash_inputs(a) for a in first}) == len(first)
    # the creator's name may change (a renamed MAS) without changing the hash
    renamed = to_annotations(doc_with(ORGANS, OK), target=target, creator=mas_agent("20.5000.1025/MAS-HRB-001", "x"))
    assert [hash_inputs(a) for a in renamed] == [hash_inputs(a) for a in first]


def test_media_target_refuses_objects_it_cannot_target():
    with pytest.raises(ValueError, match="no @id"):
        MediaTarget.from_media_object({"ac:accessURI": "https://example.org/x.jpg"})
    with pytest.raises(ValueError, match="not 'ods:DigitalSpecimen'"):
        MediaTarget.from_media_object({**MEDIA, "@type": "ods:DigitalSpecimen"})
    only_identifier = {k: v for k, v in MEDIA.items() if k not in ("@id", "ods:fdoType")}
    assert MediaTarget.from_media_object(only_identifier) == MediaTarget(MEDIA["@id"])


def test_default_target_is_a_content_hash_not_a_location():
    doc = doc_with(ORGANS, OK)
    assert to_annotations(doc, created=CREATED)[0]["oa:hasTarget"]["@id"] == DEFAULT_TARGET
    no_sha = doc.model_copy(update={"image": doc.image.model_copy(update={"sha256": None})})
    tid = to_annotations(no_sha, created=CREATED)[0]["oa:hasTarget"]["@id"]
    assert tid.startswith("urn:herbmorph:image-uri:sha256:") and "B100" not in tid


@needs_schemas
def test_validate_requires_a_selector_and_a_creator_id():
    ann = to_annotations(doc_with([], NULL), created=CREATED)[0]
    bare = json.loads(json.dumps(ann))
    del bare["oa:hasTarget"]["oa:hasSelector"]  # the schema allows it; DiSSCo's hasher does not
    with pytest.raises(ValueError, match="oa:hasSelector"):
        validate_annotations([bare], SCHEMA_DIR)
    anon = json.loads(json.dumps(ann))
    del anon["dcterms:creator"]["@id"]
    with pytest.raises(ValueError, match="creator"):
        validate_annotations([anon], SCHEMA_DIR)
