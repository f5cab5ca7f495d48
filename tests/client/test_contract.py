"""The client's copy of the wire types must match the service's schema, field by field, so the two cannot drift.

The service's schema is generated from its pydantic models (`service.protocol`), the same models its OpenAPI
document is generated from; when `service.app.create_app` exists, the OpenAPI document itself is checked as well.
Compared per field: name, required-ness, type, enum values, constraints and defaults (descriptions and titles may
differ). The one allowed difference is `Judgment.reason`'s client-only values (`CLIENT_FAILURE_REASONS`).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel

from trainer_client import _types as client_types
from trainer_client._types import CLIENT_FAILURE_REASONS

protocol = pytest.importorskip("service.protocol", reason="the service is not installed next to the client")

MODELS = [
    "ToolCallFunction",
    "ToolCall",
    "Message",
    "JudgeItem",
    "JudgeOptions",
    "JudgeRequest",
    "Usage",
    "Judgment",
    "JudgeResponse",
    "RenderedItem",
    "RenderResponse",
    "ErrorBody",
    "ErrorResponse",
]


def _strip(node: Any) -> Any:
    """Drop documentation keywords (never property names: `properties` maps names to schemas)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("title", "description"):
                continue
            if key in ("properties", "$defs"):
                out[key] = {name: _strip(sub) for name, sub in value.items()}
            else:
                out[key] = _strip(value)
        return out
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _without_client_reasons(schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    reason = schema["properties"]["reason"]
    client_branch = {"enum": list(CLIENT_FAILURE_REASONS), "type": "string"}
    assert client_branch in reason["anyOf"], "the client's Judgment.reason lost its client-only values"
    reason["anyOf"].remove(client_branch)
    return schema


def _own_schema(model: type[BaseModel], mode: str) -> dict[str, Any]:
    schema = _strip(model.model_json_schema(mode=mode))  # type: ignore[arg-type]
    schema.pop("$defs", None)  # each referenced model is compared on its own
    return schema


def _diff(name: str, service: dict[str, Any], client: dict[str, Any]) -> list[str]:
    problems = []
    s_props, c_props = service.get("properties", {}), client.get("properties", {})
    for field in sorted(s_props.keys() - c_props.keys()):
        problems.append(f"{name}.{field}: in the service, missing in the client")
    for field in sorted(c_props.keys() - s_props.keys()):
        problems.append(f"{name}.{field}: in the client, not in the service")
    if sorted(service.get("required", [])) != sorted(client.get("required", [])):
        problems.append(f"{name}: required {service.get('required')} (service) vs {client.get('required')} (client)")
    for field in sorted(s_props.keys() & c_props.keys()):
        if s_props[field] != c_props[field]:
            problems.append(f"{name}.{field}: service {s_props[field]} != client {c_props[field]}")
    rest_s = {k: v for k, v in service.items() if k not in ("properties", "required")}
    rest_c = {k: v for k, v in client.items() if k not in ("properties", "required")}
    if rest_s != rest_c:
        problems.append(f"{name}: model-level schema {rest_s} != {rest_c}")
    return problems


@pytest.mark.parametrize("mode", ["validation", "serialization"])
@pytest.mark.parametrize("name", MODELS)
def test_client_type_matches_service_schema(name: str, mode: str) -> None:
    service = _own_schema(getattr(protocol, name), mode)
    client = _own_schema(getattr(client_types, name), mode)
    if name == "Judgment":
        client = _without_client_reasons(client)
    problems = _diff(name, service, client)
    assert not problems, "wire types drifted:\n" + "\n".join(problems)


def test_failure_reasons_match_and_client_only_ones_are_disjoint() -> None:
    from typing import get_args

    service_reasons = set(get_args(protocol.FailureReason))
    assert service_reasons == set(get_args(client_types.FailureReason))
    assert not service_reasons & set(CLIENT_FAILURE_REASONS)
    assert set(get_args(client_types.ClientFailureReason)) == set(CLIENT_FAILURE_REASONS)


def test_every_service_wire_model_has_a_client_copy() -> None:
    wire = {n for n in protocol.__all__ if isinstance(getattr(protocol, n), type)} - {"InfoResponse"}
    assert wire <= set(MODELS), f"service models without a client copy: {sorted(wire - set(MODELS))}"


def test_openapi_document_when_the_app_exists() -> None:
    app_module = pytest.importorskip("service.app", reason="service.app not written yet")
    settings_module = pytest.importorskip("service.settings")
    try:
        app = app_module.create_app(settings_module.Settings(model="demo"))
        components = app.openapi()["components"]["schemas"]
    except Exception as exc:  # the app's construction is the service's business; only the schema matters here
        pytest.skip(f"could not build the OpenAPI document without an engine: {exc!r}")
    problems = []
    for name in MODELS:
        # FastAPI names a model `X-Input` / `X-Output` when its two modes differ.
        for key, mode in ((name, "validation"), (f"{name}-Input", "validation"), (f"{name}-Output", "serialization")):
            if key in components:
                client = _own_schema(getattr(client_types, name), mode)
                if name == "Judgment":
                    client = _without_client_reasons(client)
                service = _rewrite_refs(_strip(components[key]))
                problems += _diff(key, _loose(service), _loose(client))
    assert {"JudgeRequest", "JudgeResponse"} & {k.split("-")[0] for k in components}
    assert not problems, "OpenAPI document and client types drifted:\n" + "\n".join(problems)


def _loose(node: Any) -> Any:
    """FastAPI's OpenAPI rendering omits `default: null` and writes numeric bounds as floats: compare modulo that."""
    if isinstance(node, dict):
        return {k: _loose(v) for k, v in node.items() if not (k == "default" and v is None)}
    if isinstance(node, list):
        return [_loose(v) for v in node]
    if isinstance(node, int) and not isinstance(node, bool):
        return float(node)
    return node


def _rewrite_refs(node: Any) -> Any:
    """OpenAPI refs point at #/components/schemas/X(-Input|-Output); pydantic's at #/$defs/X."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                target = value.rsplit("/", 1)[-1].removesuffix("-Input").removesuffix("-Output")
                out[key] = f"#/$defs/{target}"
            else:
                out[key] = _rewrite_refs(value)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node
