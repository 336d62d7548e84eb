"""Quantization-aware fine-tuning for int8 (`pinet_keras.export.finetune`)."""

import keras
import numpy as np
import pytest
from test_int8_calibration import _pixels
from test_int8_calibration import _raw_pixel_polynet
from test_int8_calibration import _trained_statistics

from conftest import tensorflow_only
from pinet_keras import export
from pinet_keras.export import finetune
from pinet_keras.export.fold import FoldedPolynomial
from pinet_keras.export.fold import fold_polynomial_layers

pytestmark = tensorflow_only


@pytest.fixture(scope="module")
def trained():
    """A small raw-pixel PolyNet with batch statistics as after training, and its images."""
    keras.utils.set_random_seed(0)
    model = _trained_statistics(
        _raw_pixel_polynet(width=6, num_blocks=3, normalization="batch", use_skip=True)
    )
    return model, _pixels(256, seed=1), _pixels(64, seed=2)


def test_simulation_computes_what_the_int8_file_computes(trained):
    model, images, representative = trained
    folded = fold_polynomial_layers(model, representative, bound=100)
    simulation, simulated = finetune.int8_simulation(folded)
    assert sum(isinstance(layer.layer, FoldedPolynomial) for layer in simulated) == 3
    finetune.calibrate(simulation, simulated, representative, 99.99)
    content = export.convert_to_tflite(model, "int8", representative, bound=100)
    int8 = export.run_tflite(content, images)
    simulated_logits = simulation.predict(images, verbose=0)
    float_logits = folded.predict(images, verbose=0)
    # The simulation is closer to the int8 file than the float model is, and
    # it strays from the float model as far as the int8 file does.
    int8_error = np.abs(int8 - float_logits).mean()
    assert np.abs(simulated_logits - int8).mean() < 0.9 * int8_error
    assert 0.7 < np.abs(simulated_logits - float_logits).mean() / int8_error < 1.3


def test_finetuning_moves_the_simulated_int8_model_towards_the_float_one(trained):
    model, images, representative = trained
    weights = [w.copy() for w in model.get_weights()]
    folded = fold_polynomial_layers(model, representative, bound=100)
    reference = model.predict(images, verbose=0)

    def distance(candidate):
        """KL divergence from the float model's probabilities to the simulated int8 model's."""
        simulation, simulated = finetune.int8_simulation(candidate)
        finetune.calibrate(simulation, simulated, representative, 99.99)
        log_p = keras.ops.convert_to_numpy(keras.ops.log_softmax(reference))
        log_q = keras.ops.convert_to_numpy(
            keras.ops.log_softmax(simulation.predict(images, verbose=0))
        )
        return (np.exp(log_p) * (log_p - log_q)).sum(-1).mean()

    before = distance(folded)
    tuned = finetune.finetune_for_int8(
        model, folded, images, representative, epochs=10, learning_rate=1e-5, batch_size=32
    )
    assert distance(tuned) < 0.8 * before
    # The teacher is untouched; the result shares no layer with the folded model.
    for old, new in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    assert not {id(layer) for layer in tuned.layers} & {id(layer) for layer in folded.layers}


def test_export_with_finetuning_records_it(trained, tmp_path):
    model, images, representative = trained
    path = str(tmp_path / "model_int8.tflite")
    export.export_tflite(
        model,
        path,
        "int8",
        representative,
        bound=100,
        metadata={"dataset": "test"},
        finetune_data=images[:64],
        finetune_epochs=1,
        finetune_learning_rate=3e-5,
    )
    metadata = export.read_tflite_metadata(path)
    assert metadata["int8_finetune"] == {
        "epochs": 1,
        "images": 64,
        "learning_rate": 3e-5,
        "recalibrate_every": 0,
    }
    assert np.isfinite(export.run_tflite(path, images)).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"quantization": "float16"}, "needs quantization='int8'"),
        ({"finetune_epochs": 0}, "finetune_epochs"),
        ({"finetune_epochs": 1.5}, "finetune_epochs"),
        ({"fold": False}, "fold=True"),
        ({"finetune_learning_rate": 0}, "finetune_learning_rate"),
        ({"finetune_learning_rate": "1e-5"}, "finetune_learning_rate"),
        ({"finetune_recalibrate_every": -1}, "finetune_recalibrate_every"),
        ({"finetune_recalibrate_every": 2.0}, "finetune_recalibrate_every"),
    ],
)
def test_bad_finetune_arguments(trained, kwargs, message, tmp_path):
    model, images, representative = trained
    arguments = {"quantization": "int8", "finetune_data": images, **kwargs}
    with pytest.raises(ValueError, match=message):
        export.export_tflite(
            model, str(tmp_path / "m.tflite"), representative_data=images, **arguments
        )
    assert not (tmp_path / "m.tflite").exists()
    with pytest.raises(ValueError, match="needs training images"):
        finetune.finetune_for_int8(model, fold_polynomial_layers(model), images[:0], representative)


def test_a_folded_model_folds_and_bounds_again(trained, tmp_path):
    model, _, representative = trained
    path = str(tmp_path / "folded.keras")
    fold_polynomial_layers(model, representative, bound=100).save(path)
    folded = keras.saving.load_model(path)
    again = fold_polynomial_layers(folded, representative, bound=90)
    # An independent copy with narrower ranges; the loaded model is unchanged.
    assert not {id(layer) for layer in again.layers} & {id(layer) for layer in folded.layers}
    for old, new in zip(
        [layer for layer in folded.layers if isinstance(layer, FoldedPolynomial)],
        [layer for layer in again.layers if isinstance(layer, FoldedPolynomial)],
    ):
        assert (
            new.output_range[1] - new.output_range[0] <= old.output_range[1] - old.output_range[0]
        )
        assert old.output_range != new.output_range
    # Bounded again on the same images, the ranges and the outputs are the same.
    same = fold_polynomial_layers(folded, representative, bound=100)
    np.testing.assert_allclose(
        same.predict(representative, verbose=0),
        folded.predict(representative, verbose=0),
        rtol=1e-5,
        atol=1e-5,
    )


def test_ranges_are_calibrated_again_every_n_steps(trained, monkeypatch):
    model, images, representative = trained
    folded = fold_polynomial_layers(model, representative, bound=100)
    calls = []
    original = finetune.calibrate

    def counting(*args):
        calls.append(args[3])
        return original(*args)

    monkeypatch.setattr(finetune, "calibrate", counting)
    # 256 images in batches of 32: 8 steps an epoch, 16 in all; once before training.
    finetune.finetune_for_int8(
        model, folded, images, representative, epochs=2, batch_size=32, recalibrate_every=5
    )
    assert calls == [99.99] * (1 + 16 // 5)
    calls.clear()
    finetune.finetune_for_int8(model, folded, images, representative, batch_size=32)
    assert calls == [99.99]
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="recalibrate_every"):
            finetune.finetune_for_int8(model, folded, images, representative, recalibrate_every=bad)
