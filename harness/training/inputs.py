"""How a run's examples reach the model: an epoch (or a part of one) at a time, gathered from the mapped dataset in an
order that depends only on the seed and the epoch, through Keras's own backend-agnostic input path (a
keras.utils.PyDataset), and scaled to [0, 1] a batch at a time inside the model's compiled steps.

    training: {input: auto}      memory when the training examples fit the memory budget, else stream
    training: {input: stream, memory_budget_gb: 2}

`memory` gives the model each epoch's examples in one piece (its whole-epoch step trains them a batch at a time:
harness.training.epoch_step), or pieces of PART_BYTES when larger, and the validation and test sets whole;
`stream` gives them in parts of about PART_BYTES, which the same step trains in turn, so memory holds a part
(and the AHEAD made while it trains) rather than the data. The parts are consecutive runs of whole batches of the same
permutation, so both draw the same batches in the same order and train to the same numbers (tests/test_inputs.py).
The validation and test sets come whole in memory, in parts when streaming. A PyDataset rather than Grain: it is
Keras's own path on every backend, and an epoch's permutation is the harness's, not a pipeline's.
"""

from __future__ import annotations

import keras
import numpy as np

from harness.data.arrays import gather, release

# The examples a part of an epoch holds, in memory or streamed. Measured on 100,000 64x64 images (make bench-data's
# folder): parts of 16 MB train as fast as parts of 64 MB, and a run's peak memory above its start is 160 MB against
# 830 MB; with 32 MB parts, 450 MB.
PART_BYTES = 16 * 2**20
AHEAD = 2  # parts made ahead of the one training (in threads: Keras's OrderedEnqueuer), and no more
MEMORY_SHARE = 8  # by default, training data up to 1/8 of the machine's memory trains in memory


def memory_budget_bytes(budget_gb: float | None) -> int:
    """The training data a run may hold in memory: the setting, else an eighth of the machine's memory (the epoch in
    memory costs about twice the data: the examples gathered and the backend's copy of them)."""
    if budget_gb is not None:
        return int(budget_gb * 2**30)
    import psutil

    return psutil.virtual_memory().total // MEMORY_SHARE


def input_mode(setting: str, data_bytes: int, budget_gb: float | None) -> str:
    """memory or stream: the setting, or (auto) memory when the training examples fit the budget."""
    if setting != "auto":
        return setting
    return "memory" if data_bytes <= memory_budget_bytes(budget_gb) else "stream"


def part_bytes(budget_gb: float | None) -> int:
    """A streamed part's size: PART_BYTES, or a sixteenth of a smaller budget."""
    return min(PART_BYTES, memory_budget_bytes(budget_gb) // 16)


def rows_per_part(mode: str, examples: int, row_bytes: int, batch_size: int, whole_epoch: bool, part: int) -> int:
    """How many examples each part of an epoch holds: a batch (Keras's own loop), or whole batches of about `part`
    bytes streamed, PART_BYTES in memory (the whole epoch when it is smaller)."""
    if not whole_epoch:
        return batch_size
    part = PART_BYTES if mode == "memory" else part
    batches = max(1, part // max(1, row_bytes * batch_size))
    return min(examples, batches * batch_size)


def ahead(examples: int, rows: int) -> dict:
    """A PyDataset's settings: parts made ahead of the one training, a bounded few, where an epoch has several (a
    thread pool each epoch costs a tenth of a second: an epoch in one piece is made as it is asked for)."""
    return {"workers": AHEAD, "max_queue_size": AHEAD} if examples > rows else {}


class EpochOrder(keras.utils.PyDataset):
    """The training examples in an order that depends only on (seed, epoch), a part of `rows` examples per item; the
    epoch is set by EpochSeeding, where Keras says which it is. A resumed run, a run in a worker and a streamed run
    see the same order. Each part is gathered from the (mapped) examples, whose pages leave this process's memory as
    they are read (harness.data.arrays.gather)."""

    def __init__(self, x, y, seed: int, rows: int, epoch: int = 0):
        super().__init__(**ahead(len(y), rows))
        self.x, self.y, self.seed, self.rows = x, np.asarray(y), seed, rows
        self._epoch = epoch
        self._early = None  # the first part, read by Keras's TensorFlow adapter before training (for its shapes)
        self._training = False

    @property
    def epoch(self) -> int:
        return self._epoch

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        self._epoch, self._training = epoch, True
        if self._early is not None and self._early[0] != epoch:
            self._early = None

    def __len__(self) -> int:
        return -(-len(self.y) // self.rows)

    def __getitem__(self, index: int):
        """Part `index` of the epoch: made once for the adapter's look before training and kept for the epoch's first
        part, else made as asked."""
        if self._early is not None and index == 0 and self._early[0] == self.epoch:
            part, self._early = self._early[1], None
            return part
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.y))
        chosen = order[index * self.rows : (index + 1) * self.rows]
        part = (gather(self.x, chosen), self.y[chosen])
        if not self._training and index == 0:
            self._early = (self.epoch, part)
        return part


class InOrder(keras.utils.PyDataset):
    """Examples (and labels, if given) in their order, a part of `rows` at a time: a streamed run's validation and
    test sets."""

    def __init__(self, x, y=None, rows: int = 1024):
        super().__init__(**ahead(len(x), rows))
        self.x, self.y, self.rows = x, None if y is None else np.asarray(y), rows

    def __len__(self) -> int:
        return -(-len(self.x) // self.rows)

    def __getitem__(self, index: int):
        part = np.arange(index * self.rows, min((index + 1) * self.rows, len(self.x)))
        x = gather(self.x, part)
        return (x,) if self.y is None else (x, self.y[part])


def in_memory(x) -> np.ndarray:
    """Examples copied into memory (a validation or test set), the mapped pages released."""
    gathered = np.array(x)
    release(x)
    return gathered


class PixelScale:
    """Integer pixels divided by the value that means white inside the model's compiled steps, a batch at a time:
    the dataset stays uint8 (a quarter of float32's size) until the batch.

        model.compile(...)
        PixelScale(255.0).apply_to(model)     # before WholeEpochStep, so that each batch is scaled as it trains
    """

    def __init__(self, scale: float):
        self.scale = scale

    def apply_to(self, model: keras.Model) -> keras.Model:
        model._pixel_scale = self.scale  # noqa: SLF001 - the mark model_identity reads
        jax = keras.backend.backend() == "jax"
        for name in ("train_step", "test_step", "predict_step"):
            step = getattr(model, name)
            setattr(model, name, self._stateless(step) if jax else self._stateful(step))
        return model

    def scaled(self, data):
        """The batch with its inputs (the first element) cast to float32 and divided by the scale."""
        if isinstance(data, tuple | list):
            return (self.scaled(data[0]), *data[1:])
        return keras.ops.divide(keras.ops.cast(data, "float32"), self.scale)

    def _stateful(self, step):
        return lambda data: step(self.scaled(data))

    def _stateless(self, step):
        return lambda state, data: step(state, self.scaled(data))
