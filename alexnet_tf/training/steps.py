"""What runs per batch: the distributed train step, the predict pass, the loss, the dtype
policy and TensorBoard scalars (the training job in loop.py drives them)."""

from __future__ import annotations

import numpy as np

from .settings import SettingsError


def set_precision(precision: str, has_gpu: bool) -> None:
    """Set the Keras dtype policy. LRN layers stay float32 by construction (see model.py)."""
    import keras

    if precision == "fp16":
        if not has_gpu:
            raise SettingsError(
                "precision fp16 needs a GPU with float16 support; this machine trains on the CPU, "
                "where float16 is emulated and slower. Use bf16 or fp32. Received: precision='fp16'"
            )
        keras.mixed_precision.set_global_policy("mixed_float16")
    elif precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    else:
        keras.mixed_precision.set_global_policy("float32")


def make_train_step(strategy, net, optimizer, global_batch: int, *, jit_compile: bool = True):
    """The distributed train step: ``step(batch) -> (mean loss, accuracy, gradient norm)``.

    The gradient norm (root of the replicas' summed squared norms; scaled under fp16) is returned
    so that a step that went non-finite stops the job before anything is saved.

    With ``jit_compile`` the forward and backward pass of each replica is compiled with XLA;
    whether that is faster depends on the CPU, so the caller passes the path measured on this
    machine (``alexnet_tf.speed.train_path``). The optimizer update stays outside XLA because
    it aggregates gradients across replicas.
    """
    import keras
    import tensorflow as tf

    variables = net.trainable_variables

    @tf.function(jit_compile=jit_compile)
    def forward_backward(images, labels):
        with tf.GradientTape() as tape:
            probabilities = net(images, training=True)
            per_example = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            scaled = optimizer.scale_loss(loss)  # loss scaling under fp16, identity otherwise
        gradients = tape.gradient(scaled, variables)
        predicted = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        correct = tf.reduce_sum(tf.cast(tf.equal(predicted, tf.cast(labels, tf.int32)), tf.float32))
        return loss, correct, gradients, tf.square(tf.linalg.global_norm(gradients))

    def replica_step(images, labels):
        loss, correct, gradients, squared_norm = forward_backward(images, labels)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss, correct, squared_norm

    @tf.function
    def step(batch):
        images, labels = batch
        loss, correct, squared_norm = strategy.run(replica_step, args=(images, labels))
        total_loss = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        total_correct = strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None)
        squared = strategy.reduce(tf.distribute.ReduceOp.SUM, squared_norm, axis=None)
        return total_loss, total_correct / global_batch, tf.sqrt(squared)

    return step


def write_scalar(name: str, value: float, step: int) -> None:
    """One TensorBoard scalar, written with TensorFlow's own summary op.

    ``tf.summary.scalar`` lives in the tensorboard package, which TensorFlow no longer
    installs; this writes the same record (scalar plugin metadata), so ``tensorboard
    --logdir JOB/tensorboard`` shows it wherever TensorBoard is installed.
    """
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(data_class=summary_pb2.DATA_CLASS_SCALAR)
    metadata.plugin_data.plugin_name = "scalars"
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=step,
                     metadata=metadata.SerializeToString())  # fmt: skip


def make_predict(net):
    """A compiled inference pass of ``net`` (probabilities), outside the replicas."""
    import tensorflow as tf

    return tf.function(lambda x: net(x, training=False))


def predict_dataset(predict, dataset) -> np.ndarray:
    """Probabilities for every example of an eval dataset, in order."""
    outputs = [predict(batch).numpy() for batch in dataset]
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of ``probabilities`` (rows) at the true ``labels``."""
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
