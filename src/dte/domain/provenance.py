"""What a finished run is, as data: the run manifest that the engine signs, and W3C PROV-JSON.

Both are derived from the run and step records alone, the same way when the run finishes and when
it is verified later, so any change to a record or an inline value shows up as a difference.
"""

from __future__ import annotations

from typing import Any

from dte.domain.runs import Run
from dte.domain.workflows import sha256_json

PROV_PREFIXES = {
    "dte": "https://github.com/dte-engine/dte/ns#",
    "run": "urn:dte:run:",
    "sha256": "urn:sha256:",
    "user": "urn:dte:user:",
    "app": "urn:dte:application:",
    "twin": "urn:dte:twin:",
}


def value_digest(packed: dict[str, Any]) -> str:
    """The sha256 of a step output: recomputed for inline values, as recorded for artifacts (whose
    bytes are checked against it in the object store)."""
    if "value" in packed:
        return sha256_json(packed["value"])
    return str(packed.get("sha256", ""))


def run_manifest(run: Run, engine_version: str) -> dict[str, Any]:
    """Hashes of everything that went into and came out of a run."""
    assert run.steps is not None
    return {
        "format": "dte-run-manifest/1",
        "run": run.id,
        "twin": run.twin_id,
        "application": run.application,
        "version": run.version,
        "bundle_sha256": run.bundle_sha256,
        "workflow": run.workflow,
        "definition_sha256": run.definition_sha256,
        "inputs": {name: sha256_json(value) for name, value in sorted(run.inputs.items())},
        "trigger": run.trigger.model_dump(mode="json"),
        "created_by": run.created_by,
        "steps": {s.name: {"component": s.component, "component_version": s.component_version,
                           "status": s.status.value, "cached": s.cached, "inputs": dict(sorted(s.inputs.items())),
                           "outputs": {p: value_digest(v) for p, v in sorted(s.outputs.items())}}
                  for s in sorted(run.steps, key=lambda s: s.name)},
        "outputs": {name: value_digest(v) for name, v in sorted(run.outputs.items())},
        "status": run.status.value,
        "error": run.error,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "engine_version": engine_version,
    }


def prov_document(run: Run, engine_version: str) -> dict[str, Any]:
    """The run as W3C PROV-JSON: steps are activities that used and generated entities (values by
    their sha256); the user, the application version and the engine are agents."""
    assert run.steps is not None
    run_id = f"run:{run.id}"
    user = f"user:{run.created_by}"
    app = f"app:{run.application}@{run.version}"
    engine = f"dte:engine-{engine_version}"
    doc: dict[str, Any] = {
        "prefix": PROV_PREFIXES,
        "entity": {
            f"sha256:{run.definition_sha256}": {"prov:type": "dte:WorkflowDefinition", "prov:label": run.workflow},
            f"sha256:{run.bundle_sha256}": {"prov:type": "dte:ApplicationBundle", "prov:label": app},
        },
        "activity": {run_id: {"prov:type": "dte:Run", "prov:label": f"{run.workflow} on {run.twin}",
                              "prov:startTime": _time(run.started_at), "prov:endTime": _time(run.finished_at),
                              "dte:status": run.status.value}},
        "agent": {
            user: {"prov:type": "prov:Person", "prov:label": run.created_by},
            app: {"prov:type": "prov:SoftwareAgent", "prov:label": f"{run.application} {run.version}"},
            engine: {"prov:type": "prov:SoftwareAgent", "prov:label": f"DTE {engine_version}"},
        },
        "wasAssociatedWith": {}, "used": {}, "wasGeneratedBy": {}, "wasInformedBy": {}, "actedOnBehalfOf": {},
        "wasStartedBy": {},
    }
    relations = {"n": 0}

    def relate(kind: str, **fields: Any) -> None:
        relations["n"] += 1
        doc[kind][f"_:{kind}{relations['n']}"] = fields

    relate("wasAssociatedWith", **{"prov:activity": run_id, "prov:agent": user})
    relate("wasAssociatedWith", **{"prov:activity": run_id, "prov:agent": engine,
                                   "prov:plan": f"sha256:{run.definition_sha256}"})
    relate("actedOnBehalfOf", **{"prov:delegate": engine, "prov:responsible": user})
    relate("used", **{"prov:activity": run_id, "prov:entity": f"sha256:{run.bundle_sha256}"})
    if run.trigger.kind != "manual":
        relate("wasStartedBy", **{"prov:activity": run_id, "dte:trigger": run.trigger.name or run.trigger.kind})
    for name, value in sorted(run.inputs.items()):
        entity = f"sha256:{sha256_json(value)}"
        doc["entity"].setdefault(entity, {"prov:type": "dte:Value", "prov:label": f"input {name}"})
        relate("used", **{"prov:activity": run_id, "prov:entity": entity, "prov:role": name})
    for step in run.steps:
        activity = f"{run_id}/{step.name}"
        doc["activity"][activity] = {"prov:type": "dte:Step", "prov:label": f"{step.name} ({step.component} "
                                     f"{step.component_version})", "prov:startTime": _time(step.started_at),
                                     "prov:endTime": _time(step.finished_at), "dte:status": step.status.value}
        relate("wasAssociatedWith", **{"prov:activity": activity, "prov:agent": app})
        relate("wasInformedBy", **{"prov:informed": activity, "prov:informant": run_id})
        for port, digest in sorted(step.inputs.items()):
            entity = f"sha256:{digest}"
            doc["entity"].setdefault(entity, {"prov:type": "dte:Value", "prov:label": f"{step.name}.{port} in"})
            relate("used", **{"prov:activity": activity, "prov:entity": entity, "prov:role": port})
        for port, packed in sorted(step.outputs.items()):
            entity = f"sha256:{value_digest(packed)}"
            doc["entity"][entity] = {"prov:type": "dte:Artifact" if packed.get("artifact") else "dte:Value",
                                     "prov:label": f"{step.name}.{port}", "dte:size": packed.get("size"),
                                     "dte:mediaType": packed.get("media_type")}
            relate("wasGeneratedBy", **{"prov:entity": entity, "prov:activity": activity, "prov:role": port})
    return {k: v for k, v in doc.items() if v}


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
