"""Loading a saved model in a fresh process: `import pinet_keras` registers its layers."""

import pytest

from conftest import run_command
from conftest import tensorflow_only

pytestmark = tensorflow_only


@pytest.mark.slow
def test_loading_needs_the_import_and_works_with_it(finished):
    code = "import keras, sys; {imp}keras.saving.load_model(sys.argv[1]); print('loaded')"
    path = str(finished / "model.keras")
    without = run_command(["-c", code.format(imp=""), path], timeout=120)
    assert (
        without.returncode != 0 and "PolynomialConv2D" in without.stderr
    )  # Keras imports no outside module
    with_import = run_command(["-c", code.format(imp="import pinet_keras; "), path], timeout=120)
    assert with_import.returncode == 0 and "loaded" in with_import.stdout, with_import.stderr[
        -3000:
    ]
