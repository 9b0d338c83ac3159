"""A whole epoch per call into the compiled training function, batch by batch inside it: where Keras stops and the
harness begins.

Keras calls its compiled train step once per batch (with `steps_per_execution`, a loop makes those calls), and on a
2-core CPU the calls cost a large share of an epoch (`make bench`, the README's Speed section). So the harness gives
Keras the whole shuffled training set as one "batch" (`WholeEpochStep.fit_arguments`: `batch_size` is the number of
rows), and the model's train step, replaced by `WholeEpochStep.apply_to`, cuts it into `training.batch_size` rows at a
time and runs Keras's own train step on each, in a loop compiled together with the steps (with XLA where the run uses
it). The batches, their order, the optimizer updates and the metrics are those of Keras's batch-by-batch loop
(tests/test_epoch_step.py compares the weights); only the calls are fewer.

    model.compile(...)
    WholeEpochStep(batch_size=128).apply_to(model)
    WholeEpochStep.prepare(model)                                   # on JAX, Keras's step traced once fewer
    model.fit(**WholeEpochStep.fit_arguments(x, y), epochs=10)      # harness.training.train.fit does this
"""

from __future__ import annotations

import keras


def _rows(data, start, size: int):
    """Rows start .. start + size of every array in a (x, y[, sample_weight]) batch."""

    def cut(array):
        return keras.ops.slice(array, (start,) + (0,) * (len(array.shape) - 1), (size, *array.shape[1:]))

    return keras.tree.map_structure(cut, data)


def _row_count(data):
    """The rows in a batch: a tensor when a PyDataset feeds them (its length is known only at run time)."""
    return keras.ops.shape(keras.tree.flatten(data)[0])[0]


class WholeEpochStep:
    """The train step of a model that Keras calls once per epoch with every training row: it trains on them
    `batch_size` at a time, in order, with Keras's own one-batch step."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.initial_logs = None  # JAX's loop's starting logs (prepare)

    @staticmethod
    def fit_arguments(x, y) -> dict:
        """What `model.fit` is given so that one call is one epoch: every row as a single batch."""
        return {"x": x, "y": y, "batch_size": len(y)}

    @staticmethod
    def applied(model: keras.Model) -> bool:
        """Whether the model's train step trains a whole epoch per call."""
        return getattr(model, "_whole_epoch_step", None) is not None

    def apply_to(self, model: keras.Model) -> keras.Model:
        """Replace the compiled model's train step with one that trains a whole epoch per call; returns the model."""
        model._whole_epoch_step = self  # the mark `applied` reads
        one_step = model.train_step
        if keras.backend.backend() == "jax":
            model.train_step = self._stateless(one_step)
        elif not model.jit_compile:
            model.train_step = self._dynamic(model, one_step)
        else:
            model.train_step = self._static(model, one_step)
        return model

    def _dynamic(self, model: keras.Model, one_step):
        """TensorFlow without XLA: the last, shorter batch runs in the same loop with a batch size known only at run
        time, so Keras's step is traced once rather than twice."""
        batch_size = self.batch_size

        def epoch_step(data):
            rows = _row_count(data)

            def train_batch(index, unused):
                start = index * batch_size
                one_step(_rows(data, start, keras.ops.minimum(batch_size, rows - start)))
                return unused

            keras.ops.fori_loop(0, (rows + batch_size - 1) // batch_size, train_batch, 0)
            return model.get_metrics_result()

        return epoch_step

    def _static(self, model: keras.Model, one_step):
        """TensorFlow with XLA, which needs every shape at compile time: the full batches in a loop, then the shorter
        last batch as a second step."""
        batch_size = self.batch_size

        def epoch_step(data):
            rows = _row_count(data)
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

    @staticmethod
    def prepare(model: keras.Model) -> None:
        """Before fit, on JAX: logs of zeros shaped as the model's metrics, for the loop to start from (read now,
        since Keras's JAX fit empties the variables while it trains). Without them the loop's first step runs
        before it, to give the carry its shape, and Keras's step is traced once more (about 0.15 s a run)."""
        step = getattr(model, "_whole_epoch_step", None)
        built = all(getattr(metric, "built", True) for metric in model.metrics)  # else Keras's fit builds them
        if step is not None and built and keras.backend.backend() == "jax":
            step.initial_logs = keras.tree.map_structure(keras.ops.zeros_like, model.get_metrics_result())

    def _stateless(self, one_step):
        """JAX: the step maps (state, batch) to (logs, state); carry the state through the loop."""
        batch_size = self.batch_size

        def epoch_step(state, data):
            rows = keras.tree.flatten(data)[0].shape[0]
            full_batches, rest = divmod(rows, batch_size)
            if not full_batches:
                return one_step(state, data)
            logs, first = self.initial_logs, 0
            if logs is None:
                (logs, state), first = one_step(state, _rows(data, 0, batch_size)), 1

            def train_batch(index, carried):
                return one_step(carried[1], _rows(data, index * batch_size, batch_size))

            logs, state = keras.ops.fori_loop(first, full_batches, train_batch, (logs, state))
            if rest:
                logs, state = one_step(state, _rows(data, full_batches * batch_size, rest))
            return logs, state

        return epoch_step
