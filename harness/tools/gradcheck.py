"""Check the framework's gradients of an experiment's training loss against numerical ones.

    python -m harness gradcheck l2 --dataset digits        (or: make gradcheck NAME=l2 DATASET=digits)

The model is built in float64 and evaluated with dropout off (training=False). The loss is the full
training loss: mean cross-entropy plus the L1/L2 penalties. For a sample of parameters of every layer
(all of them when the layer is small) the analytic gradient a is compared with the central difference
n = (L(w + h) - L(w - h)) / 2h, by relative error |a - n| / max(|a|, |n|, TINY).

The step is the textbook's h = 1e-4: in float64 its truncation error (about h^2) and rounding error (about
1e-16 / h) are both far below the threshold for gradients of ordinary size; a smaller step lets rounding
dominate for small gradients. Where w - h and w + h lie on two sides of a kink (a ReLU unit switching on or
off for some example, or w crossing 0 under L1) the loss has no derivative, so the central difference means
nothing: such parameters are detected exactly (the on/off pattern of every hidden unit is compared at
w - h and w + h) and counted as skipped, not scored. The central difference carries a rounding error of
about F = 4 eps |L| / 2h (about 1e-11 here), so a relative error below the threshold can only be resolved
for gradients larger than F / threshold (about 1e-5): those are scored by relative error; smaller ones must
agree to within F and are counted apart.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import keras
import numpy as np

from harness.config.schema import ExperimentConfig
from harness.data.datasets import load_dataset
from harness.errors import UserError

STEP = 1e-4
THRESHOLD = 1e-6  # largest relative error that passes, in float64
TINY = 1e-30  # guards the division only: small gradients are handled by the rounding floor
SAMPLES_PER_VARIABLE = 25  # parameters checked per weight matrix or bias; all of them when it is smaller
BATCH = 16


@dataclass
class LayerResult:
    layer: str
    checked: int  # parameters scored by relative error
    max_relative_error: float
    skipped_at_kinks: int = 0
    small: int = 0  # gradients too small to resolve relatively, checked against the rounding floor
    small_failures: int = 0

    @property
    def passed(self) -> bool:
        return self.max_relative_error < THRESHOLD and self.small_failures == 0


@contextmanager
def float64():
    """Keras's default float type and dtype policy set to float64 (losses follow them), restored afterwards.

    Both are needed: once anything has set a global dtype policy, new layers follow it and not floatx.
    """
    previous_floatx, previous_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(previous_floatx)
        keras.config.set_dtype_policy(previous_policy)


def build_float64_model(config: ExperimentConfig, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """The experiment's model, from any builder, in float64; a layer that cannot be is named in one line."""
    from models.registry import build

    with float64():
        keras.utils.set_random_seed(config.training.seed)
        try:
            model = build(config.model.builder, config.model.parameters, input_shape, num_classes)
        except (ValueError, TypeError) as error:
            raise UserError(
                f"the model {config.model.builder!r} cannot be built in float64 to check it: {error}"
            ) from None
    narrow = [layer.name for layer in model.layers if layer.weights and layer.dtype != "float64"]
    if narrow:
        raise UserError(
            f"layer {narrow[0]} keeps its weights in {model.get_layer(narrow[0]).dtype}, not float64: "
            "its gradients cannot be checked to 1e-6"
        )
    return model


def training_loss(model: keras.Model, x, y):
    """Mean cross-entropy plus the regularisation penalties, dropout off: what the optimizer minimises."""
    probabilities = model(x, training=False)
    loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, probabilities))
    return loss + sum(model.losses) if model.losses else loss


def analytic_gradients(model: keras.Model, x, y, loss: Callable = training_loss) -> list[np.ndarray]:
    """d(loss)/d(each trainable variable), by TensorFlow's automatic differentiation."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = loss(model, x, y)
    gradients = tape.gradient(value, model.trainable_variables)
    for variable, gradient in zip(model.trainable_variables, gradients, strict=True):
        if gradient is None:
            raise UserError(
                f"layer {variable.path.rsplit('/', 1)[0]} cannot be checked: the loss does not depend on "
                "its weights in evaluation, so no gradient reaches them"
            )
    return [np.asarray(gradient) for gradient in gradients]


def _loss_value(model, x, y) -> float:
    return float(keras.ops.convert_to_numpy(training_loss(model, x, y)))


def check_gradients(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    gradients: Callable[[keras.Model, np.ndarray, np.ndarray], list[np.ndarray]] = analytic_gradients,
    seed: int = 0,
) -> list[LayerResult]:
    """Per layer, the largest relative error between `gradients` and central differences of the loss."""
    with float64():
        return _check(model, x, y, gradients, np.random.default_rng(seed))


def _check(model, x, y, gradients, rng) -> list[LayerResult]:
    analytic = gradients(model, x, y)
    evaluate = _evaluator(model, x, y)
    floor = 4 * np.finfo(np.float64).eps * abs(_loss_value(model, x, y)) / (2 * STEP)
    results: dict[str, LayerResult] = {}
    for variable, gradient in zip(model.trainable_variables, analytic, strict=True):
        result = results.setdefault(
            variable.path.rsplit("/", 1)[0], LayerResult(variable.path.rsplit("/", 1)[0], 0, 0.0)
        )
        values = np.array(keras.ops.convert_to_numpy(variable), dtype=np.float64)
        l1_kernel = _has_l1(model, variable)
        for flat in rng.choice(values.size, size=min(SAMPLES_PER_VARIABLE, values.size), replace=False):
            index = np.unravel_index(flat, values.shape)
            numerical, kink = _central_difference(evaluate, variable, float(values[index]), index)
            a = float(gradient[index])
            if kink or (l1_kernel and abs(values[index]) < STEP):
                result.skipped_at_kinks += 1
            elif max(abs(a), abs(numerical)) < floor / THRESHOLD:
                result.small += 1
                result.small_failures += abs(a - numerical) > floor
            else:
                result.checked += 1
                error = abs(a - numerical) / max(abs(a), abs(numerical), TINY)
                result.max_relative_error = max(result.max_relative_error, error)
    return list(results.values())


def _evaluator(model: keras.Model, x, y) -> Callable[[], tuple]:
    """The loss, and where every layer's output is positive and which input each max pooling picks (to see a kink
    between w - h and w + h: a ReLU or a pooling window switching), as one compiled function of the model's current
    weights: a central difference calls it twice per parameter."""
    import tensorflow as tf

    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    layers = model.layers[1:]
    probe = keras.Model(model.input, [layer.output for layer in layers] + [layer.input for layer in pools])

    @tf.function
    def evaluate():
        outputs = probe(x, training=False)
        chosen = [_picked(inputs, pool) for inputs, pool in zip(outputs[len(layers) :], pools, strict=True)]
        return training_loss(model, x, y), [output > 0 for output in outputs[: len(layers)]] + chosen

    return evaluate


def _picked(inputs, pool):
    """Which of a 2x2 max pooling's inputs are the maximum of their window."""
    import tensorflow as tf

    height, width = pool.pool_size
    pooled = tf.nn.max_pool2d(inputs, (height, width), pool.strides, "VALID")
    spread = tf.repeat(tf.repeat(pooled, height, axis=1), width, axis=2)
    rows, columns = spread.shape[1], spread.shape[2]
    return tf.equal(inputs[:, :rows, :columns, :], spread)


def _has_l1(model: keras.Model, variable) -> bool:
    for layer in model.layers:
        regularizer = getattr(layer, "kernel_regularizer", None)
        if getattr(layer, "kernel", None) is variable and regularizer is not None:
            return bool(regularizer.get_config().get("l1"))
    return False


def _central_difference(evaluate, variable, original: float, index) -> tuple[float, bool]:
    """The central difference at one parameter (set to w + h, then w - h, then back), and whether a kink lies
    between w - h and w + h."""
    element = variable.value[index]  # the one parameter of the TensorFlow variable, assigned in place
    element.assign(original + STEP)
    plus, pattern_plus = evaluate()
    element.assign(original - STEP)
    minus, pattern_minus = evaluate()
    element.assign(original)
    kink = any(not np.array_equal(a, b) for a, b in zip(pattern_plus, pattern_minus, strict=True))
    return (float(plus) - float(minus)) / (2 * STEP), kink


def gradcheck_experiment(config: ExperimentConfig) -> list[LayerResult]:
    if keras.backend.backend() != "tensorflow":
        raise UserError(f"gradcheck runs on the TensorFlow backend, not {keras.backend.backend()}: unset KERAS_BACKEND")
    dataset = load_dataset(config.dataset)
    model = build_float64_model(config, dataset.input_shape, dataset.num_classes)
    x = dataset.floats(dataset.x_train[:BATCH]).astype(np.float64)  # as the model computes with them
    y = dataset.y_train[:BATCH]
    return check_gradients(model, x, y)


def format_results(name: str, results: list[LayerResult]) -> str:
    lines = [f"gradient check of {name}: float64, batch {BATCH}, step {STEP:g}, pass below {THRESHOLD:g}"]
    for result in results:
        verdict = "pass" if result.passed else "FAIL"
        notes = [
            f"{result.small} tiny gradients within rounding" if result.small else "",
            f"{result.skipped_at_kinks} at kinks skipped" if result.skipped_at_kinks else "",
        ]
        notes = "; ".join(note for note in notes if note)
        lines.append(
            f"  {result.layer:<14} {result.checked:>3} parameters  max relative error "
            f"{result.max_relative_error:.2e}  {verdict}" + (f"  ({notes})" if notes else "")
        )
    passed = all(result.passed for result in results)
    lines.append("all layers pass" if passed else "gradient check FAILED")
    return "\n".join(lines)
