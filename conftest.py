"""Settings for the doctests of pinet_keras/ (setup.cfg runs them with the suite).

Each docstring example starts from the same random state, so that an
example that builds a model with random weights shows the same numbers in
any order of the tests.
"""

import pytest


@pytest.fixture(autouse=True)
def _seeded_doctest(request):
    if isinstance(request.node, pytest.DoctestItem):
        import keras

        keras.utils.set_random_seed(0)
    yield
