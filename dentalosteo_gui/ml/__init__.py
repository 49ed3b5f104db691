"""Machine learning: model zoo, training, evaluation and model packs.

TensorFlow / Keras are imported only inside functions so that importing this package (and
the app's start-up) stays fast.
"""
