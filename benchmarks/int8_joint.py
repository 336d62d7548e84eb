"""Can one set of weights give the same answers in float32 and in int8? Train both at once.

`benchmarks/int8_finetune.py` moves only the int8 file's weights towards a
fixed Keras model. Here the Keras model moves too: a copy of the folded,
bounded model is trained (from the trained weights, on the training part of
its run) with the cross-entropy of its float32 answers (label smoothing 0.1,
as the model was trained) plus ``--consistency`` times the KL divergence
from its float32 probabilities to those of its int8 simulation
(`pinet_keras.export.finetune.int8_simulation`, ranges recalibrated every
50 steps). After each epoch it prints, on the validation split (never the
test split), the float32 accuracy and the agreement of the simulation with
the float32 model; at the end the int8 file made from the result, and its
top-1 agreement with that float32 model: what a model trained for int8
could give, without a training from scratch. Writes ``--output`` as JSON.

    python benchmarks/int8_joint.py --pretrained=pi_resnet_cifar10 \
        --data_dir=../shared/data/cifar10 --output=benchmarks/results/int8_joint_cifar10.json
"""

import time

import keras
from absl import app
from absl import flags
from int8_sensitivity import validation_data
from keras import ops

from pinet_keras import _io
from pinet_keras import export
from pinet_keras.export import finetune
from pinet_keras.export.calibration import DEFAULT_PERCENTILE
from pinet_keras.export.fold import fold_polynomial_layers

FLAGS = flags.FLAGS
flags.DEFINE_integer("epochs", 3, "Training epochs.")
flags.DEFINE_float("learning_rate", 3e-5, "Adam's learning rate (cosine decay).")
flags.DEFINE_float("consistency", 1.0, "Weight of the float32-to-int8 KL divergence.")
BATCH_SIZE = 128
RECALIBRATE_EVERY = 50


def main(_):
    data = validation_data()
    model, images, labels = data.model, data.images, data.labels
    representative = data.representative
    bound = FLAGS.bound or None

    folded = fold_polynomial_layers(model, representative, bound=bound)
    student = keras.models.clone_model(folded)
    student.set_weights(folded.get_weights())
    simulation, simulated = finetune.int8_simulation(student)  # shares the student's weights
    simulation.name = "int8_simulation"
    finetune.calibrate(simulation, simulated, representative, DEFAULT_PERCENTILE)
    inputs = keras.Input(model.input_shape[1:])
    both = ops.concatenate(
        [student(inputs, training=False), simulation(inputs, training=False)], axis=-1
    )
    joint = keras.Model(inputs, both)
    classes = model.output_shape[-1]

    def loss(y_true, outputs):
        float_logits, int8_logits = outputs[:, :classes], outputs[:, classes:]
        targets = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes)
        targets = targets * 0.9 + 0.1 / classes
        cross_entropy = keras.losses.categorical_crossentropy(
            targets, float_logits, from_logits=True
        )
        log_p, log_q = ops.log_softmax(float_logits), ops.log_softmax(int8_logits)
        divergence = ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)
        return cross_entropy + FLAGS.consistency * divergence

    steps = FLAGS.epochs * (len(data.train_images) // BATCH_SIZE)
    schedule = keras.optimizers.schedules.CosineDecay(FLAGS.learning_rate, max(steps, 1))
    joint.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss)
    augmentation = [layer for layer in model.layers if isinstance(layer, finetune._AUGMENTATION)]
    recalibrate = finetune._Recalibrate(
        simulated, representative, DEFAULT_PERCENTILE, RECALIBRATE_EVERY
    )

    def measure():
        finetune.calibrate(simulation, simulated, representative, DEFAULT_PERCENTILE)
        float_top = student.predict(images, batch_size=250, verbose=0).argmax(1)
        int8_top = simulation.predict(images, batch_size=250, verbose=0).argmax(1)
        return {
            "float32_accuracy": float((float_top == labels).mean()),
            "simulated_int8_agreement": float((int8_top == float_top).mean()),
        }

    epochs = [{"epoch": 0, **measure()}]
    print(epochs[-1], flush=True)
    for epoch in range(FLAGS.epochs):
        start = time.time()
        epoch_images = finetune._augmented(data.train_images, augmentation, BATCH_SIZE)
        joint.fit(
            epoch_images,
            data.train_labels,
            batch_size=BATCH_SIZE,
            epochs=1,
            verbose=2,
            callbacks=[recalibrate],
        )
        epochs.append({"epoch": epoch + 1, **measure(), "seconds": time.time() - start})
        print(epochs[-1], flush=True)

    reference = student.predict(images, batch_size=250, verbose=0)
    content = export.convert_to_tflite(student, "int8", representative, bound=bound)
    result = export.compare_logits(export.TFLiteRunner(content).predict(images), reference, labels)
    output = {
        "model": FLAGS.pretrained or FLAGS.model,
        "dataset": data.dataset,
        "split": f"validation ({len(images)} images)",
        "settings": {
            "epochs": FLAGS.epochs,
            "learning_rate": FLAGS.learning_rate,
            "consistency": FLAGS.consistency,
            "recalibrate_every": RECALIBRATE_EVERY,
            "num_representative": FLAGS.num_representative,
            "bound": FLAGS.bound,
        },
        "epochs": epochs,
        "int8_file": result,
    }
    print(output["int8_file"])
    if FLAGS.output:
        _io.write_json(FLAGS.output, output, overwrite=True)


if __name__ == "__main__":
    app.run(main)
