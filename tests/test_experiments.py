"""Experiment files: each reference experiment has the reference notebook's values; bad files say what is wrong."""

from pathlib import Path

import pytest

import benchmarks.suite
from harness.config.experiments import available, resolve
from harness.errors import UserError
from tests.conftest import EXPERIMENTS, run_harness

REFERENCE_EXPERIMENTS = list(benchmarks.suite.REFERENCE_EXPERIMENTS)  # the reference notebook's ten


def test_the_ten_reference_experiments_the_textbook_network_and_the_showcases_exist():
    showcases = ["scratch_two_layer", "fashion_mlp_best", "fashion_cnn"]
    assert sorted(available(EXPERIMENTS)) == sorted(REFERENCE_EXPERIMENTS + showcases)


def test_the_showcase_is_the_point_its_sweep_found_on_the_full_fashion_mnist():
    config = resolve("fashion_mlp_best", EXPERIMENTS)
    assert (config.dataset.name, config.dataset.train_size, config.dataset.val_size) == ("fashion_mnist", 55000, 5000)
    assert config.model.parameters["hidden_units"] == [1024, 512, 256] and config.model.parameters["batch_norm"]
    assert (config.optimizer.learning_rate, config.model.parameters["dropout"], config.training.batch_size) == (
        0.0008,
        0.36,
        256,
    )


@pytest.mark.parametrize("name", REFERENCE_EXPERIMENTS)
def test_every_experiment_uses_the_reference_training_setup(name):
    config = resolve(name, EXPERIMENTS)
    assert config.name == name
    assert config.description
    assert config.dataset.name == "mnist"
    assert (config.dataset.train_size, config.dataset.val_size) == (10_000, 2_000)
    assert config.training.batch_size == 128


@pytest.mark.parametrize(
    ("name", "builder", "l1", "l2", "dropout"),
    [
        ("basic_dnn", "basic_dnn", 0.0, 0.0, []),
        ("l1", "l1", 0.001, 0.0, []),
        ("l2", "l2", 0.0, 0.001, []),
        ("dropout", "dropout", 0.0, 0.0, [0.3, 0.3, 0.3, 0.3]),
        ("combined", "combined", 0.0, 0.001, [0.3, 0.3, 0.2, 0.2]),
    ],
)
def test_model_variants_follow_the_reference_notebook(name, builder, l1, l2, dropout):
    config = resolve(name, EXPERIMENTS)
    assert config.model.builder == builder
    assert config.model.parameters["hidden_units"] == [512, 256, 128, 64]
    assert (config.model.parameters["l1"], config.model.parameters["l2"], config.model.parameters["dropout"]) == (
        l1,
        l2,
        dropout,
    )
    assert (config.optimizer.name, config.optimizer.learning_rate) == ("adam", 0.001)
    assert config.training.epochs == 15


@pytest.mark.parametrize(
    ("name", "optimizer", "learning_rate", "momentum"),
    [
        ("sgd", "sgd", 0.01, None),
        ("momentum", "momentum", 0.01, 0.9),
        ("rmsprop", "rmsprop", 0.001, None),
        ("adam", "adam", 0.001, None),
        ("adam_lr", "adam", 0.001, None),
    ],
)
def test_optimizer_variants_follow_the_reference_notebook(name, optimizer, learning_rate, momentum):
    config = resolve(name, EXPERIMENTS)
    assert config.model.builder == "simple"
    assert config.model.parameters["hidden_units"] == [256, 128]
    assert (config.optimizer.name, config.optimizer.learning_rate, config.optimizer.momentum) == (
        optimizer,
        learning_rate,
        momentum,
    )
    assert config.training.epochs == 10


def test_adam_lr_reaches_every_step_of_its_schedule_within_its_epochs():
    config = resolve("adam_lr", EXPERIMENTS)
    assert config.schedule.factors == [1.0, 0.5, 0.1]
    assert max(config.schedule.boundaries) < config.training.epochs
    assert resolve("adam", EXPERIMENTS).schedule is None


def test_a_variant_inherits_from_its_parent_and_records_it():
    config = resolve("sgd", EXPERIMENTS)
    assert config.extends == "adam"
    assert config.training == resolve("adam", EXPERIMENTS).training
    assert "SGD" in config.description


def _write(experiments: Path, name: str, text: str) -> None:
    (experiments / f"{name}.yaml").write_text(text)


def test_a_variant_that_changes_the_optimizer_kind_does_not_inherit_its_parameters(experiments):
    _write(experiments, "tuned", "description: tuned adam\nextends: adam\noptimizer: {beta_1: 0.8}\n")
    _write(
        experiments,
        "tuned_sgd",
        "description: sgd variant\nextends: tuned\noptimizer: {name: sgd, learning_rate: 0.1}\n",
    )
    assert resolve("tuned", experiments).optimizer.beta_1 == 0.8
    sgd = resolve("tuned_sgd", experiments).optimizer
    assert (sgd.name, sgd.learning_rate, sgd.beta_1) == ("sgd", 0.1, None)


def test_overrides_and_shortcuts_change_the_resolved_config():
    config = resolve(
        "l2",
        EXPERIMENTS,
        ["optimizer.learning_rate=0.01", "training.batch_size=64", "model.dropout=0.5"],
        dataset="digits",
        epochs=3,
        seed=1,
    )
    assert config.optimizer.learning_rate == 0.01
    assert config.training.batch_size == 64
    assert config.model.parameters["dropout"] == 0.5  # one rate, for every hidden layer
    assert (config.training.epochs, config.training.seed) == (3, 1)
    # --dataset replaces the dataset section: the reference notebook's 10,000 + 2,000 do not fit digits.
    assert (config.dataset.name, config.dataset.train_size, config.dataset.val_size) == ("digits", None, None)


def test_the_resolved_config_is_complete_and_round_trips():
    config = resolve("combined", EXPERIMENTS)
    data = config.to_dict()
    assert data["model"] == {
        "builder": "combined",
        "hidden_units": [512, 256, 128, 64],
        "activation": "relu",
        "initializer": "glorot",
        "l1": 0.0,
        "l2": 0.001,
        "dropout": [0.3, 0.3, 0.2, 0.2],
        "batch_norm": False,
        "framework": "keras",
    }
    assert type(config).model_validate(data) == config


def _error(name, experiments=EXPERIMENTS, overrides=(), **shortcuts) -> str:
    with pytest.raises(UserError) as error:
        resolve(name, experiments, list(overrides), **shortcuts)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_unknown_experiment_lists_the_available_ones():
    message = _error("adamm")
    assert "unknown experiment 'adamm'" in message
    assert "did you mean 'adam'" in message
    for name in REFERENCE_EXPERIMENTS:
        assert name in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("optimizer.learnig_rate=0.1", "optimizer.learnig_rate: unknown key (did you mean 'learning_rate'?)"),
        ("trainig.epochs=3", "trainig: unknown key (did you mean 'training'?)"),
        ("training.early_stopping={patiense: 2}", "patiense: unknown key (did you mean 'patience'?)"),
        ("optimizer.name=adma", "unknown optimizer 'adma' (did you mean 'adam'?); choose one of sgd"),
        (
            "model.factory=basic_dn",
            "model.builder: no model entry or builder function named 'basic_dn' (did you mean 'basic_dnn'?)",
        ),
        ("dataset.name=digitz", "unknown dataset 'digitz' (did you mean 'digits'?)"),
        ("schedule={name: stpe}", "unknown schedule 'stpe' (did you mean 'step'?)"),
        ("model.activation=relu6", "model.activation: must be 'relu', 'tanh', 'sigmoid', 'leaky_relu' or 'swish'"),
        ("optimizer.learning_rate=0", "optimizer.learning_rate: must be greater than 0"),
        ("optimizer.learning_rate=-0.1", "optimizer.learning_rate: must be greater than 0"),
        ("model.dropout=1.0", "model.dropout: must be less than 1"),
        ("model.dropout=-0.1", "model.dropout: must be greater than or equal to 0"),
        ("model.dropout=[0.1, 1.2]", "model.dropout.1: must be less than 1"),
        ("model.filters=[32]", "model.filters: unknown key; the builder takes hidden_units"),
        ("model={builder: cnn, filter: [32]}", "model.filter: unknown key (did you mean 'filters'?)"),
        ("model.dropout=[0.1, 0.2, 0.3]", "dropout has 3 rates for 2 hidden layers"),
        ("training.epochs=0", "training.epochs: must be greater than or equal to 1"),
        ("training.epochs=ten", "training.epochs: must be a valid integer"),
        ("training.batch_size=1e99", "training.batch_size: must be a valid integer"),
        ("model.l2=-1", "model.l2: must be greater than or equal to 0"),
        ("optimizer.beta_1=0.9", "beta_1 does not apply to the rmsprop optimizer"),
        ("description=", "description: must be a valid string"),
        ("training.batch_size=10000000000", "training.batch_size: must be less than or equal to 1000000"),
        ("optimizer.momentum=1.5", "optimizer.momentum: must be less than 1"),
    ],
)
def test_schema_errors_name_the_key_and_what_is_allowed(override, expected):
    name = "rmsprop" if "beta_1" in override else "adam"
    assert expected in _error(name, overrides=[override])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("schedule.factors=[1, 2]", "factors needs 3 values"),
        ("schedule.boundaries=[8, 5]", "strictly increasing"),
    ],
)
def test_schedule_errors(override, expected):
    assert expected in _error("adam_lr", overrides=[override])


def test_warmup_must_end_before_the_run_does():
    message = _error("adam", overrides=["schedule={name: warmup_cosine, warmup_epochs: 10}"])
    assert "warmup_epochs (10) must be fewer than training.epochs (10)" in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("noequals", "is not key=value"),
        ("training.epochs.x=1", "'epochs' is a value"),
        ("optimizer.learning_rate=[0.1", "is not valid YAML"),
    ],
)
def test_malformed_overrides(override, expected):
    assert expected in _error("adam", overrides=[override])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("description: x\ndataset: {name: digits\n", "broken.yaml line 3, column 1: YAML syntax error"),
        ("", "broken.yaml: the file is empty"),
        ("- just\n- a list\n", "expected a mapping of keys"),
        ("description: x\nextends: nothing\n", "extends 'nothing': unknown experiment 'nothing'"),
        ("description: x\nextends: broken\n", "extends itself through broken -> broken"),
        ("name: other\ndescription: x\n", "remove the key 'name'"),
        ("description: x\n", "dataset: required key is missing"),
    ],
)
def test_broken_files_name_the_file_and_problem(experiments, text, expected):
    _write(experiments, "broken", text)
    assert expected in _error("broken", experiments)


def test_binary_files_are_refused(experiments):
    (experiments / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    assert "not a UTF-8 text file" in _error("binary", experiments)


def test_a_folder_of_my_own_extends_the_built_in_experiments_and_lists_a_broken_file_with_its_error(tmp_path):
    mine = tmp_path / "my-experiments"
    mine.mkdir()
    (mine / "faster.yaml").write_text("description: adam, faster\nextends: adam\noptimizer: {learning_rate: 0.01}\n")
    (mine / "broken.yaml").write_text("description: a typo\nextends: adam\ntraining: {epochz: 3}\n")
    config = resolve("faster", mine)
    assert config.extends == "adam" and config.optimizer.learning_rate == 0.01 and config.model.builder == "simple"
    listed = run_harness("list", reports=tmp_path / "reports", experiments=mine)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].startswith("faster ")
    assert "broken: " in listed.stdout and "training.epochz: unknown key (did you mean 'epochs'?)" in listed.stdout
