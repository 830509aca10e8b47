"""The LIME loop end to end on models whose right explanation is known in advance.

The models are fakes from ``_fakes``: class probabilities are a known function
of which words a document contains, so the words, signs, per-label fits and
reproducibility of the explanation can be checked exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from _fakes import FunctionModel, LinearProbabilityModel, WordLogitModel
from sklearn.linear_model import Ridge
from sklearn.metrics.pairwise import cosine_distances

from lime_cli.engine import LabelRequest, LimeParams, explain, explain_predictions, predict_samples
from lime_cli.errors import ModelError, UsageError
from lime_cli.run.settings import rng_for
from lime_cli.text.domain import TextDomain

REVIEW = (
    "The plot was great and the acting wonderful, yet the ending felt terrible "
    "and the pacing boring. The popcorn was fine and the seats were red."
)
SENTIMENT = {"great": 2.0, "wonderful": 1.5, "terrible": -2.0, "boring": -1.5}

TOPICS = "The striker scored a goal, the chef cooked pasta and the phone had a chip in it."
TOPIC_MODEL = {
    "sports": {"striker": 2.0, "goal": 1.5, "pasta": -0.5},
    "food": {"chef": 1.0, "pasta": 2.5},
    "tech": {"phone": 0.5, "chip": 1.0, "goal": -1.0},
}


def sentiment_model() -> WordLogitModel:
    """P(pos) = sigmoid(sum of the weights of the sentiment words present)."""
    return WordLogitModel({"neg": {}, "pos": SENTIMENT})


def run(
    text: str,
    model: object,
    labels: LabelRequest = LabelRequest(),
    seed: int = 0,
    **params: object,
):
    domain = TextDomain(text)
    settings = {"num_samples": 600, "seed": seed, **params}
    return explain(domain, model, labels, LimeParams(**settings), rng_for(seed, text.encode()))


def weights_of(label) -> dict[str, float]:
    return {f.feature: f.weight for f in label.features}


# -- the right words, with the right signs ---------------------------------------


@pytest.mark.parametrize("selection", ["auto", "forward", "highest", "lasso", "none"])
def test_words_the_model_uses_come_first_with_their_signs(selection):
    result = run(
        REVIEW,
        sentiment_model(),
        LabelRequest(names=("pos",)),
        num_features=4,
        feature_selection=selection,
    )
    label = result.explanations[0]
    assert label.label == "pos"
    top4 = {f.feature: f.weight for f in label.features[:4]}
    assert set(top4) == set(SENTIMENT)
    for word, weight in top4.items():
        assert np.sign(weight) == np.sign(SENTIMENT[word]), word


def test_the_other_class_gets_the_opposite_signs():
    result = run(
        REVIEW, sentiment_model(), LabelRequest(names=("neg", "pos")), num_features=4, seed=3
    )
    neg, pos = result.explanations
    assert (neg.label, pos.label) == ("neg", "pos")
    for word in SENTIMENT:
        assert np.sign(weights_of(neg)[word]) == -np.sign(SENTIMENT[word])
        assert np.sign(weights_of(pos)[word]) == np.sign(SENTIMENT[word])


def test_a_model_linear_in_words_is_recovered_almost_exactly():
    weights = {"great": 0.2, "wonderful": 0.1, "terrible": -0.15, "boring": -0.05}
    model = LinearProbabilityModel(0.5, weights)
    result = run(
        REVIEW, model, LabelRequest(names=("pos",)), num_samples=1500, feature_selection="none"
    )
    label = result.explanations[0]
    found = weights_of(label)
    assert len(found) == TextDomain(REVIEW).num_features
    for word, weight in weights.items():
        assert found[word] == pytest.approx(weight, rel=0.05)
    others = [abs(w) for word, w in found.items() if word not in weights]
    assert max(others) < 0.01
    assert label.intercept == pytest.approx(0.5, abs=0.01)
    assert label.score > 0.99
    assert label.model_prediction == pytest.approx(0.6)
    assert label.local_prediction == pytest.approx(0.6, abs=0.01)


def test_features_are_sorted_by_absolute_weight_and_carry_positions():
    result = run(REVIEW, sentiment_model(), num_features=6)
    domain = TextDomain(REVIEW)
    for label in result.explanations:
        magnitudes = [abs(f.weight) for f in label.features]
        assert magnitudes == sorted(magnitudes, reverse=True)
        for f in label.features:
            assert domain.feature_names[f.index] == f.feature
            for pos in f.info["positions"]:
                assert REVIEW[pos : pos + len(f.feature)] == f.feature


# -- every label its own surrogate -------------------------------------------------


def test_each_label_gets_its_own_intercept_score_and_local_prediction():
    """Refit each label's surrogate with scikit-learn on the same samples and compare."""
    domain = TextDomain(TOPICS)
    model = WordLogitModel(TOPIC_MODEL)
    params = LimeParams(num_samples=800, num_features=4, seed=1, batch_size=1000)
    z = domain.sample(params.num_samples, rng_for(1, b"topics"))
    y = predict_samples(domain, model, z, 1000)
    result = explain_predictions(
        domain, model, z, y, LabelRequest(names=("sports", "food", "tech")), params
    )

    distances = 100 * cosine_distances(z.astype(float), np.ones((1, z.shape[1]))).ravel()
    kernel = np.sqrt(np.exp(-(distances**2) / 25.0**2))
    assert [e.label for e in result.explanations] == ["sports", "food", "tech"]
    for label in result.explanations:
        idx = [f.index for f in label.features]
        target = y[:, label.label_index]
        ref = Ridge(alpha=1.0).fit(z[:, idx].astype(float), target, sample_weight=kernel)
        assert label.intercept == pytest.approx(ref.intercept_, rel=1e-6)
        np.testing.assert_allclose([f.weight for f in label.features], ref.coef_, rtol=1e-6)
        expected_score = ref.score(z[:, idx].astype(float), target, sample_weight=kernel)
        assert label.score == pytest.approx(expected_score, rel=1e-6)
        assert label.local_prediction == pytest.approx(ref.predict(np.ones((1, len(idx))))[0])
        assert label.model_prediction == pytest.approx(y[0, label.label_index])

    for field in ("intercept", "score", "local_prediction", "model_prediction"):
        values = [getattr(e, field) for e in result.explanations]
        assert len(set(values)) == 3, f"{field} is shared across labels: {values}"


def test_each_label_explains_its_own_words():
    result = run(TOPICS, WordLogitModel(TOPIC_MODEL), LabelRequest(top=3), num_features=4)
    by_label = {e.label: weights_of(e) for e in result.explanations}
    assert by_label["food"]["pasta"] > 0 and by_label["food"]["chef"] > 0
    assert by_label["sports"]["striker"] > 0 and by_label["sports"]["goal"] > 0
    assert by_label["sports"]["pasta"] < 0
    assert by_label["tech"]["chip"] > 0 and by_label["tech"]["pasta"] < 0


# -- seeds ----------------------------------------------------------------------


def test_same_seed_same_explanation_whatever_came_before():
    model = WordLogitModel(TOPIC_MODEL)
    first = run(TOPICS, model, LabelRequest(top=2), seed=42).to_dict()
    # Other documents, other seeds and the global NumPy state in between.
    run(REVIEW, sentiment_model(), seed=42)
    run(TOPICS, model, seed=7)
    state = np.random.get_state()
    try:
        np.random.seed(123)
        np.random.random(1000)
        again = run(TOPICS, model, LabelRequest(top=2), seed=42).to_dict()
    finally:
        np.random.set_state(state)
    assert again == first


def test_different_seeds_draw_different_samples_and_explanations():
    domain = TextDomain(REVIEW)
    a = domain.sample(300, rng_for(1, b"doc"))
    b = domain.sample(300, rng_for(2, b"doc"))
    assert not np.array_equal(a, b)
    model = sentiment_model()
    first = run(REVIEW, model, seed=1, num_features=8).explanations[0]
    second = run(REVIEW, model, seed=2, num_features=8).explanations[0]
    assert first.intercept != second.intercept
    assert [f.weight for f in first.features] != [f.weight for f in second.features]


def test_batch_size_does_not_change_the_result():
    model = WordLogitModel(TOPIC_MODEL)
    small = run(TOPICS, model, LabelRequest(top=3), seed=5, batch_size=7).to_dict()
    large = run(TOPICS, model, LabelRequest(top=3), seed=5, batch_size=5000).to_dict()
    small["params"].pop("batch_size", None)
    large["params"].pop("batch_size", None)
    assert small == large


# -- sampling and the calls to the model -------------------------------------------


def test_row_zero_is_the_original_and_the_model_sees_it_first():
    model = sentiment_model()
    domain = TextDomain(REVIEW)
    z = domain.sample(50, np.random.default_rng(0))
    assert z[0].min() == 1 and z[0].max() == 1
    run(REVIEW, model, num_samples=50)
    assert model.batches[0][0] == REVIEW


def test_model_is_called_in_batches_of_batch_size_with_progress():
    model = sentiment_model()
    seen: list[tuple[int, int]] = []
    domain = TextDomain(REVIEW)
    params = LimeParams(num_samples=95, batch_size=20)
    explain(
        domain,
        model,
        LabelRequest(),
        params,
        np.random.default_rng(0),
        lambda done, total: seen.append((done, total)),
    )
    assert [len(b) for b in model.batches] == [20, 20, 20, 20, 15]
    assert seen == [(20, 95), (40, 95), (60, 95), (80, 95), (95, 95)]


# -- the model's answers are checked ----------------------------------------------


def two_columns(docs: list[str]) -> np.ndarray:
    return np.tile([0.4, 0.6], (len(docs), 1))


BAD_ANSWERS = {
    "three_columns_for_two_classes": lambda docs: np.full((len(docs), 3), 1 / 3),
    "one_row_short": lambda docs: two_columns(docs)[1:],
    "flat_vector_for_two_classes": lambda docs: np.full(len(docs), 0.5),
    "nan": lambda docs: np.where(np.arange(len(docs))[:, None] == 3, np.nan, two_columns(docs)),
    "infinite": lambda docs: (
        np.where(np.arange(len(docs))[:, None] == 1, np.inf, 0.5) * np.ones((len(docs), 2))
    ),
}


@pytest.mark.parametrize("answer", BAD_ANSWERS, ids=list(BAD_ANSWERS))
def test_bad_model_answers_are_model_errors(answer):
    model = FunctionModel(["neg", "pos"], BAD_ANSWERS[answer])
    with pytest.raises(ModelError):
        run(REVIEW, model, num_samples=40, batch_size=16)


def test_regression_accepts_one_value_per_sample():
    model = FunctionModel(
        ["value"],
        lambda docs: np.array([3.0 * ("great" in d) - 1.0 * ("boring" in d) for d in docs]),
        mode="regression",
    )
    result = run(REVIEW, model, num_features=2, num_samples=400)
    assert result.prediction == {"value": pytest.approx(2.0)}
    (label,) = result.explanations
    assert label.label == "value"
    assert weights_of(label).keys() == {"great", "boring"}
    assert weights_of(label)["great"] > 0 > weights_of(label)["boring"]


@pytest.mark.parametrize("selection", ["auto", "forward", "highest", "lasso", "none"])
def test_constant_model_warns_and_still_explains(selection):
    model = FunctionModel(["neg", "pos"], two_columns)
    result = run(REVIEW, model, num_features=3, feature_selection=selection, num_samples=200)
    assert result.warnings and "'pos'" in result.warnings[0]
    (label,) = result.explanations
    expected = TextDomain(REVIEW).num_features if selection == "none" else 3
    assert len(label.features) == expected
    assert all(abs(f.weight) < 1e-9 for f in label.features)
    assert label.local_prediction == pytest.approx(0.6)
    assert np.isfinite(label.score)


def test_a_model_that_varies_gives_no_constant_output_warning():
    warnings = run(REVIEW, sentiment_model()).warnings
    assert not any("same for every sample" in w for w in warnings)


# -- which labels are explained ----------------------------------------------------


def topic_labels(request: LabelRequest) -> list[str]:
    result = run(TOPICS, WordLogitModel(TOPIC_MODEL), request, num_samples=60, num_features=2)
    return [e.label for e in result.explanations]


def probabilities() -> dict[str, float]:
    result = run(TOPICS, WordLogitModel(TOPIC_MODEL), num_samples=20)
    return result.prediction["probabilities"]


def test_default_explains_the_predicted_class():
    probs = probabilities()
    predicted = max(probs, key=probs.get)
    assert topic_labels(LabelRequest()) == [predicted]
    result = run(TOPICS, WordLogitModel(TOPIC_MODEL), num_samples=20)
    assert result.prediction["predicted"] == predicted
    assert sum(probs.values()) == pytest.approx(1.0)


def test_top_labels_are_the_most_probable_in_order():
    probs = probabilities()
    ranked = sorted(probs, key=probs.get, reverse=True)
    assert len(set(probs.values())) == 3
    assert topic_labels(LabelRequest(top=2)) == ranked[:2]
    assert topic_labels(LabelRequest(top=99)) == ranked


def test_named_labels_are_explained_in_the_order_given():
    assert topic_labels(LabelRequest(names=("tech", "sports"))) == ["tech", "sports"]
    assert topic_labels(LabelRequest(names=("2",))) == ["tech"]


def test_unknown_label_is_a_usage_error_naming_the_classes():
    with pytest.raises(UsageError) as info:
        topic_labels(LabelRequest(names=("weather",)))
    assert "weather" in info.value.message and "sports" in info.value.message


# -- parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"num_samples": 1},
        {"num_features": 0},
        {"batch_size": 0},
        {"kernel_width": 0.0},
        {"kernel_width": -3.0},
        {"feature_selection": "forward_selection"},
    ],
)
def test_impossible_parameters_are_usage_errors(bad):
    with pytest.raises(UsageError):
        run(REVIEW, sentiment_model(), **bad)


def test_kernel_width_defaults_to_lime_text_width_and_can_be_changed():
    model = sentiment_model()
    default = run(REVIEW, model, seed=4)
    assert default.params["kernel_width"] == 25.0
    wide = run(REVIEW, model, seed=4, kernel_width=250.0)
    assert wide.params["kernel_width"] == 250.0
    assert wide.explanations[0].intercept != default.explanations[0].intercept


def test_params_are_reported():
    result = run(REVIEW, sentiment_model(), seed=9, num_features=3, feature_selection="highest")
    params = result.params
    assert params["num_samples"] == 600
    assert params["num_features"] == 3
    assert params["feature_selection"] == "highest"
    assert params["seed"] == 9
