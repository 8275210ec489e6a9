"""openDS 0.4 annotations (DiSSCo Machine Annotation Services) from a result document.

One ``ods:adding`` annotation per organ, targeting the digital media with an ``oa:FragmentSelector``
region of interest (the organ's bounding box as fractions of the image). The openDS schema has no
polygon or pixel form, so the polygon, pixel box, pixel area, px/cm and cm² travel inside the
``oa:value`` JSON string, with the same keys the DiSSCo plant-organ segmentation MAS uses
(``class, score, boundingBox, polygon, areaInPixel, one_cm_in_pixel, areaInCm2``) plus
``scaleStatus``/``scaleReason`` so a null scale is explicit.

An image without organs yields a single ``oa:commenting`` annotation saying so (with the scale
information), never an empty list: silence cannot be told apart from a lost job.

Only the standard library and ``jsonschema``/``referencing`` are used; never torch.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Optional

import herbmorph
from herbmorph.results import Organ, ResultDocument

# Handle of the openDS "Digital Media" FDO type (DiSSCo's fdo.digital-media-type; it is also the
# first ``ods:fdoType`` example in annotation-target.json). Digital specimens are
# https://doi.org/21.T11148/894b1e6cad57e921764e.
MEDIA_FDO_TYPE = "https://doi.org/21.T11148/bbad8c4e101e8af01115"
MEDIA_TYPE = "ods:DigitalMedia"
ROI_VOCABULARY = "https://ac.tdwg.org/termlist/#711-region-of-interest-vocabulary"
SOFTWARE_NAME = "herbmorph"

# Exact ROI ties are separated by this many fraction units per duplicate (see _dedupe_roi).
ROI_NUDGE = 1e-9

REQUEST_SCHEMA = "annotation-processing-request.json"
EVENT_SCHEMA = "annotation-processing-event.json"


def default_creator(mas_id: Optional[str] = None) -> dict:
    """herbmorph as a ``schema:SoftwareApplication`` agent.

    ``mas_id`` is the handle DiSSCo gave the registered MAS, when there is one; otherwise the
    software's versioned URN ``urn:herbmorph:<version>``. The version is in ``schema:identifier`` and ``schema:name``
    (agent.json allows no version field), so annotations from different releases never merge.
    """
    version = herbmorph.__version__
    software_id = f"urn:{SOFTWARE_NAME}:{version}"
    return {
        "@id": mas_id or software_id,
        "@type": "schema:SoftwareApplication",
        "schema:identifier": mas_id or software_id,
        "schema:name": f"{SOFTWARE_NAME} {version}",
    }


def now_iso() -> str:
    """UTC now as ``yyyy-MM-ddTHH:mm:ss.SSSZ`` (the form DiSSCo uses)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clamp01(v: float) -> float:
    if not math.isfinite(v):
        return 0.0
    return min(1.0, max(0.0, v))


def roi_fractions(bbox: list[float], width: int, height: int) -> dict[str, float]:
    """``ac:hasROI`` for a pixel box ``[x1, y1, x2, y2]``: top-left origin, fractions in [0, 1].

    Fractions keep full float precision (no rounding): rounding is what makes nearby organs
    collide in DiSSCo's de-duplication.
    """
    if not width or not height or width <= 0 or height <= 0:
        raise ValueError("image width and height are needed for openDS regions of interest")
    x1, y1, x2, y2 = (float(v) for v in bbox[:4])
    x1, x2 = sorted((min(max(x1, 0.0), width), min(max(x2, 0.0), width)))
    y1, y2 = sorted((min(max(y1, 0.0), height), min(max(y2, 0.0), height)))
    xf, yf = _clamp01(x1 / width), _clamp01(y1 / height)
    wf = min(_clamp01((x2 - x1) / width), 1.0 - xf)
    hf = min(_clamp01((y2 - y1) / height), 1.0 - yf)
    return {"ac:xFrac": xf, "ac:yFrac": yf, "ac:widthFrac": max(wf, 0.0), "ac:heightFrac": max(hf, 0.0)}


def _roi_key(roi: dict[str, float]) -> tuple:
    return (roi["ac:xFrac"], roi["ac:yFrac"], roi["ac:widthFrac"], roi["ac:heightFrac"])


def _dedupe_roi(roi: dict[str, float], seen: set) -> dict[str, float]:
    """Make ``roi`` distinct from every ROI already in ``seen`` (and add it).

    DiSSCo de-duplicates annotations on target + selector + creator + motivation, and ``ac:hasROI``
    admits no extra property (additionalProperties: false) where an organ id could go. So the
    k-th exact tie shrinks its width and height by k * 1e-9 of the image (grows them when there is
    no room). That is < 0.001 px for any sheet below a million pixels a side, so the region is
    the same for every practical purpose, yet the value survives JSON, Java doubles and Postgres
    numerics, unlike a last-bit (ulp) nudge that a re-serialisation at 15 digits could undo.
    The organ id itself stays in the body's JSON (``organId``).
    """
    key = _roi_key(roi)
    k = 0
    while key in seen:
        k += 1
        d = k * ROI_NUDGE
        nudged = dict(roi)
        for dim, pos in (("ac:widthFrac", "ac:xFrac"), ("ac:heightFrac", "ac:yFrac")):
            v, p = roi[dim], roi[pos]
            if v - d >= 0.0:
                nudged[dim] = v - d  # shrink
            elif p + v + d <= 1.0:
                nudged[dim] = v + d  # grow
            else:  # a zero-size box on the far edge: move it inwards
                nudged[pos] = max(p - d, 0.0)
        key = _roi_key(nudged)
    seen.add(key)
    return dict(zip(("ac:xFrac", "ac:yFrac", "ac:widthFrac", "ac:heightFrac"), key))


def _scale_fields(doc: ResultDocument) -> dict[str, Any]:
    s = doc.scale
    ok = s.status == "ok" and s.px_per_cm is not None
    return {
        "one_cm_in_pixel": s.px_per_cm if ok else None,
        "scaleStatus": s.status,
        "scaleReason": s.reason,
    }


def _references(doc: ResultDocument) -> str:
    parts = [f"{SOFTWARE_NAME} {herbmorph.__version__}"]
    for stage in sorted(doc.models):
        m = doc.models[stage]
        parts.append(f"{stage} model {m.name} sha256:{m.sha256}")
    if doc.scale.method:
        parts.append(f"scale method {doc.scale.method}")
    return "; ".join(parts)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _finite(v: Optional[float]) -> Optional[float]:
    return v if v is None or math.isfinite(v) else None


def _organ_value(organ: Organ, doc: ResultDocument) -> str:
    return _dumps(
        {
            "class": organ.class_,
            "score": _finite(organ.confidence),
            "boundingBox": [float(v) for v in organ.bbox],
            "polygon": [[float(x), float(y)] for x, y in organ.polygon],
            "areaInPixel": _finite(organ.area_px),
            "one_cm_in_pixel": _scale_fields(doc)["one_cm_in_pixel"],
            "areaInCm2": organ.area_cm2,
            "scaleStatus": doc.scale.status,
            "scaleReason": doc.scale.reason,
            "organId": organ.id,
        }
    )


def _target(target_id: str, selector: Optional[dict]) -> dict:
    t = {
        "@id": target_id,
        "@type": MEDIA_TYPE,
        "dcterms:identifier": target_id,
        "ods:fdoType": MEDIA_FDO_TYPE,
    }
    if selector is not None:
        t["oa:hasSelector"] = selector
    return t


def to_annotations(
    doc: ResultDocument,
    *,
    target_id: str | None = None,
    creator: dict | None = None,
    created: str | None = None,
) -> list[dict]:
    """openDS 0.4 annotations for ``doc`` (each valid against annotation-processing-request.json).

    ``target_id`` is the digital media's PID (DiSSCo handle/DOI); it defaults to ``doc.image.uri``.
    ``created`` fixes ``dcterms:created`` (deterministic outputs); default: now, in UTC.
    Organs are emitted in id order. Raises ValueError when the image size is unknown and there
    are organs (a region of interest needs it).
    """
    tid = target_id or doc.image.uri
    agent = creator or default_creator()
    when = created or now_iso()
    refs = _references(doc)

    if not doc.organs:
        scale = _scale_fields(doc)
        if scale["one_cm_in_pixel"] is not None:
            scale_text = f"scale {scale['one_cm_in_pixel']:.4g} px/cm"
        else:
            scale_text = f"scale null ({doc.scale.reason or 'no reason given'})"
        detail = {
            "message": "no plant organs found",
            "organCount": 0,
            **scale,
            "scaleBoundingBox": doc.scale.bbox,
        }
        return [
            {
                "@type": "ods:Annotation",
                "oa:motivation": "oa:commenting",
                "oa:motivatedBy": "herbmorph found no plant organs on this image",
                "oa:hasTarget": _target(tid, None),
                "oa:hasBody": {
                    "@type": "oa:TextualBody",
                    "oa:value": [f"No plant organs found; {scale_text}.", _dumps(detail)],
                    "dcterms:references": refs,
                },
                "dcterms:creator": agent,
                "dcterms:created": when,
            }
        ]

    width, height = doc.image.width, doc.image.height
    seen: set = set()
    out: list[dict] = []
    for organ in sorted(doc.organs, key=lambda o: o.id):
        roi = _dedupe_roi(roi_fractions(organ.bbox, width, height), seen)
        selector = {
            "@type": "oa:FragmentSelector",
            "dcterms:conformsTo": ROI_VOCABULARY,
            "ac:hasROI": roi,
        }
        body = {
            "@type": "oa:TextualBody",
            "oa:value": [_organ_value(organ, doc)],
            "dcterms:references": refs,
        }
        if organ.confidence is not None and math.isfinite(organ.confidence):
            body["ods:score"] = _clamp01(float(organ.confidence))
        out.append(
            {
                "@type": "ods:Annotation",
                "oa:motivation": "ods:adding",
                "oa:hasTarget": _target(tid, selector),
                "oa:hasBody": body,
                "dcterms:creator": agent,
                "dcterms:created": when,
            }
        )
    return out


def annotation_event(doc: ResultDocument, job_id: str, **kw) -> dict:
    """The MAS reply ``{"jobId", "annotations"}`` (annotation-processing-event.json).

    Keyword arguments go to :func:`to_annotations`.
    """
    return {"jobId": str(job_id), "annotations": to_annotations(doc, **kw)}


# --------------------------------------------------------------------------------------------
# Validation against the local schema files (nothing is fetched from the network).


def _registry(schema_dir: Path):
    """A ``referencing.Registry`` holding every schema in ``schema_dir``.

    Each file is registered under its ``$id``. Unknown URIs are resolved by file name inside
    ``schema_dir`` only: the 0.4 event schema refers to the request schema under
    ``developer-schema/`` while the file's own ``$id`` is under ``fdo-type/``.
    """
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT202012

    schema_dir = Path(schema_dir)
    by_name: dict[str, Resource] = {}
    resources = []
    for path in sorted(schema_dir.glob("*.json")):
        try:
            contents = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(contents, dict) or "$schema" not in contents:
            continue  # an example document, not a schema
        res = Resource.from_contents(contents, default_specification=DRAFT202012)
        by_name[path.name] = res
        if contents.get("$id"):
            resources.append((contents["$id"], res))

    def retrieve(uri: str):
        name = uri.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if name in by_name:
            return by_name[name]
        raise NoSuchResource(ref=uri)

    return Registry(retrieve=retrieve).with_resources(resources), by_name


def _validator(schema_dir: Path, schema_name: str):
    import jsonschema

    registry, by_name = _registry(schema_dir)
    if schema_name not in by_name:
        raise FileNotFoundError(f"{schema_name} not found in {schema_dir}")
    schema = by_name[schema_name].contents
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def _raise_first(validator, instance, where: str) -> None:
    import jsonschema

    err = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if err is not None:
        err.add_note(f"in {where}")
        raise err


def _check_created(value: Any, where: str) -> None:
    # FORMAT_CHECKER only checks date-time when the optional rfc3339-validator is installed.
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as e:
        raise ValueError(f"{where}: dcterms:created {value!r} is not an ISO 8601 date-time") from e


def _dedupe_key(a: dict) -> str:
    t = a.get("oa:hasTarget", {})
    return _dumps(
        [t.get("@id"), t.get("oa:hasSelector"), a.get("dcterms:creator"), a.get("oa:motivation")]
    )


def validate_annotations(annotations: Iterable[dict], schema_dir: Path) -> None:
    """Raise unless every annotation is a valid new openDS 0.4 annotation.

    Checks each against annotation-processing-request.json (with the ``$ref``s resolved to the
    local files), that none has an ``@id`` (DiSSCo mints it), that ``dcterms:created`` parses,
    and that no two collide on DiSSCo's de-duplication key (target + selector + creator +
    motivation). Raises ``jsonschema.ValidationError`` or ``ValueError``.
    """
    validator = _validator(schema_dir, REQUEST_SCHEMA)
    seen: dict[str, int] = {}
    for i, a in enumerate(annotations):
        where = f"annotation {i}"
        _raise_first(validator, a, where)
        if "@id" in a:
            raise ValueError(f"{where}: a new annotation must not have an @id")
        _check_created(a.get("dcterms:created"), where)
        key = _dedupe_key(a)
        if key in seen:
            raise ValueError(f"{where} collides with annotation {seen[key]} on target+selector+creator+motivation")
        seen[key] = i


def validate_event(event: dict, schema_dir: Path) -> None:
    """Raise unless ``event`` is a valid annotation-processing-event (and its annotations are)."""
    _raise_first(_validator(schema_dir, EVENT_SCHEMA), event, "annotation-processing-event")
    validate_annotations(event.get("annotations", []), schema_dir)
