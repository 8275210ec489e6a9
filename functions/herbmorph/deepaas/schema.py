"""The predict response as a marshmallow schema, for DEEPaaS's ``schema`` (Swagger docs + checks).

It is generated from the pydantic models in :mod:`herbmorph.results` (their JSON Schema), so the
result document keeps a single definition. DEEPaaS validates every JSON response against it and
answers 500 on a mismatch, so the generated fields are as strict as the pydantic models: the
required keys are required, unknown keys are refused.
"""
from __future__ import annotations

import marshmallow
from marshmallow import fields

from herbmorph.results import RESULT_SCHEMA, ResultDocument

_PREFIX = "Herbmorph"  # Swagger component names: keep clear of DEEPaaS's own


def _field(spec: dict, defs: dict, built: dict, required: bool) -> fields.Field:
    kw = {"required": required, "metadata": {"description": spec.get("description") or spec.get("title", "")}}
    variants = spec.get("anyOf")
    if variants:
        non_null = [v for v in variants if v.get("type") != "null"]
        kw["allow_none"] = len(non_null) < len(variants)
        spec = {**non_null[0], "description": spec.get("description"), "title": spec.get("title")}
    if "$ref" in spec:
        return fields.Nested(_schema(spec["$ref"].rsplit("/", 1)[-1], defs, built), **kw)
    kind = spec.get("type")
    if kind == "array":
        return fields.List(_field(spec.get("items", {}), defs, built, False), **kw)
    if kind == "object":
        values = spec.get("additionalProperties")
        inner = _field(values, defs, built, False) if isinstance(values, dict) else fields.Raw()
        return fields.Dict(keys=fields.Str(), values=inner, **kw)
    if "const" in spec or "enum" in spec:
        kw["metadata"]["enum"] = [spec["const"]] if "const" in spec else spec["enum"]
    if kind == "integer":
        return fields.Int(**kw)
    if kind == "number":
        return fields.Float(allow_nan=True, **kw)
    if kind == "boolean":
        return fields.Bool(**kw)
    if kind == "string":
        return fields.Str(**kw)
    return fields.Raw(**kw)


def _schema(name: str, defs: dict, built: dict) -> type[marshmallow.Schema]:
    if name not in built:
        spec = defs[name]
        required = set(spec.get("required", []))
        attrs = {k: _field(v, defs, built, k in required) for k, v in spec.get("properties", {}).items()}
        built[name] = marshmallow.Schema.from_dict(attrs, name=_PREFIX + name)
    return built[name]


def _result_fields() -> tuple[dict[str, fields.Field], type[marshmallow.Schema]]:
    js = ResultDocument.model_json_schema(by_alias=True, mode="serialization")
    defs = js.get("$defs", {})
    built: dict = {}
    top = {k: _field(v, defs, built, False) for k, v in js["properties"].items()}
    defs = {**defs, "ResultDocument": js}
    return top, _schema("ResultDocument", defs, built)


def build_response_schema() -> type[marshmallow.Schema]:
    """One schema for the three ``output`` choices (a Swagger 2 response has no oneOf):

    - ``result`` (default): the ``herbmorph/result/1`` document itself, the same as the chain's;
    - ``opends``: the DiSSCo MAS message ``{"jobId", "annotations"}``;
    - ``both``: ``{"result": <document>, "opends": <message>}``.
    """
    top, document = _result_fields()
    for f in top.values():
        f.required = False  # absent for output=opends|both
    top["schema"].metadata["description"] = f"'{RESULT_SCHEMA}' (output=result)"
    top.update({
        "jobId": fields.Str(metadata={"description": "output=opends: the job id (urn:herbmorph:<sha256>)"}),
        "annotations": fields.List(fields.Dict(), metadata={"description": "output=opends: openDS 0.4 annotations"}),
        "result": fields.Nested(document, metadata={"description": "output=both: the result document"}),
        "opends": fields.Dict(metadata={"description": "output=both: {jobId, annotations}"}),
    })
    return marshmallow.Schema.from_dict(top, name=_PREFIX + "Prediction")
