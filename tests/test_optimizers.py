"""Optimizers are built with the configured hyperparameters; schedules give the right rate per epoch."""

import keras
import pytest

from harness.config.experiments import resolve
from harness.config.optimizers import OPTIMIZERS
from harness.config.schema import OptimizerConfig
from harness.training.optimizers import build_optimizer, learning_rates, schedule_callback
from tests.conftest import EXPERIMENTS


def _value(variable) -> float:
    return float(keras.ops.convert_to_numpy(variable))


@pytest.mark.parametrize(
    ("settings", "kind", "expected"),
    [
        ({"name": "sgd", "learning_rate": 0.01}, keras.optimizers.SGD, {"momentum": 0.0, "nesterov": False}),
        ({"name": "momentum", "learning_rate": 0.01}, keras.optimizers.SGD, {"momentum": 0.9, "nesterov": False}),
        (
            {"name": "nesterov", "learning_rate": 0.01, "momentum": 0.8},
            keras.optimizers.SGD,
            {"momentum": 0.8, "nesterov": True},
        ),
        ({"name": "rmsprop", "learning_rate": 0.001, "rho": 0.95}, keras.optimizers.RMSprop, {"rho": 0.95}),
        ({"name": "adagrad", "learning_rate": 0.01}, keras.optimizers.Adagrad, {}),
        (
            {"name": "adam", "learning_rate": 0.001, "beta_1": 0.8},
            keras.optimizers.Adam,
            {"beta_1": 0.8, "beta_2": 0.999},
        ),
        (
            {"name": "adamw", "learning_rate": 0.001, "weight_decay": 0.01},
            keras.optimizers.AdamW,
            {"weight_decay": 0.01},
        ),
    ],
)
def test_optimizers_get_their_type_and_hyperparameters(settings, kind, expected):
    optimizer = build_optimizer(OptimizerConfig(**settings))
    assert type(optimizer) is kind
    assert _value(optimizer.learning_rate) == pytest.approx(settings["learning_rate"])
    for key, value in expected.items():
        assert getattr(optimizer, key) == pytest.approx(value)


def _rates(name, *overrides, epochs=None):
    return learning_rates(resolve(name, EXPERIMENTS, list(overrides), epochs=epochs))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_an_optimizer_without_a_rate_takes_kerass_default_and_the_run_records_it(name):
    import inspect

    entry = OPTIMIZERS[name]
    keras_default = inspect.signature(getattr(keras.optimizers, entry.keras_class)).parameters["learning_rate"].default
    config = OptimizerConfig.model_validate({"name": name})
    assert config.learning_rate == entry.learning_rate == keras_default
    assert "learning_rate" in config.model_dump(exclude_none=True)  # written into the run's config.yaml
    assert _value(build_optimizer(config).learning_rate) == pytest.approx(keras_default)


def test_no_schedule_keeps_the_rate():
    assert _rates("adam") == [0.001] * 10


def test_adam_lr_steps_down_within_its_ten_epochs():
    assert _rates("adam_lr") == pytest.approx([0.001] * 5 + [0.0005] * 3 + [0.0001] * 2)


def test_the_seed_step_schedule_in_a_fifteen_epoch_run():
    rates = _rates("adam_lr", "schedule.boundaries=[5, 10]", epochs=15)
    assert rates == pytest.approx([0.001] * 5 + [0.0005] * 5 + [0.0001] * 5)


def test_exponential_decay_multiplies_every_epoch():
    rates = _rates("adam", "schedule={name: exponential, decay_rate: 0.5}", epochs=4)
    assert rates == pytest.approx([0.001, 0.0005, 0.00025, 0.000125])


def test_cosine_runs_from_the_rate_to_the_floor():
    rates = _rates("adam", "schedule={name: cosine, min_factor: 0.1}", epochs=5)
    assert rates == pytest.approx([0.001, 0.000868, 0.00055, 0.000232, 0.0001], rel=1e-3)


def test_warmup_rises_linearly_then_decays_by_cosine():
    rates = _rates("adam", "schedule={name: warmup_cosine, warmup_epochs: 2}", epochs=5)
    assert rates == pytest.approx([0.0005, 0.001, 0.001, 0.0005, 0.0], abs=1e-12)


def test_the_schedule_callback_sets_the_optimizer_rate_each_epoch():
    config = resolve("adam_lr", EXPERIMENTS)
    callback = schedule_callback(config)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=build_optimizer(config.optimizer), loss="mse")
    callback.set_model(model)
    seen = []
    for epoch in range(10):
        callback.on_epoch_begin(epoch)
        seen.append(_value(model.optimizer.learning_rate))
    assert seen == pytest.approx(learning_rates(config))
    assert schedule_callback(resolve("adam", EXPERIMENTS)) is None
