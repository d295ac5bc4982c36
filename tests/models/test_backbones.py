"""Backbones: declared channels and stride, weights files, and the offline error."""

from __future__ import annotations

import urllib.error

import pytest
import torch
import torchvision.models as tvm

from reference_models import backbones
from reference_models.backbones import BACKBONE_NAMES, GoogLeNetInputTransform, WeightsNotFoundError, build_backbone


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
    with pytest.raises(ValueError, match="garbage.pth"):
        build_backbone("caffenet", weights=garbage)
    wrong = tmp_path / "wrong.pth"
    torch.save(backbones.tiny_body().state_dict(), wrong)
    with pytest.raises(ValueError, match="does not fit"):
        build_backbone("caffenet", weights=wrong)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("alexnet9")
