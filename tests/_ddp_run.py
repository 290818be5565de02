"""Run by tests/test_ddp.py under torchrun: a few steps of `faceparse.train.train` on a tiny dataset;
each rank saves the weights it ended with beside rank 0's checkpoints."""

import sys
from pathlib import Path

import torch

import faceparse.train
from faceparse.launch import ranks
from faceparse.train import TrainData, train

sys.path.insert(0, str(Path(__file__).parent))
from test_ddp import PARAMS, tiny_data  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1])
    images, masks = tiny_data()
    saved, save = [], faceparse.train.save_checkpoint
    faceparse.train.save_checkpoint = lambda path, *a, **k: (saved.append(Path(path).name), save(path, *a, **k))
    result = train(PARAMS, "fasseg6", TrainData(images, masks), TrainData(images[:2], masks[:2]), out / "model.pt")
    torch.save({"steps": result["steps"], "state_dict": result["model"].state_dict(), "saved": saved},
               out / f"rank{ranks().rank}.pt")


if __name__ == "__main__":
    main()
