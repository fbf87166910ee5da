"""The defences & black-box tab: its endpoints in-process and through gradio_client (bad values
answered with a message, small real runs), and the tab in a real browser at three sizes."""

from __future__ import annotations

import math

import pytest
from gradio_client.exceptions import AppError

from advdemo.tabs import TABS, defences
from advdemo.tabs import defences_blackbox as bb

# Out-of-range values are refused by the server's input checks (the slider's limits) or, where
# no component declares one, by the endpoint's own: either message names the limit.
LOW = "less than minimum|at least"
HIGH = "greater than maximum|at most"
SMALL = {
    "dataset": "digits",
    "arch": "mlp",
    "eps_k": 51,
    "lam": 1.0,
    "epochs": 1,
    "pgd_steps": 1,
    "seed": 0,
}


def test_tab_sits_right_after_the_adversarial_playground():
    ids = [t.TAB_ID for t in TABS]
    assert ids[ids.index("adversarial") + 1] == "defences"


def test_presets_fill_every_control_they_name():
    values = defences.apply_preset("small-eps")
    assert len(values) == len(defences.CONTROLS) + 2
    assert dict(zip(defences.CONTROLS, values, strict=False))["eps_k"] == 24


def _last(generator):
    return list(generator)[-1]


def _no_progress(*args, **kwargs):
    return None


def test_a_second_train_with_the_same_settings_comes_from_the_cache(store):
    args = {**SMALL, "method": "standard"}
    first = list(defences.defence_train(store, **args, progress=_no_progress))
    second = list(defences.defence_train(store, **args, progress=_no_progress))
    assert len(second) == 1  # no status lines: nothing was trained
    assert first[-1][0] == second[-1][0] and "held-out digits right" in second[-1][0]


def test_mnist_offline_says_so(store):
    from advdemo.core.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="offline"):
        _last(
            defences.defence_train(
                store, **{**SMALL, "dataset": "mnist"}, method="standard", progress=_no_progress
            )
        )


@pytest.mark.parametrize(
    ("endpoint", "changes"),
    [
        (defences.defence_train, {**SMALL, "method": "pgd", "eps_k": math.nan}),
        (defences.defence_train, {**SMALL, "method": "fgsm", "lam": math.nan}),
        (defences.robustness_curve, {**SMALL, "epochs": math.inf}),
        (bb.transfer, {"substitutes": 1, "rounds": math.nan, "eps_k": 51, "seed_value": 0}),
        (
            bb.blackbox_attack,
            {
                "victim": "digits",
                "method": "square",
                "eps_k": math.nan,
                "budget": 20,
                "seed_value": 0,
            },
        ),
    ],
)
def test_nan_and_infinity_get_a_message_before_any_work(store, endpoint, changes):
    from advdemo.core.errors import InputError

    with pytest.raises(InputError, match="finite"):
        _last(endpoint(store, **changes, progress=_no_progress))


@pytest.mark.parametrize(
    ("api_name", "changes", "message"),
    [
        ("/defence_train", {"eps_k": -3}, LOW),
        ("/defence_train", {"eps_k": 10**6}, HIGH),
        ("/defence_train", {"lam": -1}, LOW),
        ("/defence_train", {"epochs": 10**9}, HIGH),
        ("/defence_train", {"pgd_steps": 0}, LOW),
        ("/defence_train", {"method": "dropout"}, "dropout"),
        ("/defence_train", {"arch": "resnet50"}, "resnet50"),
        ("/defence_train", {"dataset": "cifar"}, "cifar"),
        ("/robustness_curve", {"eps_k": 65}, HIGH),
        ("/detector", {"weight": -1}, LOW),
        ("/detector", {"eps_k": 0}, "set ε to 1/255 or more"),
        ("/blackbox_attack", {"budget": 0}, LOW),
        ("/blackbox_attack", {"budget": 10**8}, HIGH),
        ("/blackbox_attack", {"victim": "resnet-50"}, "resnet-50"),
        ("/blackbox_attack", {"method": "gradient"}, "gradient"),
        ("/transfer", {"substitutes": 99}, HIGH),
    ],
)
def test_api_refuses_bad_values_with_a_clear_message(client, api_name, changes, message):
    base = {
        "/defence_train": {**SMALL, "method": "standard"},
        "/robustness_curve": SMALL,
        "/detector": {k: SMALL[k] for k in ("dataset", "arch", "eps_k", "epochs", "seed")}
        | {"weight": 1.0},
        "/blackbox_attack": {
            "victim": "digits",
            "method": "square",
            "eps_k": 51,
            "budget": 20,
            "seed_value": 0,
        },
        "/transfer": {"substitutes": 1, "rounds": 1, "eps_k": 51, "seed_value": 0},
    }[api_name]
    with pytest.raises(AppError, match=message):
        client.predict(**{**base, **changes}, api_name=api_name)


@pytest.mark.slow
def test_api_robustness_curve_returns_table_plot_grid_and_losses(client):
    table, curve, grid, losses = client.predict(**SMALL, api_name="/robustness_curve")
    assert table.count("\n|") == 4 and "PGD-trained" in table
    assert curve["type"] == "plotly" and losses["type"] == "plotly"
    assert grid and grid.endswith(".png")


@pytest.mark.slow
def test_api_query_attack_on_the_digits(client):
    summary, plot, picture = client.predict(
        victim="digits",
        method="square",
        eps_k=51,
        budget=200,
        seed_value=0,
        api_name="/blackbox_attack",
    )
    assert "fooled on 10 digits" in summary and plot["type"] == "plotly"
    assert picture.endswith(".png")


def test_victim_sets_a_budget_that_suits_it():
    assert bb.victim_changed("efficientnet-lite0")["value"] == 16
    assert bb.victim_changed("digits")["value"] == 51


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_presets(store):
    """The preset's three models trained in the app's store (what the app's warm-up does), so
    the browser waits for the page, not for minutes of training on a busy machine."""
    defences.warm_up(store)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(
    ("width", "height", "query", "name"),
    [(1366, 900, "", "laptop"), (1920, 1080, "?lecture=1", "lecture"), (390, 844, "", "phone")],
)
def test_the_preset_draws_curve_and_grid(
    page, app_url, artifacts, trained_presets, width, height, query, name
):
    page.set_viewport_size({"width": width, "height": height})
    page.goto(app_url + query)
    # the tab row wraps (phones included), so every tab is a visible button of its own
    page.get_by_role("tab", name=defences.TITLE).click()
    page.click("#def-preset-compare")
    page.wait_for_selector("#def-curve .js-plotly-plot .gtitle", timeout=180_000)
    page.locator("#def-grid").scroll_into_view_if_needed()  # images below the fold load lazily
    page.wait_for_function(
        "(() => { const i = document.querySelector('#def-grid img');"
        " return i && i.complete && i.naturalWidth > 0; })()",
        timeout=120_000,
    )
    assert "PGD-trained" in page.inner_text("#def-summary")
    page.screenshot(path=str(artifacts / f"defences_{name}.png"), full_page=True)


def test_black_box_presets_set_what_they_name_and_skip_the_rest():
    names = ("victim", "eps_k", "substitutes")
    cat = bb.preset_values("cat", names)
    assert cat[:2] == ("efficientnet-lite0", 16)
    assert cat[2] is not None and not isinstance(cat[2], int)  # gr.skip(): left as it is
    assert bb.preset_values("transfer", names) == ("digits", 51, 3)
