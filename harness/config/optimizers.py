"""The optimizers an experiment may name, each declared once: its Keras class and the settings it takes.

    optimizer: {name: momentum, learning_rate: 0.01}          -> keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)

Every optimizer takes `learning_rate` (Keras's default for the class when the file gives none, written into the
run's config); the settings an entry lists are the only others it accepts (the schema refuses the rest), and absent
ones keep the entry's defaults or Keras's. harness.training.optimizers builds them.
To add one: an entry here (and its settings' bounds in harness.config.schema.OptimizerConfig, if new).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.registry import Registry


@dataclass(frozen=True)
class Optimizer:
    keras_class: str  # the name in keras.optimizers
    learning_rate: float  # Keras's default for the class (tests/test_optimizers.py checks it against Keras)
    takes: tuple[str, ...] = ()  # settings besides learning_rate
    description: str = ""
    defaults: dict = field(default_factory=dict)  # the harness's own defaults, where Keras's differ
    fixed: dict = field(default_factory=dict)  # arguments that make the entry what it is (nesterov=True)


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")
OPTIMIZERS.add("sgd", Optimizer("SGD", 0.01, description="plain mini-batch gradient descent"))
OPTIMIZERS.add(
    "momentum", Optimizer("SGD", 0.01, ("momentum",), "gradient descent with momentum", defaults={"momentum": 0.9})
)
OPTIMIZERS.add(
    "nesterov",
    Optimizer("SGD", 0.01, ("momentum",), "Nesterov's momentum", defaults={"momentum": 0.9}, fixed={"nesterov": True}),
)
OPTIMIZERS.add("rmsprop", Optimizer("RMSprop", 0.001, ("rho", "momentum", "epsilon"), "RMSprop: adaptive rates"))
OPTIMIZERS.add("adagrad", Optimizer("Adagrad", 0.001, ("epsilon",), "AdaGrad: rates that shrink with past gradients"))
OPTIMIZERS.add("adam", Optimizer("Adam", 0.001, ("beta_1", "beta_2", "epsilon"), "Adam: momentum and adaptive rates"))
OPTIMIZERS.add(
    "adamw",
    Optimizer("AdamW", 0.001, ("beta_1", "beta_2", "epsilon", "weight_decay"), "Adam with decoupled weight decay"),
)
