"""Backbones: declared channels and stride, weights files, and the offline error."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision.models as tvm

from reference_models import backbones
from reference_models.backbones import BACKBONE_NAMES, GoogLeNetInputTransform, build_backbone
from reference_models.errors import WeightsError, WeightsNotFoundError


@pytest.mark.parametrize("name", BACKBONE_NAMES)
def test_backbone_gives_declared_channels_and_stride(name):
    torch.manual_seed(0)
    model = build_backbone(name, weights=None).eval()
    for size in (160, 224):
        with torch.no_grad():
            out = model(torch.randn(1, 3, size, size))
        assert out.shape[1] == model.out_channels
        # nominal stride: padding/rounding may shift the map size by one cell
        assert abs(out.shape[2] - size / model.stride) <= 1 and abs(out.shape[3] - size / model.stride) <= 1
    assert len(model.mean) == 3 and len(model.std) == 3


def test_declared_numbers_match_design():
    expected = {"caffenet": (256, 16), "googlenet": (832, 16), "vgg16": (512, 16), "resnet50": (2048, 32), "tiny": (128, 8)}
    for name, (channels, stride) in expected.items():
        model = build_backbone(name, weights=None)
        assert (model.out_channels, model.stride) == (channels, stride)
    dilated = build_backbone("resnet50", weights=None, dilated=True).eval()
    with torch.no_grad():
        assert dilated(torch.randn(1, 3, 128, 128)).shape[2:] == (8, 8)
    assert dilated.stride == 16


def test_torchvision_weights_file_round_trips(tmp_path):
    torch.manual_seed(1)
    full = tvm.alexnet(weights=None).eval()
    path = tmp_path / "alexnet.pth"
    torch.save(full.state_dict(), path)
    model = build_backbone("caffenet", weights=path).eval()
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(model(x), full.features[:12](x), rtol=0, atol=0)


def test_googlenet_file_with_aux_heads_loads_and_applies_input_transform(tmp_path):
    torch.manual_seed(2)
    full = tvm.googlenet(weights=None, aux_logits=True, init_weights=True).eval()  # as the hub file: with aux
    path = tmp_path / "googlenet.pth"
    torch.save(full.state_dict(), path)
    model = build_backbone("googlenet", weights=path).eval()
    assert isinstance(model.body[0], GoogLeNetInputTransform)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        # reference: torchvision's own input transform, then the layers through inception4e
        ref = x.clone()
        for i, (m, s) in enumerate(zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))):
            ref[:, i] = x[:, i] * (s / 0.5) + (m - 0.5) / 0.5
        for name, module in full.named_children():
            if name.startswith("aux"):
                continue
            ref = module(ref)
            if name == "inception4e":
                break
        torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5)


def test_tiny_weights_round_trip(tmp_path):
    torch.manual_seed(3)
    model = build_backbone("tiny", weights=None).eval()
    path = tmp_path / "tiny.pth"
    torch.save(model.body.state_dict(), path)
    again = build_backbone("tiny", weights=path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)
    assert build_backbone("tiny").out_channels == 128  # "default" = random init for tiny


def _offline(monkeypatch, hub_dir):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub_dir))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)


def test_offline_error_names_the_file_and_folder(monkeypatch, tmp_path):
    _offline(monkeypatch, tmp_path / "hub")
    with pytest.raises(WeightsNotFoundError) as info:
        build_backbone("googlenet")
    message = str(info.value)
    assert "googlenet-1378be20.pth" in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "weights=PATH" in message


def test_cached_file_is_used_without_network(monkeypatch, tmp_path):
    _offline(monkeypatch, tmp_path / "hub")
    torch.manual_seed(4)
    full = tvm.alexnet(weights=None)
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(full.state_dict(), checkpoints / "alexnet-owt-7be5be79.pth")
    model = build_backbone("caffenet")
    torch.testing.assert_close(model.body[0].weight, full.features[0].weight)


def test_bad_weights_files(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="missing.pth"):
        build_backbone("tiny", weights=tmp_path / "missing.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="garbage.pth: not a readable PyTorch state dict"):
        build_backbone("caffenet", weights=garbage)
    wrong = tmp_path / "wrong.pth"
    torch.save(backbones.tiny_body().state_dict(), wrong)
    with pytest.raises(WeightsError, match="does not fit"):
        build_backbone("caffenet", weights=wrong)
    not_a_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_a_dict)
    with pytest.raises(WeightsError, match="holds a list, not a state dict"):
        build_backbone("tiny", weights=not_a_dict)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("alexnet9")


def test_weights_names_resolve_to_the_torchvision_enum(monkeypatch, tmp_path):
    """"imagenet", "default", member names (plain or qualified) load the file torchvision's enum names."""
    _offline(monkeypatch, tmp_path / "hub")
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(6)
    full = tvm.alexnet(weights=None)
    torch.save(full.state_dict(), checkpoints / "alexnet-owt-7be5be79.pth")
    for weights in ("imagenet", "ImageNet", "default", "IMAGENET1K_V1", "AlexNet_Weights.IMAGENET1K_V1"):
        model = build_backbone("caffenet", weights=weights)
        torch.testing.assert_close(model.body[0].weight, full.features[0].weight, rtol=0, atol=0)
    # resnet50 has two ImageNet weights; the name picks the file (offline: the error names it)
    with pytest.raises(WeightsNotFoundError, match="resnet50-0676ba61.pth"):
        build_backbone("resnet50", weights="IMAGENET1K_V1")
    with pytest.raises(WeightsNotFoundError, match="resnet50-11ad3fa6.pth"):
        build_backbone("resnet50", weights="imagenet")  # DEFAULT = IMAGENET1K_V2


def test_unusable_weights_arguments_list_the_accepted_values(monkeypatch, tmp_path):
    _offline(monkeypatch, tmp_path / "hub")
    accepted = "none, default, imagenet, IMAGENET1K_V1, IMAGENET1K_V2"
    unknown = f"'imagenet21k': no such file, and not a weights name \\({accepted}\\)"
    with pytest.raises(WeightsNotFoundError, match=unknown):
        build_backbone("resnet50", weights="imagenet21k")
    for weights in (True, 3, 1.5):
        with pytest.raises(WeightsError, match=f"weights={weights!r}: give a weights name \\({accepted}\\)"):
            build_backbone("resnet50", weights=weights)
    with pytest.raises(WeightsError, match="no pretrained weights"):
        build_backbone("tiny", weights="imagenet")
    with pytest.raises(ValueError, match=r"resnet50: unknown option\(s\) \['width'\]; accepted: dilated"):
        build_backbone("resnet50", weights=None, width=3)


def test_corrupt_cached_file_is_a_weights_error_that_says_to_delete_it(monkeypatch, tmp_path):
    _offline(monkeypatch, tmp_path / "hub")
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "alexnet-owt-7be5be79.pth").write_bytes(b"\x80\x02half a download")
    with pytest.raises(WeightsError, match=r"alexnet-owt-7be5be79\.pth: not a readable PyTorch state dict .*delete it"):
        build_backbone("caffenet")


@pytest.mark.parametrize("name", BACKBONE_NAMES)
def test_min_size_is_the_smallest_image_the_layers_take(name):
    """The declared minimum against the layers themselves: min_size gives >= 1x1, one pixel less does not."""
    model = build_backbone(name, weights=None).eval()
    with torch.no_grad():
        assert min(model.body(torch.zeros(1, 3, model.min_size, model.min_size + 5)).shape[2:]) >= 1
        if model.min_size > 1:
            smaller = model.min_size - 1
            try:
                too_small = min(model.body(torch.zeros(1, 3, smaller, smaller + 5)).shape[2:]) == 0
            except RuntimeError:  # torch refuses an empty output
                too_small = True
            assert too_small
            with pytest.raises(ValueError, match=f"{name}: images must be at least {model.min_size}x{model.min_size} "
                                                 f"pixels, got {smaller}x{smaller + 5}"):
                model(torch.zeros(1, 3, smaller, smaller + 5))
