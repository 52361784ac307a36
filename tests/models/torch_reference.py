"""Run in its own process by test_torch_parity.py (torch and TensorFlow in one process
can crash): builds a torchvision ResNet with random weights and randomised BatchNorm
statistics, saves its state dict as safetensors and its outputs on fixed images.

    python tests/models/torch_reference.py resnet18 OUT_DIR
"""

import sys
from pathlib import Path

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def main(name: str, out: Path) -> None:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=5).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "w.safetensors")
    )
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype("float32")
    batch = torch.from_numpy(((pixels / 255 - MEAN) / STD).transpose(0, 3, 1, 2).astype("float32"))
    with torch.no_grad():
        stem = model.maxpool(model.relu(model.bn1(model.conv1(batch))))
        x = model.layer4(model.layer3(model.layer2(model.layer1(stem))))
        features = torch.flatten(model.avgpool(x), 1).numpy()
        probabilities = torch.softmax(model(batch), 1).numpy()
    np.savez(out / "reference.npz", pixels=pixels, features=features, probabilities=probabilities)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
