"""The BVLC AlexNet in PyTorch: the reference the Keras model is timed against.

PyTorch is a benchmark reference only, never a dependency of the project. Install it into the
same environment with the CPU wheel index, e.g.::

    pip install torch==2.13.0

Same topology as ``alexnet_tf.build_alexnet`` (deploy.prototxt): groups=2 in conv2/4/5, LRN
with Caffe's constants, LRN before pooling, 60,965,224 parameters. Inputs are NCHW, as PyTorch
prefers; the data are random, because only the time matters here.
"""

from __future__ import annotations

import torch
from torch import nn


def build_torch_alexnet(num_classes: int = 1000, dropout: float = 0.5) -> nn.Sequential:
    """Return AlexNet (BVLC topology) as an ``nn.Sequential`` ending in logits (fc8)."""

    def conv(cin, cout, size, stride=1, padding=0, groups=1):
        return [nn.Conv2d(cin, cout, size, stride, padding, groups=groups), nn.ReLU(inplace=True)]

    def lrn():
        # Caffe's constants; PyTorch, like Caffe, divides alpha by the window size.
        return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)

    def pool():
        return nn.MaxPool2d(3, 2)

    return nn.Sequential(
        *conv(3, 96, 11, stride=4),
        lrn(),
        pool(),
        *conv(96, 256, 5, padding=2, groups=2),
        lrn(),
        pool(),
        *conv(256, 384, 3, padding=1),
        *conv(384, 384, 3, padding=1, groups=2),
        *conv(384, 256, 3, padding=1, groups=2),
        pool(),
        nn.Flatten(),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(4096, num_classes),
    )


def torch_inference_calls(images) -> dict:
    """Zero-argument calls of AlexNet's forward pass to probabilities on ``images`` (NHWC
    float32, as the Keras model takes them) under ``torch.inference_mode``, one per memory
    layout: ``{"NCHW": ..., "channels_last": ...}``."""
    import numpy as np

    nchw = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    nets = {
        "NCHW": (build_torch_alexnet().eval(), nchw),
        "channels_last": (
            build_torch_alexnet().eval().to(memory_format=torch.channels_last),
            nchw.contiguous(memory_format=torch.channels_last),
        ),
    }

    def run(net, x):
        with torch.inference_mode():
            return torch.softmax(net(x), dim=1).numpy()

    return {layout: (lambda net=net, x=x: run(net, x)) for layout, (net, x) in nets.items()}


def torch_training_step(
    images, labels, *, precision: str = "fp32", channels_last: bool = False,
    num_classes: int = 1000, lr: float = 0.01, momentum: float = 0.9,
):  # fmt: skip
    """A zero-argument callable running one PyTorch training step of AlexNet on ``images``
    (NHWC float32, as the Keras model takes them): forward (dropout on), cross-entropy,
    backward, SGD with momentum; bf16 under ``torch.autocast``."""
    import numpy as np

    net = build_torch_alexnet(num_classes).train()
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(labels.astype(np.int64))
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = loss_fn(net(x).float(), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    net = build_torch_alexnet()
    print(f"parameters: {count_parameters(net):,}")
    with torch.inference_mode():
        print("output:", tuple(net.eval()(torch.zeros(1, 3, 227, 227)).shape))
