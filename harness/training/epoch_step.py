"""A whole epoch per call into the compiled training function, batch by batch inside it.

Keras calls its compiled train step once per batch (with `steps_per_execution`, a TensorFlow while loop or
a Python loop makes those calls), and on a 2-core CPU the calls cost a large share of an epoch: with XLA,
basic_dnn's epochs of 60,000 images take about 0.75x as long in one call as in Keras's loop of 32 steps
per call (`make bench`, the README's Speed section). `train_whole_epochs` makes one call do an epoch: the
harness gives Keras the whole shuffled training set as a single "batch", and the model's train step cuts
it into `batch_size` rows at a time and runs Keras's own train step on each, in a loop that is compiled
(with XLA where the run uses it) together with the steps. The batches, their order, the optimizer updates
and the metrics are those of Keras's batch-by-batch loop; only the calls are fewer.

    model.compile(...)
    train_whole_epochs(model, batch_size=128)
    model.fit(x, y, batch_size=len(x))      # harness.training.train.fit does this
"""

from __future__ import annotations

import keras


def train_whole_epochs(model: keras.Model, batch_size: int) -> None:
    """Make each call of the compiled model's train step train on every `batch_size` rows it is given, in order."""
    one_step = model.train_step
    if keras.backend.backend() == "jax":
        model.train_step = _stateless_epoch_step(one_step, batch_size)
    elif not model.jit_compile:
        model.train_step = _dynamic_epoch_step(model, one_step, batch_size)
    else:
        model.train_step = _stateful_epoch_step(model, one_step, batch_size)


def _rows(data, start, size: int):
    """Rows start .. start + size of every array in a (x, y[, sample_weight]) batch."""

    def cut(array):
        return keras.ops.slice(array, (start,) + (0,) * (len(array.shape) - 1), (size, *array.shape[1:]))

    return keras.tree.map_structure(cut, data)


def _dynamic_epoch_step(model: keras.Model, one_step, batch_size: int):
    """TensorFlow without XLA: the last, shorter batch runs in the same loop with a batch size known only at
    run time, so Keras's step is traced once rather than twice (about 0.3 s less per run)."""

    def epoch_step(data):
        rows = keras.ops.shape(keras.tree.flatten(data)[0])[0]
        batches = (rows + batch_size - 1) // batch_size

        def train_batch(index, unused):
            start = index * batch_size
            one_step(_rows(data, start, keras.ops.minimum(batch_size, rows - start)))
            return unused

        keras.ops.fori_loop(0, batches, train_batch, 0)
        return model.get_metrics_result()

    return epoch_step


def _stateful_epoch_step(model: keras.Model, one_step, batch_size: int):
    """TensorFlow with XLA, which needs every shape at compile time: the full batches in a loop, then the
    shorter last batch as a second step."""

    def epoch_step(data):
        rows = keras.ops.shape(keras.tree.flatten(data)[0])[0]  # a tensor when a PyDataset feeds the rows
        full_batches = rows // batch_size
        rest = rows - full_batches * batch_size

        def train_batch(index, unused):
            one_step(_rows(data, index * batch_size, batch_size))
            return unused

        def train_rest():
            one_step(_rows(data, full_batches * batch_size, rest))
            return 0

        keras.ops.fori_loop(0, full_batches, train_batch, 0)
        if not isinstance(rest, int):
            keras.ops.cond(rest > 0, train_rest, lambda: 0)
        elif rest:
            train_rest()
        return model.get_metrics_result()

    return epoch_step


def _stateless_epoch_step(one_step, batch_size: int):
    """JAX: the step maps (state, batch) to (logs, state); carry the state through the loop."""

    def epoch_step(state, data):
        rows = keras.tree.flatten(data)[0].shape[0]
        full_batches, rest = divmod(rows, batch_size)
        if not full_batches:
            return one_step(state, data)
        logs, state = one_step(state, _rows(data, 0, batch_size))

        def train_batch(index, carried):
            return one_step(carried[1], _rows(data, index * batch_size, batch_size))

        logs, state = keras.ops.fori_loop(1, full_batches, train_batch, (logs, state))
        if rest:
            logs, state = one_step(state, _rows(data, full_batches * batch_size, rest))
        return logs, state

    return epoch_step
