"""The architecture registry: smp networks come from `smp.create_model` by name, and build the
very tensors (names, shapes, values under one seed) that the smp classes built when they were
called one by one, so checkpoints written before still load and a seeded run trains the same."""

import faceparse._torchvision  # noqa: F401  (must precede smp/timm)

import pytest
import segmentation_models_pytorch as smp
import torch

from faceparse.models import ARCHITECTURES, ModelSpec, build_model, smp_model


# Tensors in each state dict with the mobilenet_v2 encoder (encoder, decoder and head), counted
# from the classes called directly with smp 0.6.0; a checkpoint of that architecture holds these.
SMP_TENSORS = {"Unet": 374, "FPN": 343, "DeepLabV3Plus": 373}


@pytest.mark.parametrize("arch", sorted(SMP_TENSORS))
def test_smp_architectures_build_the_classes_own_tensors(arch):
    assert ARCHITECTURES[arch] is smp_model
    spec = ModelSpec(arch=arch, encoder="mobilenet_v2", in_channels=3, num_classes=6)
    torch.manual_seed(0)
    ours = build_model(spec).state_dict()
    after_ours = torch.get_rng_state()
    torch.manual_seed(0)
    direct = getattr(smp, arch)("mobilenet_v2", encoder_weights=None, in_channels=3, classes=6).state_dict()
    assert torch.equal(torch.get_rng_state(), after_ours)  # the same draws from the generator, no more
    assert list(ours) == list(direct) and len(ours) == SMP_TENSORS[arch]
    assert "encoder.features.0.0.weight" in ours and ours["segmentation_head.0.weight"].shape[0] == 6
    for name, tensor in direct.items():
        assert torch.equal(ours[name], tensor), name

