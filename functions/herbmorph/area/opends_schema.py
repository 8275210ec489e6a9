"""Validation of openDS 0.4 annotations against the local schema files (``$ref``s resolved to the
files in the folder given; nothing is fetched from the network), plus what DiSSCo's annotation
processing needs beyond the schema (a selector and a creator ``@id`` on every annotation, no two
alike on its de-duplication hash)."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from herbmorph.area.opends import EVENT_SCHEMA, REQUEST_SCHEMA, hash_inputs


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


def validate_annotations(annotations: Iterable[dict], schema_dir: Path) -> None:
    """Raise unless every annotation is a valid new openDS 0.4 annotation.

    Checks each against annotation-processing-request.json (with the ``$ref``s resolved to the
    local files), that none has an ``@id`` (DiSSCo mints it), that ``dcterms:created`` parses,
    and what DiSSCo's processing needs beyond the schema: a selector and a creator ``@id`` on
    every annotation, and no two alike on its de-duplication key (:func:`hash_inputs`).
    Raises ``jsonschema.ValidationError`` or ``ValueError``.
    """
    validator = _validator(schema_dir, REQUEST_SCHEMA)
    seen: dict[tuple, int] = {}
    for i, a in enumerate(annotations):
        where = f"annotation {i}"
        _raise_first(validator, a, where)
        if "@id" in a:
            raise ValueError(f"{where}: a new annotation must not have an @id")
        _check_created(a.get("dcterms:created"), where)
        if "oa:hasSelector" not in a["oa:hasTarget"]:
            raise ValueError(f"{where}: no oa:hasSelector (DiSSCo hashes the selector)")
        if not a["dcterms:creator"].get("@id"):
            raise ValueError(f"{where}: the creator has no @id (DiSSCo hashes it)")
        key = hash_inputs(a)
        if key in seen:
            raise ValueError(f"{where} collides with annotation {seen[key]} on target+selector+creator+motivation")
        seen[key] = i


def validate_event(event: dict, schema_dir: Path) -> None:
    """Raise unless ``event`` is a valid annotation-processing-event (and its annotations are)."""
    _raise_first(_validator(schema_dir, EVENT_SCHEMA), event, "annotation-processing-event")
    validate_annotations(event.get("annotations", []), schema_dir)
