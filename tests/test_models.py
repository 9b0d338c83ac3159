"""The model factories build the seed notebook's architectures."""

import keras
import pytest

from models.registry import FACTORIES, build_model

MNIST_INPUTS = 784


@pytest.mark.parametrize(
    ("factory", "parameters"),
    [
        ("basic_dnn", 575_050),
        ("l1", 575_050),
        ("l2", 575_050),
        ("dropout", 575_050),
        ("combined", 575_050),
        ("simple", 235_146),
    ],
)
def test_seed_factories_have_the_seed_parameter_counts(factory, parameters):
    assert build_model(factory, MNIST_INPUTS, 10).count_params() == parameters


def test_basic_dnn_first_layer_has_the_seed_count():
    model = build_model("basic_dnn", MNIST_INPUTS, 10)
    assert model.get_layer("dense_1").count_params() == 784 * 512 + 512


def _dense_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


@pytest.mark.parametrize(("factory", "kind"), [("l1", "l1"), ("l2", "l2"), ("combined", "l2")])
def test_regularisers_sit_on_hidden_layers_only(factory, kind):
    *hidden, output = _dense_layers(build_model(factory, MNIST_INPUTS, 10))
    assert len(hidden) == 4
    for layer in hidden:
        assert layer.kernel_regularizer.get_config() == {kind: pytest.approx(0.001)}
    assert output.kernel_regularizer is None


@pytest.mark.parametrize(
    ("factory", "rates"),
    [("dropout", [0.3, 0.3, 0.3, 0.3]), ("combined", [0.3, 0.3, 0.2, 0.2]), ("basic_dnn", []), ("simple", [])],
)
def test_dropout_rates_follow_the_seed(factory, rates):
    model = build_model(factory, MNIST_INPUTS, 10)
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == pytest.approx(rates)


def test_each_dropout_layer_follows_a_hidden_layer():
    names = [layer.name for layer in build_model("dropout", MNIST_INPUTS, 10).layers]
    assert names[1:] == [f"{kind}_{i}" for i in range(1, 5) for kind in ("dense", "dropout")] + ["softmax"]


def test_input_width_comes_from_the_dataset():
    model = build_model("simple", 64, 10)
    assert model.input_shape == (None, 64)
    assert model.count_params() == 64 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10


def test_builder_options_change_the_model():
    model = build_model("simple", 64, 10, activation="tanh", initializer="he", batch_norm=True, hidden_units=[32])
    names = [layer.name for layer in model.layers]
    assert names == ["pixels", "dense_1", "batch_norm_1", "tanh_1", "softmax"]
    dense = model.get_layer("dense_1")
    assert isinstance(dense.kernel_initializer, keras.initializers.HeNormal)
    assert model.get_layer("softmax").activation is keras.activations.softmax


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "swish"])
def test_every_activation_builds_and_runs(activation):
    model = build_model("simple", 8, 3, activation=activation)
    probabilities = keras.ops.convert_to_numpy(model(keras.ops.ones((2, 8))))
    assert probabilities.shape == (2, 3)
    assert probabilities.sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_unknown_factory_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model factory 'resnet'") as error:
        build_model("resnet", MNIST_INPUTS, 10)
    for name in FACTORIES:
        assert name in str(error.value)


def test_models_are_built_with_keras_input_not_input_shape():
    model = build_model("basic_dnn", MNIST_INPUTS, 10)
    assert isinstance(model.layers[0], keras.layers.InputLayer)
