"""Face directions and probes: the labels, the stored files, and what the directions do."""

from __future__ import annotations

import json
import math

import pytest
import torch

from advdemo.faces import attributes as fa

NZ = 100


@pytest.fixture(scope="module")
def g(store):
    return store.face_generator()


def test_faces_and_features_is_one_pass_of_the_generator(g):
    z = g.sample_z(5, 3)
    faces, features = fa.faces_and_features(g, z)
    torch.testing.assert_close(faces, g.generate(z), atol=1e-5, rtol=0)
    torch.testing.assert_close(features, fa.probe_features(g, z), atol=1e-5, rtol=1e-5)
    assert features.shape == (3, 1024)


def test_labels_file_schema():
    doc = fa.labels()
    assert doc["model"] == fa.MODEL and len(doc["note"]) > 100
    for part in ("attributes", "heldout"):
        assert set(doc[part]) == set(fa.ATTRIBUTES)
        for name, sets in doc[part].items():
            assert len(sets["positive"]) >= 12 and len(sets["negative"]) >= 12, name
            assert not set(sets["positive"]) & set(sets["negative"]), name
    for name in fa.ATTRIBUTES:  # held-out seeds never build anything
        built = {s for v in doc["attributes"][name].values() for s in v}
        held = {s for v in doc["heldout"][name].values() for s in v}
        assert not built & held, name


def test_labelled_seeds_satisfy_every_condition():
    sets = fa.labels()["attributes"]
    men_with_glasses = fa.labelled({"man": True, "glasses": True})
    assert men_with_glasses == sorted(men_with_glasses) and men_with_glasses
    assert set(men_with_glasses) <= set(sets["man"]["positive"]) & set(sets["glasses"]["positive"])
    with pytest.raises(KeyError, match="no labels for 'hat'"):
        fa.labelled({"hat": True})


def test_principal_directions_file_matches_a_fresh_computation(g):
    stored = fa.principal_directions()
    assert stored.vectors.shape == (fa.N_PRINCIPAL, NZ)
    torch.testing.assert_close(stored.vectors.norm(dim=1), torch.ones(fa.N_PRINCIPAL))
    assert bool((stored.explained[:-1] >= stored.explained[1:]).all())
    # the script's computation, rerun, gives the stored directions (the file is not stale)
    fresh = fa.compute_principal_directions(g)
    cos = (fresh.vectors * stored.vectors).sum(1)
    assert bool((cos > 0.99).all()), cos


def test_probes_are_validated_on_heldout_seeds(g):
    """The stored accuracies are what the stored weights score on the held-out seeds."""
    for name, probe in fa.probes().items():
        z, y = fa.probe_examples(g, name, "heldout")
        acc = fa.accuracy(probe.logits(fa.probe_features(g, z)), y)
        assert acc == pytest.approx(probe.heldout_accuracy, abs=1e-3), name
        assert acc >= 0.8, (name, acc)


def test_probe_file_matches_the_script(g):
    doc = json.loads(fa.PROBES_PATH.read_text())
    assert set(doc["probes"]) == set(fa.ATTRIBUTES)
    # refit one probe as the script does (with its cross-validated L2 strength)
    stored = fa.probes()["dark_hair"]
    z, y = fa.probe_examples(g, "dark_hair", "attributes")
    weight, bias = fa.fit_logistic(fa.probe_features(g, z), y, stored.l2)
    cos = torch.nn.functional.cosine_similarity(weight, stored.weight, dim=0)
    assert float(cos) > 0.99
    assert bias == pytest.approx(stored.bias, abs=0.05 * (1 + abs(stored.bias)))


@pytest.mark.parametrize("name", fa.ATTRIBUTES)
def test_attribute_direction_moves_heldout_faces_the_labelled_way(g, name):
    """Moving held-out faces along the attribute's direction raises the probe's score for it,
    and moving them the other way lowers it, for most faces and on average."""
    sets = fa.labels()["heldout"][name]
    z = fa.seed_codes(g, sets["positive"] + sets["negative"])
    d = fa.attribute_direction(g, name)
    base = fa.attribute_score(g, z, name)
    up = fa.attribute_score(g, z + 3 * d, name)
    down = fa.attribute_score(g, z - 3 * d, name)
    assert float((up - base).mean()) > 0.15, name
    assert float((base - down).mean()) > 0.15, name
    assert float((up > base).float().mean()) >= 0.8, name
    # and it moves the faces, not just the code: pixels change visibly
    assert float((g.generate(z + 3 * d) - g.generate(z)).abs().mean()) > 0.02


def test_attribute_score_shapes_and_errors(g):
    z = fa.seed_codes(g, [1, 2])
    assert fa.attribute_score(g, z, "glasses").shape == (2,)
    assert fa.attribute_score(g, z[0], "smile").shape == (1,)
    scores = fa.attribute_scores(g, z)
    assert set(scores) == set(fa.ATTRIBUTES)
    assert all(bool(((s >= 0) & (s <= 1)).all()) for s in scores.values())
    with pytest.raises(ValueError, match="unknown attribute"):
        fa.attribute_score(g, z, "hat")
    with pytest.raises(ValueError, match="shape"):
        fa.attribute_score(g, torch.zeros(2, 7), "smile")
    with pytest.raises(ValueError, match="NaN"):
        fa.attribute_score(g, torch.full((1, NZ), math.nan), "smile")
