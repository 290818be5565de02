"""Data-parallel training under torchrun (gloo on this CPU): two processes make the same steps as
one process taking the same global batch, computed here without the training loop."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from faceparse.inference import model_input
from faceparse.models import ModelSpec, build_model
from faceparse.train import TrainParams

# Cross-entropy only, no augmentation and no ignored pixels: the global batch's loss is then the mean
# of the ranks' losses, and SGD (unlike Adam) keeps tiny gradient differences tiny.
PARAMS = TrainParams(arch="compact", weights="none", epochs=2, batch_size=4, lr=0.01, optimizer="sgd",
                     schedule="constant", warmup_epochs=0, loss={"ce": 1.0}, augment=None, num_workers=0,
                     threads=1, seed=3, max_steps=3)
N, SIZE = 8, 64


def tiny_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N, SIZE, SIZE, 3), dtype=np.uint8)
    masks = np.zeros((N, SIZE, SIZE), np.uint8)
    masks[:, SIZE // 4:3 * SIZE // 4, SIZE // 4:3 * SIZE // 4] = rng.integers(1, 6, (N, 1, 1))  # a square of one class on background
    images[masks > 0] //= 2
    return images, masks


def _torchrun(processes: int, out: Path) -> dict[int, dict]:
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FACEPARSE_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                           str(Path(__file__).with_name("_ddp_run.py")), str(out)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {r: torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(processes)}


def _reference(world: int) -> dict[str, torch.Tensor]:
    """The same steps in one process: every epoch the permutation a DistributedSampler draws (seed +
    epoch), each global batch of 4 split into the `world` ranks' shares (every `world`-th crop), the
    loss the mean of their losses, one SGD step. Batch norm sees each share alone, as on a rank."""
    images, masks = tiny_data()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank runs: oneDNN's sums depend on the thread count
    try:
        return _steps(world, images, masks)
    finally:
        torch.set_num_threads(threads)


def _steps(world: int, images: np.ndarray, masks: np.ndarray) -> dict[str, torch.Tensor]:
    torch.manual_seed(PARAMS.seed)
    model = build_model(ModelSpec(arch="compact", encoder="", in_channels=3, num_classes=6))
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=PARAMS.lr, momentum=0.9, weight_decay=PARAMS.weight_decay, nesterov=True)
    x, y = model_input(images, None), torch.from_numpy(masks).long()
    step, per_rank = 0, PARAMS.batch_size // world
    for epoch in range(PARAMS.epochs):
        g = torch.Generator()
        g.manual_seed(PARAMS.seed + epoch)
        perm = torch.randperm(N, generator=g)
        shares = [perm[r::world] for r in range(world)]
        for b in range(len(shares[0]) // per_rank):
            loss = 0.0
            for share in shares:
                idx = share[b * per_rank:(b + 1) * per_rank]
                loss = loss + torch.nn.functional.cross_entropy(model(x[idx].contiguous(memory_format=torch.channels_last)),
                                                                y[idx], ignore_index=255) / world
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == PARAMS.max_steps:
                return {k: v.detach().clone() for k, v in model.named_parameters()}
    raise AssertionError("fewer steps than max_steps")


@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="torch without gloo")
def test_two_processes_train_as_one_with_the_same_global_batch(tmp_path):
    two = _torchrun(2, tmp_path / "two")
    assert two[0]["steps"] == two[1]["steps"] == PARAMS.max_steps
    # the ranks end with the same weights (batch norm's running statistics are each rank's own; DDP
    # hands rank 0's to every rank at each step), and rank 0 alone wrote checkpoints
    weights = [k for k, _ in build_model(ModelSpec(arch="compact", encoder="", num_classes=6)).named_parameters()]
    for k in weights:
        assert torch.equal(two[0]["state_dict"][k], two[1]["state_dict"][k]), k
    assert two[1]["saved"] == [] and "model.last.pt" in two[0]["saved"] and "model.pt" in two[0]["saved"]
    one = _torchrun(1, tmp_path / "one")
    ref1, ref2 = _reference(1), _reference(2)
    torch.manual_seed(PARAMS.seed)
    start = dict(build_model(ModelSpec(arch="compact", encoder="", in_channels=3, num_classes=6)).named_parameters())

    def off(a: dict, b: dict) -> float:  # the largest difference of a weight tensor, in units of the steps b took
        return max(((a[k] - b[k]).norm() / (b[k] - start[k]).norm()).item() for k in b)

    assert off(two[0]["state_dict"], ref2) < 1e-4  # measured 0.0: the same sums in the same order
    assert off(one[0]["state_dict"], ref1) < 1e-4
    # and the comparison can tell: batch norm over the 4 crops at once, against 2 and 2, lands elsewhere
    assert off(ref2, ref1) > 0.5  # measured 2.2
