"""Model factories: one parameterised MLP builder (``models.mlp``) and named variants (``models.registry``).

``models.spec`` and ``models.registry`` do not import Keras, so validating an experiment file stays fast.
"""
