"""openDS 0.4 annotations (DiSSCo Machine Annotation Services) from a result document.

What DiSSCo's annotation processing needs, and how each annotation meets it:

* **Target** = the digital media object: ``@id`` and ``dcterms:identifier`` are its DOI (from the
  MAS job's ``object``), ``@type``/``ods:fdoType`` its types. Outside a DiSSCo job (the file export
  ``<stem>.opends.json`` of the other adapters) no DOI is known; the target is then
  ``urn:herbmorph:image:sha256:<hex>``, the image's content hash (:func:`default_target_id`), never
  a storage URI or a file name. A forwarder replaces it with the media object's DOI.
* **A selector on every annotation**: DiSSCo hashes target + selector + creator ``@id`` +
  motivation to recognise an annotation it already has (a rerun updates instead of duplicating),
  and it cannot hash an annotation without a selector. Each annotation has an
  ``oa:FragmentSelector`` region of interest (``ac:hasROI``, fractions of the image size):
  - one ``ods:adding`` annotation per organ, its bounding box;
  - one ``ods:adding`` annotation for the scale when the ruler was located, the ruler's box;
  - one ``oa:commenting`` annotation "no plant organs found" (with the scale) for an image
    without organs, on the whole image (0, 0, 1, 1): silence cannot be told from a lost job.
* **Creator** = the MAS agent: ``https://hdl.handle.net/<MAS_ID>`` with ``MAS_NAME``
  (:func:`mas_agent`). It is part of the hash, so it carries no version: the release that made an
  annotation is in the body's ``dcterms:references``. Without a MAS id the creator is the
  stable software agent ``urn:herbmorph`` (:func:`default_creator`).
* **Body**: ``oa:value`` holds one JSON string with the keys DiSSCo's plant-organ segmentation
  MAS uses (``class, score, boundingBox, polygon, areaInPixel, one_cm_in_pixel, areaInCm2``) plus
  ``scaleStatus``/``scaleReason`` (so a null cm² says why) and ``organId``; ``ods:score`` is the
  confidence.

Only the standard library and ``jsonschema``/``referencing`` are used; never torch.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

import herbmorph
from herbmorph.results import Organ, ResultDocument

# Handle of the openDS "Digital Media" FDO type (DiSSCo's fdo.digital-media-type; it is also the
# first ``ods:fdoType`` example in annotation-target.json). Digital specimens are
# https://doi.org/21.T11148/894b1e6cad57e921764e.
MEDIA_FDO_TYPE = "https://doi.org/21.T11148/bbad8c4e101e8af01115"
MEDIA_TYPE = "ods:DigitalMedia"
ROI_VOCABULARY = "https://ac.tdwg.org/termlist/#711-region-of-interest-vocabulary"
SOFTWARE_NAME = "herbmorph"
SOFTWARE_ID = "urn:herbmorph"
HANDLE_URL = "https://hdl.handle.net/"
MAS_ROLE = "machine-annotation-service"
WHOLE_IMAGE = {"ac:xFrac": 0.0, "ac:yFrac": 0.0, "ac:widthFrac": 1.0, "ac:heightFrac": 1.0}

# Exact ROI ties are separated by this many fraction units per duplicate (see _dedupe_roi).
ROI_NUDGE = 1e-9

REQUEST_SCHEMA = "annotation-processing-request.json"
EVENT_SCHEMA = "annotation-processing-event.json"


@dataclass(frozen=True)
class MediaTarget:
    """What an annotation targets: the digital media object's PID and its types."""

    id: str
    type: str = MEDIA_TYPE
    fdo_type: str = MEDIA_FDO_TYPE

    @classmethod
    def from_media_object(cls, obj: dict) -> "MediaTarget":
        """The target of a MAS job's ``object`` (openDS digital media). Raises ValueError (a
        message a curator can read) when the object names no PID or is not digital media."""
        pid = obj.get("@id") or obj.get("dcterms:identifier")
        if not isinstance(pid, str) or not pid.strip():
            raise ValueError("the job's object has no @id or dcterms:identifier (the digital media DOI)")
        kind = obj.get("@type", MEDIA_TYPE)
        if kind != MEDIA_TYPE:
            raise ValueError(f"herbmorph annotates digital media objects ({MEDIA_TYPE}), not {str(kind)[:80]!r}")
        fdo = obj.get("ods:fdoType") or MEDIA_FDO_TYPE
        if not isinstance(fdo, str):
            raise ValueError("the job's object has an ods:fdoType that is not text")
        return cls(id=pid.strip(), type=MEDIA_TYPE, fdo_type=fdo)


def default_target_id(doc: ResultDocument) -> str:
    """The documented target when no DOI is known: the image's content hash as a URN (the hash of
    its URI when the content hash is missing). Stable across runs, releases and storage moves."""
    if doc.image.sha256:
        return f"urn:herbmorph:image:sha256:{doc.image.sha256}"
    return f"urn:herbmorph:image-uri:sha256:{hashlib.sha256(doc.image.uri.encode('utf-8')).hexdigest()}"


def mas_agent(mas_id: str, mas_name: str) -> dict:
    """The MAS as DiSSCo's agent: ``https://hdl.handle.net/<MAS_ID>``, named ``MAS_NAME``.

    ``mas_id`` is the handle DiSSCo registered the service under (``20.5000.1025/ABC-DEF-GHI``;
    a full ``https://hdl.handle.net/…`` URL is accepted too). Nothing in it depends on the release.
    """
    mas_id = mas_id.strip()
    handle = mas_id if mas_id.startswith(HANDLE_URL) else HANDLE_URL + mas_id.lstrip("/")
    return {
        **_software_agent(handle, mas_name),
        "ods:hasIdentifiers": [{
            "@id": handle,
            "@type": "ods:Identifier",
            "dcterms:title": "Handle",
            "dcterms:type": "Handle",
            "dcterms:identifier": handle,
            "ods:isPartOfLabel": False,
            "ods:gupriLevel": "GloballyUniqueStablePersistentResolvableFDOCompliant",
            "ods:identifierStatus": "Preferred",
        }],
    }


def default_creator(mas_id: Optional[str] = None, mas_name: Optional[str] = None) -> dict:
    """:func:`mas_agent` when a MAS id is given, else herbmorph as the stable software agent
    ``urn:herbmorph`` (no version: the creator is part of DiSSCo's de-duplication hash)."""
    if mas_id:
        return mas_agent(mas_id, mas_name or SOFTWARE_NAME)
    return _software_agent(SOFTWARE_ID, SOFTWARE_NAME)


def _software_agent(ident: str, name: str) -> dict:
    return {
        "@id": ident,
        "@type": "schema:SoftwareApplication",
        "schema:identifier": ident,
        "schema:name": name,
        "ods:hasRoles": [{"@type": "schema:Role", "schema:roleName": MAS_ROLE}],
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


def _scale_value(doc: ResultDocument) -> str:
    s = doc.scale
    return _dumps(
        {
            "class": "scale",
            "score": _finite(s.detection_conf),
            "boundingBox": [float(v) for v in s.bbox] if s.bbox else None,
            **_scale_fields(doc),
            "method": s.method,
        }
    )


def _selector(roi: dict[str, float]) -> dict:
    return {"@type": "oa:FragmentSelector", "dcterms:conformsTo": ROI_VOCABULARY, "ac:hasROI": roi}


def _annotation(target: MediaTarget, roi: dict, motivation: str, values: list[str], refs: str,
                score: Optional[float], agent: dict, when: str) -> dict:
    body: dict[str, Any] = {"@type": "oa:TextualBody", "oa:value": values, "dcterms:references": refs}
    if score is not None and math.isfinite(score):
        body["ods:score"] = _clamp01(float(score))
    return {
        "@type": "ods:Annotation",
        "oa:motivation": motivation,
        "oa:hasTarget": {
            "@id": target.id,
            "@type": target.type,
            "dcterms:identifier": target.id,
            "ods:fdoType": target.fdo_type,
            "oa:hasSelector": _selector(roi),
        },
        "oa:hasBody": body,
        "dcterms:creator": agent,
        "dcterms:created": when,
    }


def _no_organs_values(doc: ResultDocument) -> list[str]:
    scale = _scale_fields(doc)
    if scale["one_cm_in_pixel"] is not None:
        scale_text = f"scale {scale['one_cm_in_pixel']:.4g} px/cm"
    else:
        scale_text = f"scale null ({doc.scale.reason or 'no reason given'})"
    detail = {"message": "no plant organs found", "organCount": 0, **scale, "scaleBoundingBox": doc.scale.bbox}
    return [f"No plant organs found; {scale_text}.", _dumps(detail)]


def to_annotations(
    doc: ResultDocument,
    *,
    target: MediaTarget | None = None,
    target_id: str | None = None,
    creator: dict | None = None,
    created: str | None = None,
) -> list[dict]:
    """openDS 0.4 annotations for ``doc`` (each valid against annotation-processing-request.json).

    ``target`` is the digital media object (a MAS job's); else ``target_id`` names it with the
    default media types; else :func:`default_target_id`. ``creator`` defaults to
    :func:`default_creator`. ``created`` fixes ``dcterms:created`` (deterministic outputs);
    default: now, in UTC. Organs come in id order, then the scale, then "no organs found".
    Raises ValueError when the image size is unknown and a region needs it.
    """
    tgt = target or MediaTarget(target_id or default_target_id(doc))
    agent = creator or default_creator()
    when = created or now_iso()
    refs = _references(doc)
    width, height = doc.image.width, doc.image.height
    seen: set = set()
    out: list[dict] = []
    for organ in sorted(doc.organs, key=lambda o: o.id):
        roi = _dedupe_roi(roi_fractions(organ.bbox, width, height), seen)
        out.append(_annotation(tgt, roi, "ods:adding", [_organ_value(organ, doc)], refs, organ.confidence, agent, when))
    if doc.scale.bbox:
        roi = _dedupe_roi(roi_fractions(doc.scale.bbox, width, height), seen)
        out.append(_annotation(tgt, roi, "ods:adding", [_scale_value(doc)], refs, doc.scale.detection_conf, agent, when))
    if not doc.organs:
        ann = _annotation(tgt, _dedupe_roi(dict(WHOLE_IMAGE), seen), "oa:commenting", _no_organs_values(doc), refs,
                          None, agent, when)
        ann["oa:motivatedBy"] = "herbmorph found no plant organs on this image"
        out.append(ann)
    return out


def annotation_event(doc: ResultDocument, job_id: str, **kw) -> dict:
    """The MAS reply ``{"jobId", "annotations"}`` (annotation-processing-event.json).

    Keyword arguments go to :func:`to_annotations`.
    """
    return {"jobId": str(job_id), "annotations": to_annotations(doc, **kw)}


def hash_inputs(annotation: dict) -> tuple:
    """What DiSSCo's annotation processing hashes to recognise an annotation it already has:
    target ``@id``, the selector (its ROI), creator ``@id``, motivation. Equal inputs on a rerun
    mean DiSSCo updates the annotation instead of adding a duplicate."""
    t = annotation.get("oa:hasTarget") or {}
    creator = annotation.get("dcterms:creator") or {}
    return (t.get("@id"), _dumps(t.get("oa:hasSelector")), creator.get("@id"), annotation.get("oa:motivation"))
