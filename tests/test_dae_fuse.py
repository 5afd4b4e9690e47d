"""DAE-Fuse: its blocks against hand computations, the generator's shapes, gradient flow and symmetry,
its checkpoint loading, and the Phase I / Phase II losses on cases computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lzsc.checkpoints import CheckpointError
from lzsc.methods.dae_fuse import (
    TRAINED_FORMAT,
    DAEFuse,
    DAEFuseConfig,
    DAEFuseDiscriminators,
    load_dae_fuse,
)
from lzsc.methods.dae_fuse_blocks import (
    ChannelAttention,
    ChannelLayerNorm,
    CrossAttentionBlock,
    Discriminator,
    GatedFeedForward,
    PatchViT,
    ResidualCNN,
    RestormerBlock,
)
from lzsc.training.dae_fuse_losses import (
    CORR_OFFSET,
    content_loss,
    correlation_coefficient,
    correlation_loss,
    discriminator_loss,
    generator_adversarial_loss,
    phase1_loss,
    phase2_loss,
)
from lzsc.training.losses import gradient_loss, intensity_loss, sobel_magnitude, ssim

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = DAEFuseConfig(
    channels=8, heads=2, high_blocks=1, vit_patch=4, vit_depth=1, vit_heads=2, disc_widths=(4, 8)
)
TIED = DAEFuseConfig(**{**SMALL.to_dict(), "tie_cross": True})
GENERATOR_PARTS = {
    "embedding",
    "shallow",
    "high",
    "low",
    "cross_a",
    "cross_b",
    "merge",
    "reduce",
    "decoder",
    "head",
}


def small_model(seed: int = 0, config: DAEFuseConfig = SMALL) -> DAEFuse:
    torch.manual_seed(seed)
    return DAEFuse(config)


def pair(
    n: int = 1, h: int = 13, w: int = 17, seed: int = 0, dtype=torch.float32
) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(n, 1, h, w, generator=g, dtype=dtype) for _ in range(2))


def randomise_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values in every parameter (LayerNorm's 1 / 0 init would hide a wrong affine part)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5 + (1.0 if p.ndim <= 1 else 0.0))
    return module


def top_level(name: str) -> str:
    return name.split(".", 1)[0]


# --------------------------------------------------------------------------------------------- blocks


class TestChannelLayerNorm:
    def test_matches_per_pixel_normalisation_over_channels(self):
        norm = randomise_(ChannelLayerNorm(5).double())
        x = torch.randn(2, 5, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3 + 1
        mean = x.mean(dim=1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=1, keepdim=True)  # biased, as LayerNorm
        weight, bias = norm.norm.weight.view(1, 5, 1, 1), norm.norm.bias.view(1, 5, 1, 1)
        expected = (x - mean) / torch.sqrt(var + norm.norm.eps) * weight + bias
        torch.testing.assert_close(norm(x), expected, rtol=0, atol=1e-12)

    def test_does_not_mix_pixels(self):
        norm = ChannelLayerNorm(4)
        x = torch.randn(1, 4, 3, 3)
        y = x.clone()
        y[0, :, 0, 0] += torch.tensor([3.0, -1.0, 0.0, 2.0])  # not a scaling: LN is scale-invariant
        out_x, out_y = norm(x), norm(y)
        assert torch.equal(out_x[..., 1:, :], out_y[..., 1:, :])
        assert not torch.allclose(out_x[..., 0, 0], out_y[..., 0, 0])


def manual_channel_attention(attn: ChannelAttention, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """MDTA written out head by head: rows l2-normalised over the pixels, softmax(tau q k^T) v, project."""
    n, c, h, w = x.shape
    heads, d = attn.heads, c // attn.heads
    q = attn.q(x).reshape(n, c, h * w)
    k, v = (t.reshape(n, c, h * w) for t in attn.kv(context).chunk(2, dim=1))
    out = torch.empty(n, c, h * w, dtype=x.dtype)
    for i in range(n):
        for head in range(heads):
            rows = slice(head * d, (head + 1) * d)
            qh, kh, vh = q[i, rows], k[i, rows], v[i, rows]
            qh = qh / qh.square().sum(-1, keepdim=True).sqrt()
            kh = kh / kh.square().sum(-1, keepdim=True).sqrt()
            logits = attn.temperature[head, 0, 0] * (qh @ kh.T)  # d x d: across channels
            weights = logits.exp() / logits.exp().sum(-1, keepdim=True)
            out[i, rows] = weights @ vh
    projected = torch.einsum("oc,ncp->nop", attn.project.weight[:, :, 0, 0], out)
    return projected.reshape(n, c, h, w)


class TestChannelAttention:
    def test_matches_hand_computation_float64(self):
        attn = ChannelAttention(6, 3).double()
        with torch.no_grad():
            attn.temperature.copy_(torch.tensor([0.5, 2.0, 3.5]).view(3, 1, 1))
        g = torch.Generator().manual_seed(2)
        x = torch.randn(2, 6, 3, 5, dtype=torch.float64, generator=g)
        ctx = torch.randn(2, 6, 3, 5, dtype=torch.float64, generator=g)
        with torch.no_grad():
            torch.testing.assert_close(
                attn(x, ctx), manual_channel_attention(attn, x, ctx), rtol=0, atol=1e-12
            )
            torch.testing.assert_close(attn(x), manual_channel_attention(attn, x, x), rtol=0, atol=1e-12)

    def test_self_attention_is_context_x(self):
        attn = ChannelAttention(8, 2)
        x = torch.randn(2, 8, 5, 7)
        assert torch.equal(attn(x), attn(x, x))

    def test_queries_from_x_keys_values_from_context(self):
        attn = ChannelAttention(4, 2)
        x, ctx = torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4)
        assert not torch.allclose(attn(x, ctx), attn(ctx, x))
        assert not torch.allclose(attn(x, ctx), attn(x))

    def test_any_image_size(self):
        attn = ChannelAttention(4, 2)
        for h, w in ((1, 1), (2, 9), (13, 17)):
            assert attn(torch.randn(2, 4, h, w)).shape == (2, 4, h, w)

    def test_heads_must_divide_channels(self):
        with pytest.raises(ValueError, match="multiple of heads"):
            ChannelAttention(6, 4)

    def test_gradcheck_float64(self):
        torch.manual_seed(3)
        attn = ChannelAttention(4, 2).double()
        g = torch.Generator().manual_seed(3)
        x = torch.randn(1, 4, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
        ctx = torch.randn(1, 4, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
        assert torch.autograd.gradcheck(attn, (x, ctx))
        assert torch.autograd.gradcheck(lambda t: attn(t), (x,))


class TestGatedFeedForward:
    def test_matches_hand_formula(self):
        ffn = GatedFeedForward(4, 1.5).double()
        assert ffn.inp.out_channels == 2 * 6
        assert ffn.out.in_channels == 6
        x = torch.randn(2, 4, 5, 3, dtype=torch.float64)
        hidden = ffn.dw(ffn.inp(x))
        gate, value = hidden[:, :6], hidden[:, 6:]
        expected = ffn.out(0.5 * gate * (1 + torch.erf(gate / math.sqrt(2))) * value)
        torch.testing.assert_close(ffn(x), expected, rtol=0, atol=1e-12)

    def test_hidden_width_at_least_one(self):
        assert GatedFeedForward(2, 0.1).out.in_channels == 1


class TestRestormerBlock:
    def test_is_identity_when_both_residual_branches_are_zero(self):
        block = RestormerBlock(4, 2, 2.0)
        with torch.no_grad():
            block.attn.project.weight.zero_()
            block.ffn.out.weight.zero_()
        x = torch.randn(2, 4, 5, 6)
        assert torch.equal(block(x), x)

    def test_residual_form(self):
        block = randomise_(RestormerBlock(4, 2, 2.0).double(), seed=4)
        x = torch.randn(1, 4, 5, 6, dtype=torch.float64)
        mid = x + block.attn(block.norm1(x))
        torch.testing.assert_close(block(x), mid + block.ffn(block.norm2(mid)), rtol=0, atol=1e-12)


class TestCrossAttentionBlock:
    def test_residual_form_with_query_and_context(self):
        block = randomise_(CrossAttentionBlock(4, 2, 2.0).double(), seed=5)
        q, ctx = torch.randn(2, 1, 4, 5, 6, dtype=torch.float64)
        mid = q + block.attn(block.norm_q(q), block.norm_kv(ctx))
        torch.testing.assert_close(block(q, ctx), mid + block.ffn(block.norm_ffn(mid)), rtol=0, atol=1e-12)
        assert not torch.allclose(block(q, ctx), block(q, q))

    def test_own_context_equals_a_restormer_block_with_the_same_weights(self):
        cross = randomise_(CrossAttentionBlock(4, 2, 2.0).double(), seed=6)
        with torch.no_grad():
            cross.norm_kv.load_state_dict(cross.norm_q.state_dict())
        self_block = RestormerBlock(4, 2, 2.0).double()
        self_block.norm1.load_state_dict(cross.norm_q.state_dict())
        self_block.norm2.load_state_dict(cross.norm_ffn.state_dict())
        self_block.attn.load_state_dict(cross.attn.state_dict())
        self_block.ffn.load_state_dict(cross.ffn.state_dict())
        x = torch.randn(2, 4, 3, 5, dtype=torch.float64)
        torch.testing.assert_close(cross(x, x), self_block(x), rtol=0, atol=1e-12)

    def test_gradcheck_float64(self):
        torch.manual_seed(7)
        block = randomise_(CrossAttentionBlock(4, 2, 2.0).double(), seed=7)
        g = torch.Generator().manual_seed(7)
        q = torch.randn(1, 4, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
        ctx = torch.randn(1, 4, 3, 3, dtype=torch.float64, generator=g, requires_grad=True)
        assert torch.autograd.gradcheck(block, (q, ctx))


class TestResidualCNN:
    def test_shape_and_relu_output(self):
        net = ResidualCNN(4, 2)
        assert len(net.blocks) == 2
        out = net(torch.randn(2, 4, 7, 9))
        assert out.shape == (2, 4, 7, 9)
        assert (out >= 0).all()

    def test_basic_block_by_hand(self):
        net = ResidualCNN(3, 1).double()
        block = net.blocks[0]
        x = torch.randn(1, 3, 5, 4, dtype=torch.float64)

        def conv(t, layer):
            return F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), layer.weight, layer.bias)

        expected = F.relu(x + conv(F.relu(conv(x, block.conv1)), block.conv2))
        torch.testing.assert_close(net(x), expected, rtol=0, atol=1e-12)

    def test_zero_blocks_is_identity(self):
        x = torch.randn(1, 4, 3, 3)
        assert torch.equal(ResidualCNN(4, 0)(x), x)


class TestPatchViT:
    @pytest.mark.parametrize(("h", "w"), [(13, 17), (9, 31), (2, 2), (3, 2), (4, 4), (16, 8), (1, 1)])
    def test_any_size_back_to_input_size(self, h, w):
        torch.manual_seed(0)
        vit = PatchViT(4, patch=4, depth=1, heads=2, mlp_ratio=2.0)
        assert vit(torch.randn(2, 4, h, w)).shape == (2, 4, h, w)

    def test_reflect_pads_bottom_right_and_crops(self):
        torch.manual_seed(0)
        vit = PatchViT(4, patch=4, depth=1, heads=2, mlp_ratio=2.0).double()
        x = torch.randn(1, 4, 13, 17, dtype=torch.float64)
        padded = F.pad(x, (0, 3, 0, 3), mode="reflect")
        full = vit(padded)
        assert full.shape == (1, 4, 16, 20)
        torch.testing.assert_close(vit(x), full[..., :13, :17], rtol=0, atol=1e-12)

    def test_smaller_than_the_patch_replicates(self):
        torch.manual_seed(0)
        vit = PatchViT(4, patch=4, depth=1, heads=2, mlp_ratio=2.0).double()
        x = torch.randn(1, 4, 2, 3, dtype=torch.float64)
        full = vit(F.pad(x, (0, 1, 0, 2), mode="replicate"))
        torch.testing.assert_close(vit(x), full[..., :2, :3], rtol=0, atol=1e-12)

    def test_matches_hand_computation_float64(self):
        """Patch embedding + conv position code, pre-norm layers (softmax(q k^T / sqrt d) v), bilinear up."""
        torch.manual_seed(0)
        vit = randomise_(PatchViT(4, patch=2, depth=2, heads=2, mlp_ratio=1.5).double(), seed=8)
        x = torch.randn(1, 4, 6, 5, dtype=torch.float64)
        padded = F.pad(x, (0, 1, 0, 0), mode="reflect")
        grid = F.conv2d(padded, vit.embed.weight, vit.embed.bias, stride=2)
        grid = grid + F.conv2d(grid, vit.position.weight, vit.position.bias, padding=1, groups=4)
        tokens = grid.flatten(2).transpose(1, 2)  # (1, 9, 4)
        for layer in vit.layers:
            normed = F.layer_norm(tokens, (4,), layer.norm1.weight, layer.norm1.bias)
            q, k, v = F.linear(normed, layer.qkv.weight, layer.qkv.bias).chunk(3, dim=-1)
            heads = []
            for head in range(2):
                cols = slice(2 * head, 2 * head + 2)
                logits = q[0, :, cols] @ k[0, :, cols].T / math.sqrt(2)
                heads.append(logits.softmax(-1) @ v[0, :, cols])
            tokens = tokens + F.linear(torch.cat(heads, -1)[None], layer.proj.weight, layer.proj.bias)
            normed = F.layer_norm(tokens, (4,), layer.norm2.weight, layer.norm2.bias)
            tokens = tokens + layer.mlp(normed)
        out = F.layer_norm(tokens, (4,), vit.norm.weight, vit.norm.bias).transpose(1, 2).reshape(1, 4, 3, 3)
        out = F.conv2d(out, vit.out.weight, vit.out.bias)
        expected = F.interpolate(out, size=(6, 6), mode="bilinear", align_corners=False)[..., :6, :5]
        torch.testing.assert_close(vit(x), expected, rtol=0, atol=1e-12)

    def test_attention_is_global_over_patches(self):
        torch.manual_seed(0)
        vit = PatchViT(4, patch=4, depth=1, heads=2, mlp_ratio=2.0)
        x = torch.randn(1, 4, 24, 24)
        y = x.clone()
        y[..., :4, :4] += 5.0  # the top-left patch only
        far = (..., slice(20, 24), slice(20, 24))  # five patches away: beyond the 3 x 3 position code
        assert not torch.allclose(vit(x)[far], vit(y)[far])

    def test_images_of_a_batch_do_not_mix(self):
        torch.manual_seed(0)
        vit = PatchViT(4, patch=4, depth=1, heads=2, mlp_ratio=2.0)
        x = torch.randn(3, 4, 9, 10)
        torch.testing.assert_close(vit(x)[1:2], vit(x[1:2]))

    def test_vit_heads_must_divide_channels(self):
        with pytest.raises(ValueError, match="vit_heads"):
            PatchViT(6, patch=4, depth=1, heads=4, mlp_ratio=2.0)


class TestDiscriminator:
    def test_one_logit_per_image_for_any_crop(self):
        torch.manual_seed(0)
        disc = Discriminator((4, 8, 16)).eval()
        for h, w in ((16, 16), (13, 29), (3, 3)):
            assert disc(torch.rand(3, 1, h, w)).shape == (3,)

    def test_layer_order(self):
        disc = Discriminator((4, 8))
        kinds = [type(m) for m in disc.features]
        assert kinds == [torch.nn.Conv2d, torch.nn.LeakyReLU, torch.nn.BatchNorm2d] * 2 + [
            torch.nn.AdaptiveAvgPool2d
        ]
        assert disc.features[0].stride == (2, 2)
        assert disc.features[0].in_channels == 1
        assert disc.features[1].negative_slope == 0.2
        assert disc.features[-1].output_size == 4
        assert disc.fc.in_features == 8 * 4 * 4
        assert disc.fc.out_features == 1
        assert Discriminator((4, 8), pool=2).fc.in_features == 8 * 2 * 2

    def test_pooled_grid_keeps_the_layout(self):
        """Unlike a global mean, the 4 x 4 grid tells an image from its mirror image."""
        torch.manual_seed(0)
        disc = Discriminator((4, 8)).eval()
        x = torch.rand(2, 1, 32, 32)
        assert not torch.allclose(disc(x), disc(x.flip(-1)))

    def test_eval_output_depends_on_the_image(self):
        torch.manual_seed(0)
        disc = Discriminator((4, 8)).eval()
        x = torch.rand(2, 1, 16, 16)
        assert not torch.allclose(disc(x), disc(x * 0.5))


# ----------------------------------------------------------------------------------------- the model


class TestDAEFuseConfig:
    def test_round_trip(self):
        assert DAEFuseConfig.from_dict(SMALL.to_dict()) == SMALL
        values = {**TIED.to_dict(), "disc_widths": [4, 8]}  # a list, as JSON / YAML give it
        assert DAEFuseConfig.from_dict(values) == TIED

    def test_unknown_setting(self):
        with pytest.raises(ValueError, match="unknown DAE-Fuse setting"):
            DAEFuseConfig.from_dict({"chanels": 8})

    @pytest.mark.parametrize(
        ("values", "message"),
        [
            ({"channels": 8, "heads": 3}, "heads must divide"),
            ({"channels": 7, "heads": 1, "vit_heads": 1}, "even"),
            ({"channels": 0, "heads": 1, "vit_heads": 1}, "even"),
            ({"channels": 8, "heads": 0}, "heads must divide"),
            ({"channels": 8, "heads": 2, "vit_heads": 3}, "vit_heads must divide"),
            ({"high_blocks": -1}, "high_blocks must be >= 0"),
            ({"encoder_blocks": -1}, "encoder_blocks must be >= 0"),
            ({"decoder_blocks": -2}, "decoder_blocks must be >= 0"),
            ({"vit_depth": -1}, "vit_depth must be >= 0"),
            ({"vit_patch": 0}, "vit_patch"),
            ({"expansion": 0.0}, "expansion"),
            ({"disc_widths": ()}, "disc_widths"),
            ({"disc_widths": (4, 0)}, "disc_widths"),
        ],
    )
    def test_refuses(self, values, message):
        with pytest.raises(ValueError, match=message):
            DAEFuseConfig(**values)


class TestArchitecture:
    @pytest.mark.parametrize(("h", "w"), [(13, 17), (9, 31), (2, 2), (2, 5), (16, 16)])
    def test_shapes_and_range(self, h, w):
        model = small_model()
        a, b = pair(n=2, h=h, w=w)
        with torch.no_grad():
            fused = model(a, b)
            x_hat, high, low = model.reconstruct(a)
            e_high, e_low = model.embed(b)
        assert fused.shape == x_hat.shape == (2, 1, h, w)
        assert high.shape == low.shape == e_high.shape == e_low.shape == (2, 8, h, w)
        for img in (fused, x_hat):
            assert torch.isfinite(img).all()
            assert ((img >= 0) & (img <= 1)).all()

    def test_whole_image(self):
        assert DAEFuse.whole_image is True
        assert small_model().whole_image is True

    def test_batch_images_are_independent(self):
        model = small_model()
        a, b = pair(n=3, h=9, w=11)
        with torch.no_grad():
            batched = model(a, b)
            single = torch.cat([model(a[i : i + 1], b[i : i + 1]) for i in range(3)])
        torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)

    def test_fuse_features_are_each_sources_embedding(self):
        model = small_model()
        a, b = pair(n=2, h=10, w=7)
        with torch.no_grad():
            fused, feats = model.fuse(a, b)
            assert set(feats) == {"high_a", "high_b", "low_a", "low_b"}
            for src, name in ((a, "a"), (b, "b")):
                high, low = model.embed(src)
                torch.testing.assert_close(feats[f"high_{name}"], high, rtol=1e-5, atol=1e-6)
                torch.testing.assert_close(feats[f"low_{name}"], low, rtol=1e-5, atol=1e-6)
            assert torch.equal(fused, model(a, b))

    def test_reconstruct_is_decode_of_the_concatenated_branches(self):
        model = small_model()
        a, _ = pair(h=8, w=8)
        with torch.no_grad():
            x_hat, high, low = model.reconstruct(a)
            assert torch.equal(x_hat, model.decode(torch.cat((high, low), dim=1)))

    def test_zero_depth_everywhere(self):
        cfg = DAEFuseConfig(
            channels=4, heads=2, encoder_blocks=0, decoder_blocks=0, high_blocks=0, vit_patch=2, vit_depth=0,
            vit_heads=1, disc_widths=(2,),
        )  # fmt: skip
        a, b = pair(h=5, w=3)
        with torch.no_grad():
            assert small_model(config=cfg)(a, b).shape == (1, 1, 5, 3)

    def test_parts_and_widths(self):
        model = small_model()
        assert {top_level(n) for n, _ in model.named_parameters()} == GENERATOR_PARTS
        assert model.merge.weight.shape == (16, 32, 1, 1)
        assert model.reduce.weight.shape == (8, 16, 1, 1)
        assert model.cross_a is not model.cross_b


class TestMergeInitialisation:
    def test_merge_weight_is_half_identity_twice(self):
        eye = torch.eye(16).view(16, 16, 1, 1) / 2
        assert torch.equal(small_model().merge.weight, torch.cat((eye, eye), dim=1))

    def test_merge_of_two_equal_embeddings_decodes_as_one(self):
        model = small_model()
        phi = torch.randn(2, 16, 7, 9)
        with torch.no_grad():
            torch.testing.assert_close(model.merge(torch.cat((phi, phi), dim=1)), phi)
            torch.testing.assert_close(
                model.decode(model.merge(torch.cat((phi, phi), dim=1))), model.decode(phi)
            )

    def test_merge_is_the_average(self):
        model = small_model()
        p, q = torch.randn(2, 1, 16, 4, 5)
        with torch.no_grad():
            torch.testing.assert_close(model.merge(torch.cat((p, q), dim=1)), (p + q) / 2)


class TestCrossSymmetry:
    def test_tied_blocks_are_one_module_with_fewer_parameters(self):
        tied, untied = small_model(config=TIED), small_model()
        assert tied.cross_a is tied.cross_b
        n_tied = sum(p.numel() for p in tied.parameters())
        n_untied = sum(p.numel() for p in untied.parameters())
        assert n_tied == n_untied - sum(p.numel() for p in untied.cross_b.parameters())
        assert n_tied < n_untied

    def test_tied_cross_swaps_with_its_arguments(self):
        model = small_model(config=TIED)
        p, q = torch.randn(2, 2, 16, 5, 6)
        with torch.no_grad():
            x, y = model.cross(p, q)
            y2, x2 = model.cross(q, p)
        assert torch.equal(x, x2)
        assert torch.equal(y, y2)
        assert not torch.allclose(x, y)

    def test_untied_cross_does_not_swap(self):
        model = small_model()
        p, q = torch.randn(2, 2, 16, 5, 6)
        with torch.no_grad():
            x, _ = model.cross(p, q)
            _, x2 = model.cross(q, p)
        assert not torch.allclose(x, x2)

    def test_tied_fusion_is_symmetric_at_initialisation(self):
        model = small_model(config=TIED)
        a, b = pair(n=2, h=11, w=9)
        with torch.no_grad():
            torch.testing.assert_close(model(a, b), model(b, a), rtol=1e-5, atol=1e-6)

    def test_untied_fusion_depends_on_the_order(self):
        model = small_model()
        a, b = pair(n=2, h=11, w=9)
        with torch.no_grad():
            assert (model(a, b) - model(b, a)).abs().max() > 1e-5


class TestGradients:
    def test_phase2_reaches_every_generator_parameter(self):
        model = small_model()
        a, b = pair(n=2, h=9, w=10)
        weights = torch.randn(2, 1, 9, 10, generator=torch.Generator().manual_seed(1))
        (model(a, b) * weights).sum().backward()
        parts = set()
        for name, p in model.named_parameters():
            assert p.grad is not None, name
            assert p.grad.abs().sum() > 0, name
            parts.add(top_level(name))
        assert parts == GENERATOR_PARTS

    def test_phase1_leaves_cross_and_merge_without_gradient(self):
        model = small_model()
        a, _ = pair(n=2, h=9, w=10)
        x_hat, _, _ = model.reconstruct(a)
        F.mse_loss(x_hat, a).backward()
        unused = {"cross_a", "cross_b", "merge"}
        for name, p in model.named_parameters():
            if top_level(name) in unused:
                assert p.grad is None, name
            else:
                assert p.grad is not None, name
                assert p.grad.abs().sum() > 0, name

    def test_discriminators_all_learn_from_the_discriminator_loss(self):
        torch.manual_seed(0)
        discs = DAEFuseDiscriminators(SMALL)
        assert discs.infrared is not discs.visible
        assert [m.out_channels for m in discs.infrared.features if isinstance(m, torch.nn.Conv2d)] == [4, 8]
        real_a, real_b = pair(n=3, h=16, w=16, seed=1)
        fake_a, fake_b = pair(n=3, h=16, w=16, seed=2)
        logits_1 = discs.infrared(torch.cat((real_a, fake_a)))  # real and fake in one batch, as in training
        logits_2 = discs.visible(torch.cat((real_b, fake_b)))
        loss = discriminator_loss(logits_1[:3], logits_1[3:]) + discriminator_loss(logits_2[:3], logits_2[3:])
        loss.backward()
        for name, p in discs.named_parameters():
            assert p.grad is not None, name
            assert p.grad.abs().sum() > 0, name


class TestBadInput:
    def test_forward_refuses(self):
        model = small_model()
        a, b = pair(h=8, w=8)
        with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
            model(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
        with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
            model(a[0], b[0])
        with pytest.raises(ValueError, match="differ in shape"):
            model(a, torch.rand(1, 1, 8, 9))
        with pytest.raises(ValueError, match=r"in \[0, 1\]"):
            model(a * 2, b)
        with pytest.raises(ValueError, match=r"in \[0, 1\]"):
            model(a, b - 0.5)
        with pytest.raises(ValueError, match="NaN"):
            model(a, torch.full_like(b, float("nan")))
        with pytest.raises(ValueError, match="H, W >= 2"):
            model(torch.rand(1, 1, 1, 8), torch.rand(1, 1, 1, 8))

    def test_embed_reconstruct_and_fuse_refuse(self):
        model = small_model()
        with pytest.raises(ValueError, match="grey images"):
            model.embed(torch.rand(1, 3, 8, 8))
        with pytest.raises(ValueError, match="grey images"):
            model.reconstruct(torch.rand(1, 8, 8))
        with pytest.raises(ValueError, match="H, W >= 2"):
            model.reconstruct(torch.rand(1, 1, 8, 1))
        with pytest.raises(ValueError, match="equal shapes"):
            model.fuse(torch.rand(1, 1, 8, 8), torch.rand(2, 1, 8, 8))


class TestLoadDAEFuse:
    def _save(self, path, net: DAEFuse, **changes) -> None:
        raw = {"format": TRAINED_FORMAT, "model_config": net.config.to_dict(), "model": net.state_dict()}
        raw.update(changes)
        torch.save(raw, path)

    def test_official_is_refused_with_what_to_do(self):
        with pytest.raises(ValueError, match="lzsc train --method dae-fuse"):
            load_dae_fuse("official")

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            load_dae_fuse(tmp_path / "none.pt")

    @pytest.mark.parametrize("config", [SMALL, TIED], ids=["untied", "tied"])
    def test_round_trip(self, tmp_path, config):
        model = randomise_(small_model(config=config), seed=3)
        model.train()
        self._save(tmp_path / "m.pt", model)
        loaded = load_dae_fuse(tmp_path / "m.pt")
        assert not loaded.training
        assert loaded.config == config
        a, b = pair(n=2, h=9, w=13)
        with torch.no_grad():
            assert torch.equal(loaded(a, b), model.eval()(a, b))
        assert (loaded.cross_a is loaded.cross_b) == config.tie_cross

    @pytest.mark.parametrize("bad", [{"channels": 8.0}, {"tie_cross": "no"}, {"disc_widths": [4.5]}])
    def test_mistyped_config_is_a_checkpoint_error(self, tmp_path, bad):
        net = small_model()
        self._save(tmp_path / "m.pt", net, model_config={**net.config.to_dict(), **bad})
        with pytest.raises(CheckpointError, match="must be of type"):
            load_dae_fuse(tmp_path / "m.pt")

    def test_tied_file_with_differing_halves_is_damaged(self, tmp_path):
        net = small_model(config=TIED)
        state = {k: v.clone() for k, v in net.state_dict().items()}
        key = next(k for k in state if k.startswith("cross_b.") and state[k].is_floating_point())
        state[key] += 1
        self._save(tmp_path / "m.pt", net, model=state)
        with pytest.raises(CheckpointError, match="cross_a and cross_b hold different weights"):
            load_dae_fuse(tmp_path / "m.pt")

    def test_other_format(self, tmp_path):
        self._save(tmp_path / "m.pt", small_model(), format="lzsc-train-v1")
        with pytest.raises(CheckpointError, match=TRAINED_FORMAT):
            load_dae_fuse(tmp_path / "m.pt")
        torch.save(small_model().state_dict(), tmp_path / "bare.pt")
        with pytest.raises(CheckpointError, match="not a DAE-Fuse file"):
            load_dae_fuse(tmp_path / "bare.pt")

    def test_nan_weight(self, tmp_path):
        model = small_model()
        state = model.state_dict()
        state["head.0.bias"] = state["head.0.bias"].clone()
        state["head.0.bias"][0] = float("nan")
        self._save(tmp_path / "m.pt", model, model=state)
        with pytest.raises(CheckpointError, match=r"non-finite.*head\.0\.bias"):
            load_dae_fuse(tmp_path / "m.pt")

    def test_missing_weight_key(self, tmp_path):
        model = small_model()
        state = dict(model.state_dict())
        del state["merge.weight"]
        self._save(tmp_path / "m.pt", model, model=state)
        with pytest.raises(CheckpointError, match=r"missing keys \(1\): merge\.weight"):
            load_dae_fuse(tmp_path / "m.pt")

    def test_missing_model_entry(self, tmp_path):
        model = small_model()
        torch.save({"format": TRAINED_FORMAT, "model_config": model.config.to_dict()}, tmp_path / "m.pt")
        with pytest.raises(CheckpointError, match="lacks its model weights"):
            load_dae_fuse(tmp_path / "m.pt")

    def test_config_that_does_not_fit(self, tmp_path):
        model = small_model()
        self._save(tmp_path / "m.pt", model, model_config={**SMALL.to_dict(), "channels": 16})
        with pytest.raises(CheckpointError, match="shape mismatches"):
            load_dae_fuse(tmp_path / "m.pt")
        self._save(tmp_path / "m.pt", model, model_config={**SMALL.to_dict(), "colour": True})
        with pytest.raises(CheckpointError, match="model_config"):
            load_dae_fuse(tmp_path / "m.pt")

    def test_pickled_code_is_refused_not_run(self, tmp_path):
        marker = tmp_path / "executed"

        class Payload:
            def __reduce__(self):
                return (exec, (f"open({str(marker)!r}, 'w').write('ran')",))

        path = tmp_path / "m.pt"
        torch.save({"format": TRAINED_FORMAT, "model_config": SMALL.to_dict(), "model": Payload()}, path)
        with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
            load_dae_fuse(path)
        assert not marker.exists()
        # the payload is live: an unrestricted unpickler runs it (so the check above means something)
        with open(path, "rb") as f:
            torch.load(f, weights_only=False)
        assert marker.exists()

    def test_not_a_checkpoint(self, tmp_path):
        (tmp_path / "m.pt").write_bytes(b"not a checkpoint at all")
        with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
            load_dae_fuse(tmp_path / "m.pt")


# --------------------------------------------------------------------------------------------- losses


def orthogonal_patterns(dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Two zero-mean, orthogonal 2 x 2 patterns of equal norm (2)."""
    x = torch.tensor([[1.0, -1.0], [1.0, -1.0]], dtype=dtype).view(1, 1, 2, 2)
    y = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=dtype).view(1, 1, 2, 2)
    return x, y


class TestCorrelation:
    def test_affine_and_negated(self):
        x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
        torch.testing.assert_close(
            correlation_coefficient(x, 2 * x + 3), torch.tensor(1.0, dtype=torch.float64)
        )
        torch.testing.assert_close(correlation_coefficient(x, -x), torch.tensor(-1.0, dtype=torch.float64))

    def test_orthogonal_zero_mean_patterns(self):
        x, y = orthogonal_patterns()
        assert abs(float(correlation_coefficient(x, y))) < 1e-15
        assert abs(float(correlation_coefficient(x + 5, 3 * y - 2))) < 1e-15

    def test_hand_example(self):
        # x = (1, 2, 3, 4), y = (1, 3, 2, 5): centred (-1.5, -.5, .5, 1.5), (-1.75, .25, -.75, 2.25);
        # sum xy = 2.625 - .125 - .375 + 3.375 = 5.5, |x|^2 = 5,
        # |y|^2 = 3.0625 + .0625 + .5625 + 5.0625 = 8.75
        x = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64).view(1, 1, 2, 2)
        y = torch.tensor([1.0, 3.0, 2.0, 5.0], dtype=torch.float64).view(1, 1, 2, 2)
        expected = 5.5 / math.sqrt(5 * 8.75)
        assert float(correlation_coefficient(x, y)) == pytest.approx(expected, abs=1e-12)

    def test_mean_over_images_and_channels(self):
        x, y = orthogonal_patterns()
        xs = torch.cat((x, x, x, x), dim=1)  # 4 channels: CC 1, -1, 0, 1 -> mean 0.25
        ys = torch.cat((x, -x, y, 2 * x), dim=1)
        assert float(correlation_coefficient(xs, ys)) == pytest.approx(0.25, abs=1e-12)
        assert float(correlation_coefficient(torch.cat((xs, xs)), torch.cat((ys, xs)))) == pytest.approx(
            (0.25 + 1) / 2, abs=1e-12
        )

    def test_flat_image_gives_zero_not_nan(self):
        x = torch.randn(1, 2, 4, 4)
        assert float(correlation_coefficient(torch.ones_like(x), x)) == 0.0

    def test_clamped_to_one(self):
        """Rounding can make the unclamped ratio exceed 1 in float32; CC never does."""
        found = 0
        for seed in range(60):
            x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) * 1000
            xc = x.flatten(2) - x.flatten(2).mean(-1, keepdim=True)
            norm = xc.square().sum(-1).sqrt()
            unclamped = float(((xc * xc).sum(-1) / (torch.finfo(x.dtype).eps + norm * norm)).squeeze())
            if unclamped > 1:
                found += 1
                assert float(correlation_coefficient(x, x)) <= 1.0
                assert float(correlation_coefficient(x, -x)) >= -1.0
        assert found > 0  # the case exists, so the test can fail

    def test_refuses_mismatched_shapes(self):
        with pytest.raises(ValueError, match="one shape"):
            correlation_coefficient(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 5))
        with pytest.raises(ValueError, match="one shape"):
            correlation_coefficient(torch.rand(1, 4, 4), torch.rand(1, 4, 4))

    def test_correlation_loss_by_hand(self):
        x, y = orthogonal_patterns()
        high_b = 0.5 * x + math.sqrt(0.75) * y  # CC(x, high_b) = 0.5
        low_b = 0.8 * x + 0.6 * y  # CC(x, low_b) = 0.8
        loss = correlation_loss(x, high_b, x, low_b)
        assert float(loss) == pytest.approx(0.25 / (0.8 + 1.01), abs=1e-12)
        assert CORR_OFFSET == 1.01
        # anti-correlated low features: denominator -1 + 1.01 = 0.01
        assert float(correlation_loss(x, high_b, x, -x)) == pytest.approx(0.25 / 0.01, rel=1e-9)
        # uncorrelated high features: zero loss
        assert abs(float(correlation_loss(x, y, x, low_b))) < 1e-15


class TestContentLoss:
    def test_identical_is_zero(self):
        x = pair(n=2, h=12, w=12)[0]
        assert abs(float(content_loss(x, x))) < 1e-6

    def test_constant_offset(self):
        x = pair(n=2, h=12, w=12, dtype=torch.float64)[0] * 0.8
        d = 0.1
        expected = d**2 + (1 - ssim(x, x + d))
        torch.testing.assert_close(content_loss(x, x + d), expected, rtol=0, atol=1e-12)
        assert float(content_loss(x, x + d)) > d**2

    def test_refuses_bad_shapes(self):
        with pytest.raises(ValueError, match="equal shapes"):
            content_loss(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 9))


class TestIntensityAndGradientLoss:
    def test_intensity_by_hand(self):
        a, b = torch.zeros(1, 1, 4, 5), torch.ones(1, 1, 4, 5)
        assert float(intensity_loss(torch.full_like(a, 0.5), a, b)) == 0.5
        assert float(intensity_loss(b, a, b)) == 0.0
        # the element-wise max: F = max(A, B) gives 0 for any A, B
        a, b = pair(h=6, w=6)
        assert float(intensity_loss(torch.maximum(a, b), a, b)) == 0.0
        assert float(intensity_loss(a, a, b)) == pytest.approx(float((torch.maximum(a, b) - a).mean()))

    def test_gradient_of_flat_images_only_at_the_zero_padded_border(self):
        # S of a 3 x 3 constant c with zero padding: |gx| = [[3,0,3],[4,0,4],[3,0,3]] c, |gy| its transpose
        c = 1.0
        expected_s = torch.tensor([[6.0, 4.0, 6.0], [4.0, 0.0, 4.0], [6.0, 4.0, 6.0]]) * c
        ones = torch.ones(1, 1, 3, 3)
        assert torch.equal(sobel_magnitude(ones)[0, 0], expected_s)
        zeros = torch.zeros_like(ones)
        assert float(gradient_loss(zeros, zeros, zeros)) == 0.0
        assert float(gradient_loss(ones, zeros, zeros)) == pytest.approx(40 / 9)
        # F = 1/2 between A = 0 and B = 1: |S(F) - S(B)| = S(B) / 2 -> mean 20 / 9
        assert float(gradient_loss(0.5 * ones, zeros, ones)) == pytest.approx(20 / 9)
        assert float(gradient_loss(ones, zeros, ones)) == 0.0

    def test_gradient_loss_takes_the_larger_source_gradient(self):
        a, b, f = (*pair(h=7, w=8), pair(h=7, w=8, seed=1)[0])
        s = torch.maximum(sobel_magnitude(a), sobel_magnitude(b))
        torch.testing.assert_close(gradient_loss(f, a, b), (sobel_magnitude(f) - s).abs().mean())
        torch.testing.assert_close(gradient_loss(f, a, b), gradient_loss(f, b, a))


class TestAdversarial:
    def test_perfect_discriminator(self):
        real, fake = torch.full((4,), 20.0), torch.full((4,), -20.0)
        assert float(discriminator_loss(real, fake)) < 1e-6
        assert float(generator_adversarial_loss(fake)) == pytest.approx(20.0, abs=1e-6)

    def test_fooled_discriminator(self):
        assert float(generator_adversarial_loss(torch.full((4,), 20.0))) < 1e-6
        assert float(discriminator_loss(torch.full((4,), 20.0), torch.full((4,), 20.0))) == pytest.approx(
            20.0, abs=1e-6
        )

    def test_undecided_discriminator(self):
        zero = torch.zeros(3)
        assert float(discriminator_loss(zero, zero)) == pytest.approx(2 * math.log(2))
        assert float(generator_adversarial_loss(zero)) == pytest.approx(math.log(2))

    def test_generator_loss_decreases_as_the_fake_looks_real(self):
        logits = torch.tensor([-5.0, -1.0, 0.0, 2.0, 6.0], dtype=torch.float64, requires_grad=True)
        generator_adversarial_loss(logits).backward()
        assert (logits.grad < 0).all()
        torch.testing.assert_close(logits.grad, -(1 - torch.sigmoid(logits.detach())) / 5)
        values = [float(generator_adversarial_loss(z.view(1))) for z in logits.detach()]
        assert values == sorted(values, reverse=True)

    def test_discriminator_loss_gradient_signs(self):
        real = torch.zeros(2, requires_grad=True)
        fake = torch.zeros(2, requires_grad=True)
        discriminator_loss(real, fake).backward()
        assert (real.grad < 0).all()  # push real logits up
        assert (fake.grad > 0).all()  # push fake logits down


def _features(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(2, 3, 6, 6, generator=g) for k in ("high_a", "high_b", "low_a", "low_b")}


class TestPhaseLosses:
    def test_phase1_total_and_parts(self):
        a, b = pair(n=2, h=12, w=12)
        a_hat, b_hat = pair(n=2, h=12, w=12, seed=1)
        feats, adv = _features(), torch.tensor(0.7)
        out = phase1_loss(a, b, a_hat, b_hat, feats, adv, w_adv=0.3, sigma=0.25)
        corr = correlation_loss(feats["high_a"], feats["high_b"], feats["low_a"], feats["low_b"])
        content = content_loss(a, a_hat) + content_loss(b, b_hat)
        torch.testing.assert_close(out.total, 0.3 * adv + 0.25 * corr + 0.75 * content)
        assert set(out.parts) == {"adv", "corr", "content", "cc_high", "cc_low", "psnr_a", "psnr_b"}
        torch.testing.assert_close(out.parts["corr"], corr)
        torch.testing.assert_close(out.parts["content"], content)
        torch.testing.assert_close(
            out.parts["cc_high"], correlation_coefficient(feats["high_a"], feats["high_b"])
        )
        torch.testing.assert_close(
            out.parts["cc_low"], correlation_coefficient(feats["low_a"], feats["low_b"])
        )
        torch.testing.assert_close(out.parts["psnr_a"], -10 * torch.log10(F.mse_loss(a_hat, a)))
        assert float(out.parts["adv"]) == pytest.approx(0.7)

    def test_phase1_psnr_of_a_perfect_reconstruction_is_finite(self):
        a, b = pair(h=8, w=8)
        out = phase1_loss(a, b, a, b, _features(), torch.tensor(0.0), w_adv=1.0, sigma=0.5)
        assert float(out.parts["psnr_a"]) == pytest.approx(100.0)

    def test_phase1_sigma_extremes(self):
        a, b = pair(h=12, w=12)
        a_hat, b_hat = pair(h=12, w=12, seed=1)
        feats, adv = _features(), torch.tensor(0.0)
        only_corr = phase1_loss(a, b, a_hat, b_hat, feats, adv, w_adv=0.0, sigma=1.0)
        only_content = phase1_loss(a, b, a_hat, b_hat, feats, adv, w_adv=0.0, sigma=0.0)
        torch.testing.assert_close(only_corr.total, only_corr.parts["corr"])
        torch.testing.assert_close(only_content.total, only_content.parts["content"])

    def test_phase1_gradient_flows_to_inputs(self):
        a, b = pair(h=8, w=8)
        a_hat = pair(h=8, w=8, seed=1)[0].requires_grad_()
        feats = {k: v.requires_grad_() for k, v in _features().items()}
        adv = torch.tensor(0.5, requires_grad=True)
        phase1_loss(a, b, a_hat, b, feats, adv, w_adv=0.5, sigma=0.5).total.backward()
        assert a_hat.grad is not None
        assert a_hat.grad.abs().sum() > 0
        assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in feats.values())
        assert float(adv.grad) == 0.5

    @pytest.mark.parametrize(
        ("w_adv", "sigma", "message"),
        [
            (0.1, 1.5, "sigma must be in"),
            (0.1, -0.1, "sigma"),
            (-1.0, 0.5, "w_adv"),
            (float("nan"), 0.5, "w_adv"),
        ],
    )
    def test_phase1_refuses(self, w_adv, sigma, message):
        a, b = pair(h=8, w=8)
        with pytest.raises(ValueError, match=message):
            phase1_loss(a, b, a, b, _features(), torch.tensor(0.0), w_adv=w_adv, sigma=sigma)

    def test_phase2_total_and_parts(self):
        a, b = pair(n=2, h=10, w=11)
        fused = pair(n=2, h=10, w=11, seed=3)[0]
        adv = torch.tensor(1.3)
        out = phase2_loss(fused, a, b, adv, w_text=2.0, w_int=0.5, w_adv=0.25)
        text, inten = gradient_loss(fused, a, b), intensity_loss(fused, a, b)
        torch.testing.assert_close(out.total, 2.0 * text + 0.5 * inten + 0.25 * adv)
        assert set(out.parts) == {"text", "int", "adv"}
        torch.testing.assert_close(out.parts["text"], text)
        torch.testing.assert_close(out.parts["int"], inten)
        assert float(out.parts["adv"]) == pytest.approx(1.3)
        default = phase2_loss(fused, a, b, adv)
        torch.testing.assert_close(default.total, text + inten + adv)
        assert set(out.as_floats()) == {"loss", "text", "int", "adv"}

    def test_phase2_refuses(self):
        a, b = pair(h=8, w=8)
        with pytest.raises(ValueError, match="w_int"):
            phase2_loss(a, a, b, torch.tensor(0.0), w_int=-1.0)
        with pytest.raises(ValueError, match="equal shapes"):
            phase2_loss(a, a, torch.rand(1, 1, 8, 9), torch.tensor(0.0))
        with pytest.raises(ValueError, match="grey image"):
            phase2_loss(torch.rand(1, 3, 8, 8), a, b, torch.tensor(0.0))
