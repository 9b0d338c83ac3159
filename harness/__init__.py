"""A Keras experiment harness: experiments as files, runs by name, reports to compare.

python -m harness run adam_lr      (or: make experiment NAME=adam_lr)
"""
