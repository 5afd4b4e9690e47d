"""The losses of DAE-Fuse (paper Sec. II-C), written as the paper writes them (one scale is lzsc's:
the squared norm of L_content is divided by the number of pixels, as the paper does for L_text and L_int).

Phase I (autoencoder), for the two sources alpha = A and beta = B and their reconstructions::

    L_I      = lambda L_adv + sigma L_corr + (1 - sigma) L_content
    L_corr   = CC(H_A, H_B)^2 / (CC(L_A, L_B) + 1.01)       CDDFuse's decomposition loss on the
                                                           high (H) and low (L) branch features
    L_content = sum_{x in A, B} ||x - x~||_2^2 / (N H W) + (1 - SSIM(x, x~))

Phase II (fusion), F the fused image::

    L_II   = L_text + L_int + L_adv
    L_text = mean |S(F) - max(S(A), S(B))|,  L_int = mean |F - max(A, B)|

with S the Sobel magnitude |S_x * x| + |S_y * x| (:func:`lzsc.training.losses.gradient_loss`,
:func:`~lzsc.training.losses.intensity_loss`: the same terms as FNet's eq. 26, one implementation) and
SSIM :func:`lzsc.training.losses.ssim` (11 x 11 Gaussian, sigma 1.5). CC is CDDFuse's correlation
coefficient: per image and channel over the pixels, clamped to [-1, 1], averaged.

Adversarial terms (binary cross-entropy on logits; DM1 judges against A, DM2 against B)::

    L_D    = BCE(D(x), 1) + BCE(D(x_fake), 0)          per discriminator, x_fake detached
    L_adv  = -log sigmoid(D1(fake_1)) - log sigmoid(D2(fake_2))      (generator, mean over the batch)

Eq. 14 as printed, minimised by the generator, would drive D(F) to 0, i.e. train the generator to
be recognised as fake (the sign issue); lzsc reads it as the usual non-saturating generator loss
-log D(F) (Goodfellow et al. 2014), which is minimised when the discriminator takes F for real.
Introduced in ``notebooks/12_methods_side_by_side.ipynb``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .losses import LossOutput, _check_images, _check_weights, gradient_loss, intensity_loss, ssim

__all__ = [
    "CORR_OFFSET",
    "content_loss",
    "correlation_coefficient",
    "correlation_loss",
    "discriminator_loss",
    "generator_adversarial_loss",
    "phase1_loss",
    "phase2_loss",
]

CORR_OFFSET = 1.01
"""The denominator's offset in L_corr (CDDFuse's 1.01): CC(L_A, L_B) + 1.01 >= 0.01 > 0."""


def correlation_coefficient(x: Tensor, y: Tensor) -> Tensor:
    """CDDFuse's CC: Pearson's coefficient of each (image, channel) over its pixels, clamped to
    [-1, 1], averaged over images and channels; x, y of one shape (N, C, H, W)."""
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"x and y must be (N, C, H, W) of one shape, got {tuple(x.shape)}, {tuple(y.shape)}")
    x = x.flatten(2) - x.flatten(2).mean(dim=-1, keepdim=True)
    y = y.flatten(2) - y.flatten(2).mean(dim=-1, keepdim=True)
    eps = torch.finfo(x.dtype).eps
    cc = (x * y).sum(-1) / (eps + x.square().sum(-1).sqrt() * y.square().sum(-1).sqrt())
    return cc.clamp(-1.0, 1.0).mean()


def correlation_loss(high_a: Tensor, high_b: Tensor, low_a: Tensor, low_b: Tensor) -> Tensor:
    """L_corr = CC(H_A, H_B)^2 / (CC(L_A, L_B) + 1.01): small when the high-frequency features of the
    two sources are uncorrelated and their low-frequency features correlated."""
    return correlation_coefficient(high_a, high_b).square() / (
        correlation_coefficient(low_a, low_b) + CORR_OFFSET
    )


def content_loss(x: Tensor, x_hat: Tensor) -> Tensor:
    """||x - x~||_2^2 / (N H W) + (1 - SSIM(x, x~)) for one source."""
    _check_images(x=x, x_hat=x_hat)
    return F.mse_loss(x_hat, x) + (1 - ssim(x, x_hat))


def discriminator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """BCE(D(real), 1) + BCE(D(fake), 0) from the logits (N,) of real and (detached) fake images."""
    return F.binary_cross_entropy_with_logits(
        real, torch.ones_like(real)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))


def generator_adversarial_loss(fake: Tensor) -> Tensor:
    """-mean log sigmoid(D(fake)) = BCE(D(fake), 1): eq. 14 read as the non-saturating loss (module
    docstring); large when the discriminator is sure ``fake`` is fake, 0 when it takes it for real."""
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def phase1_loss(
    a: Tensor,
    b: Tensor,
    a_hat: Tensor,
    b_hat: Tensor,
    features: dict[str, Tensor],
    adv: Tensor,
    w_adv: float,
    sigma: float,
) -> LossOutput:
    """L_I = w_adv L_adv + sigma L_corr + (1 - sigma) L_content (Phase I); ``adv`` is the generator's
    adversarial term (:func:`generator_adversarial_loss` of both discriminators, summed), ``features``
    holds ``high_a``, ``high_b``, ``low_a``, ``low_b``. Parts: ``adv``, ``corr``, ``content``, ``cc_high``,
    ``cc_low``, ``psnr_a``, ``psnr_b`` (reconstruction PSNR in dB, for the log)."""
    _check_weights(w_adv=w_adv, sigma=sigma)
    if sigma > 1:
        raise ValueError(
            f"sigma must be in [0, 1] (L_I is a convex mix of L_corr and L_content), got {sigma}"
        )
    corr = correlation_loss(features["high_a"], features["high_b"], features["low_a"], features["low_b"])
    content = content_loss(a, a_hat) + content_loss(b, b_hat)
    total = w_adv * adv + sigma * corr + (1 - sigma) * content
    with torch.no_grad():
        parts = {
            "adv": adv.detach(),
            "corr": corr.detach(),
            "content": content.detach(),
            "cc_high": correlation_coefficient(features["high_a"], features["high_b"]),
            "cc_low": correlation_coefficient(features["low_a"], features["low_b"]),
            "psnr_a": -10 * torch.log10(F.mse_loss(a_hat, a).clamp_min(1e-10)),
            "psnr_b": -10 * torch.log10(F.mse_loss(b_hat, b).clamp_min(1e-10)),
        }
    return LossOutput(total, parts)


def phase2_loss(
    fused: Tensor,
    a: Tensor,
    b: Tensor,
    adv: Tensor,
    w_text: float = 1.0,
    w_int: float = 1.0,
    w_adv: float = 1.0,
) -> LossOutput:
    """L_II = w_text L_text + w_int L_int + w_adv L_adv (Phase II; the paper's weights are all 1).
    Parts: ``text``, ``int``, ``adv``."""
    _check_images(fused=fused, a=a, b=b)
    _check_weights(w_text=w_text, w_int=w_int, w_adv=w_adv)
    text, inten = gradient_loss(fused, a, b), intensity_loss(fused, a, b)
    total = w_text * text + w_int * inten + w_adv * adv
    return LossOutput(total, {"text": text.detach(), "int": inten.detach(), "adv": adv.detach()})
