"""Models are builder functions found by name; the reference notebook's variants keep their architectures, and the
conv-net family builds, augments only while training, and flattens nothing it need not."""

import keras
import numpy as np
import pytest

from harness.config.experiments import resolve
from models.registry import MODELS, UnknownModel, build, find_builder
from tests.conftest import EXPERIMENTS

MNIST = (28, 28, 1)


def _seed(name: str, input_shape=MNIST, num_classes: int = 10, **changes) -> keras.Model:
    """A named model with the resolved config's parameters, as a run builds it."""
    config = resolve(
        "basic_dnn", EXPERIMENTS, [f"model={{builder: {name}}}"] + [f"model.{k}={v}" for k, v in changes.items()]
    )
    return build(config.model.builder, config.model.parameters, input_shape, num_classes)


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ("basic_dnn", 575_050),
        ("l1", 575_050),
        ("l2", 575_050),
        ("dropout", 575_050),
        ("combined", 575_050),
        ("simple", 235_146),
    ],
)
def test_seed_models_have_the_seed_parameter_counts(name, parameters):
    assert _seed(name).count_params() == parameters


def test_images_are_flattened_inside_the_model_and_rows_are_not():
    model = _seed("basic_dnn")
    assert model.input_shape == (None, 28, 28, 1) and model.get_layer("flatten").output.shape == (None, 784)
    assert model.get_layer("dense_1").count_params() == 784 * 512 + 512
    table = _seed("simple", input_shape=(64,))
    assert "flatten" not in [layer.name for layer in table.layers]
    assert table.count_params() == 64 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10


def _dense_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


@pytest.mark.parametrize(("name", "kind"), [("l1", "l1"), ("l2", "l2"), ("combined", "l2")])
def test_regularisers_sit_on_hidden_layers_only(name, kind):
    *hidden, output = _dense_layers(_seed(name))
    assert len(hidden) == 4
    for layer in hidden:
        assert layer.kernel_regularizer.get_config() == {kind: pytest.approx(0.001)}
    assert output.kernel_regularizer is None


@pytest.mark.parametrize(
    ("name", "rates"),
    [("dropout", [0.3, 0.3, 0.3, 0.3]), ("combined", [0.3, 0.3, 0.2, 0.2]), ("basic_dnn", []), ("simple", [])],
)
def test_dropout_rates_follow_the_seed(name, rates):
    model = _seed(name)
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == pytest.approx(rates)


def test_each_dropout_layer_follows_a_hidden_layer():
    names = [layer.name for layer in _seed("dropout").layers]
    assert names[2:] == [f"{kind}_{i}" for i in range(1, 5) for kind in ("dense", "dropout")] + ["softmax"]


def test_builder_options_change_the_model():
    model = _seed("simple", (64,), activation="tanh", initializer="he", batch_norm="true", hidden_units="[32]")
    assert [layer.name for layer in model.layers] == ["pixels", "dense_1", "batch_norm_1", "tanh_1", "softmax"]
    assert isinstance(model.get_layer("dense_1").kernel_initializer, keras.initializers.HeNormal)
    assert model.get_layer("softmax").activation is keras.activations.softmax


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "swish"])
def test_every_activation_builds_and_runs(activation):
    model = _seed("simple", (8,), 3, activation=activation)
    probabilities = keras.ops.convert_to_numpy(model(keras.ops.ones((2, 8))))
    assert probabilities.shape == (2, 3)
    assert probabilities.sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_the_conv_net_builds_blocks_and_augments_only_while_training():
    config = resolve("basic_dnn", EXPERIMENTS, ["model={builder: cnn, filters: [8, 16], dense: 32, translate: 0.2}"])
    model = build(config.model.builder, config.model.parameters, MNIST, 10)
    names = [layer.name for layer in model.layers]
    assert names[:2] == ["images", "translate"] and "block_2_pool" in names and names[-1] == "softmax"
    assert model.get_layer("block_1_conv_1").filters == 8 and model.get_layer("dense").units == 32
    images = np.random.default_rng(0).random((4, *MNIST)).astype("float32")
    evaluated = keras.ops.convert_to_numpy(model(images, training=False))
    assert np.allclose(evaluated, keras.ops.convert_to_numpy(model(images, training=False)))
    moved = keras.ops.convert_to_numpy(model.get_layer("translate")(images, training=True))
    assert not np.allclose(moved, images)  # shifted while training
    with pytest.raises(ValueError, match="cnn needs images"):
        build("cnn", config.model.parameters, (64,), 10)


def test_a_model_is_found_by_entry_file_or_module_path():
    assert find_builder("l2")[1]["l2"] == 0.001  # an entry: its presets
    assert find_builder("cnn")[0].__name__ == "cnn" and find_builder("models.cnn.cnn")[0] is find_builder("cnn")[0]
    for missing in ("resnet", "models.cnn.resnet", "nowhere.model"):
        with pytest.raises(UnknownModel):
            find_builder(missing)
    assert set(MODELS) >= {"basic_dnn", "l1", "l2", "dropout", "combined", "simple", "two_layer_net", "cnn"}


def test_models_are_built_with_keras_input_not_input_shape():
    model = _seed("basic_dnn")
    assert isinstance(model.layers[0], keras.layers.InputLayer)
