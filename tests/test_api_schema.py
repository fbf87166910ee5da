"""The public API is a promise to scripts and notebooks: it must not change under them.

tests/api_schema.json was written from the app before the package restructure (issue #12):
every public endpoint, its parameters in order with their components, and its outputs. An
endpoint may gain parameters at the end (with defaults), and new endpoints may appear;
nothing that exists may be renamed, reordered, retyped or removed. Endpoints added since are
appended to the snapshot when they land (so far /truncation_gif, /generator_costs, /gan2d,
the defences tab's five, /linearity and /physical_world), as are parameters added at the end
(/attack's start and transfer, the explorer's code), and keep the same promise from then on.
One promise was broken on purpose, a day after it was made: /gan2d's plane and curves came as
plotly figures, and now come as pictures (HTML <img> with an inline JPEG), because the live
view had to leave plotly to reach 10 frames a second in the browser (issue #14).
"""

from __future__ import annotations

import json
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("api_schema.json")


def test_every_public_endpoint_keeps_its_parameters_and_outputs(demo):
    snapshot = json.loads(SNAPSHOT.read_text())
    endpoints = demo.get_api_info()["named_endpoints"]
    missing = sorted(set(snapshot) - set(endpoints))
    assert not missing, f"public endpoints removed: {missing}"
    for name, promised in snapshot.items():
        params = endpoints[name]["parameters"]
        now = [[p["parameter_name"], p["component"]] for p in params]
        assert now[: len(promised["parameters"])] == promised["parameters"], name
        added = params[len(promised["parameters"]) :]
        assert all(p.get("parameter_has_default") for p in added), f"{name}: new without default"
        assert [r["component"] for r in endpoints[name]["returns"]] == promised["returns"], name


def test_a_caller_that_omits_a_parameter_added_later_gets_its_default(app_url):
    """/translate gained `upscale` (default False) at the end after the snapshot; a script that
    sends the three values it always sent, over plain HTTP, still gets its translation."""
    from pathlib import Path

    from tests.test_security import call, upload

    photo = upload(app_url, Path(__file__).resolve().parents[1] / "assets" / "chelsea.png")
    kind, outputs = call(app_url, "translate", [photo, "cyclegan-photo2vintage", 64])
    assert kind == "complete", outputs
    assert len(outputs) == 5 and outputs[1]["path"].endswith(".png")
