"""Generator G: crop encoder + layout encoder + decoder (spec §4), with the training forward (§4.6)
and the layout-only sampling path used at inference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..config import ModelConfig
from ..geometry import crop_bboxes
from .crop_encoder import CropEncoder
from .decoder import Decoder
from .layout_encoder import LayoutEncoder
from .shapes import assert_shape
from .style_decoder import StyleDecoder, StyleLayout

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class GeneratorOutput:
    """Training forward outputs (spec §4.6). Crops and codes are packed over the N real objects.

    crops_real, crops_rec, crops_rand: [N, 3, S, S]; img_rec, img_rand: [B, 3, 64, 64];
    mu, logvar: [N, Z] (crop encoder on real crops); z_rand: [N, Z] the prior sample;
    z_rand_rec: [N, Z] crop-encoder mu on crops of img_rand.
    img_rand2: [B, 3, 64, 64] the sampling path with ``z_rand2`` (mode seeking), or None.
    """

    crops_real: torch.Tensor
    crops_rec: torch.Tensor
    crops_rand: torch.Tensor
    img_rec: torch.Tensor
    img_rand: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z_rand: torch.Tensor
    z_rand_rec: torch.Tensor
    img_rand2: Optional[torch.Tensor] = None


class Generator(nn.Module):
    """Layout2Im generator. Submodule names match the official checkpoint (crop_encoder,
    layout_encoder, decoder)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.crop_encoder = CropEncoder(cfg)
        self.layout_encoder = LayoutEncoder(cfg)
        self.decoder = StyleDecoder(cfg) if cfg.decoder_kind == "isla" else Decoder(cfg)
        if cfg.decoder_kind == "isla":
            # z starts out reaching the image only through the ISLA decoder, inside its own mask; its way
            # through the composer and the conv-LSTM (global at 8x8) opens as training finds it useful.
            with torch.no_grad():
                self.layout_encoder.c1.weight[:, cfg.embedding_dim:].zero_()
        self.register_buffer("_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    # --- image spaces -------------------------------------------------------------------------
    def to_model_space(self, img01: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] RGB in [0, 1] -> the model's space ([-1, 1], or ImageNet-normalised if legacy)."""
        if self.cfg.legacy_numerics:
            return (img01 - self._mean) / self._std
        return img01 * 2 - 1

    def to_unit(self, img: torch.Tensor) -> torch.Tensor:
        """Model-space image -> RGB in [0, 1] (clamped), float32."""
        img = img.float()
        out = img * self._std + self._mean if self.cfg.legacy_numerics else (img + 1) / 2
        return out.clamp(0, 1)

    def crop(self, imgs: torch.Tensor, bboxes: torch.Tensor, obj_to_img: torch.Tensor) -> torch.Tensor:
        """Object crops [N, 3, S, S] of packed bboxes [N, 4] (spec §4.1)."""
        return crop_bboxes(imgs, bboxes, obj_to_img, self.cfg.crop_size, align_corners=self.cfg.legacy_numerics)

    @staticmethod
    def _pad(z: torch.Tensor, obj_mask: torch.Tensor) -> torch.Tensor:
        """Packed [N, Z] -> padded [B, O, Z]."""
        return LayoutEncoder.scatter(z, obj_mask)

    def _check_layout(self, objs, bboxes, z_obj, obj_mask) -> None:
        """Raise ValueError unless objs [B, O], bboxes [B, O, 4], z_obj [B, O, Z] (if given), obj_mask [B, O]."""
        assert_shape(objs, [None, None], "objs")
        b, o = objs.shape
        assert_shape(bboxes, [b, o, 4], "bboxes")
        assert_shape(obj_mask, [b, o], "obj_mask")
        if z_obj is not None:
            assert_shape(z_obj, [b, o, self.cfg.z_dim], "z_obj")

    # --- forwards -------------------------------------------------------------------------------
    def generate(self, objs: torch.Tensor, bboxes: torch.Tensor, z_obj: torch.Tensor,
                 obj_mask: torch.Tensor) -> torch.Tensor:
        """Layout-only sampling path: decoder(layout_encoder(objs, bboxes, z)).

        Args:
            objs: [B, O] int64; bboxes: [B, O, 4] float in [0, 1]; z_obj: [B, O, Z]; obj_mask: [B, O] bool.

        Returns:
            [B, 3, 64, 64] image in the model's space.

        Raises:
            ValueError: inputs of the wrong shape (naming the argument).
        """
        self._check_layout(objs, bboxes, z_obj, obj_mask)
        return self.decode(self.layout_encoder(objs, bboxes, z_obj, obj_mask), objs, bboxes, z_obj, obj_mask)

    def decode(self, h: torch.Tensor, objs: torch.Tensor, bboxes: torch.Tensor, z_obj: torch.Tensor,
               obj_mask: torch.Tensor, style_layout: Optional[StyleLayout] = None) -> torch.Tensor:
        """Decoder on a layout feature h [B, C, 8, 8]. The ISLA decoder also gets every object's style
        and mask, computed here from objs [B, O], bboxes [B, O, 4], z_obj [B, O, Z] and obj_mask
        [B, O], or taken from ``style_layout`` when the caller already composed them (the edit path
        keeps each object's parts, ``edit_cache.py``; ``StyleDecoder.compose_layout``: style
        [B, O, S'], weights [B, O, R, R] at R = 8, 16, 32, 64; the layout arguments are then unused).
        With ``decoder_layout`` the paper's decoder gets the layout map. Returns [B, 3, 64, 64].

        Raises:
            ValueError: ``style_layout`` given to a model whose decoder is not the ISLA one, or whose
                batch differs from h's.
        """
        if self.cfg.decoder_kind == "isla":
            if style_layout is not None and style_layout.style.shape[0] != h.shape[0]:
                raise ValueError(f"style_layout is of {style_layout.style.shape[0]} layouts, h of {h.shape[0]}")
            if style_layout is None:
                obj_emb = self.layout_encoder.embedding(objs)  # [B, O, E]
                style_layout = self.decoder.style_layout(obj_emb, z_obj, bboxes, obj_mask)
            return self.decoder(h, style_layout)
        if style_layout is not None:
            raise ValueError(f"style_layout is for the isla decoder; this model's is {self.cfg.decoder_kind!r}")
        if not self.cfg.decoder_layout:
            return self.decoder(h)
        return self.decoder(h, self.layout_encoder.layout_map(objs, bboxes, obj_mask))

    def forward(self, imgs: torch.Tensor, objs: torch.Tensor, bboxes: torch.Tensor, obj_mask: torch.Tensor,
                z_rand: torch.Tensor, z_rand2: Optional[torch.Tensor] = None,
                z_rec_updates_encoder: bool = True) -> GeneratorOutput:
        """Training forward with the reconstruction and the sampling path (spec §4.6).

        Args:
            imgs: [B, 3, 64, 64] real images in the model's space.
            objs: [B, O] int64; bboxes: [B, O, 4]; obj_mask: [B, O] bool.
            z_rand: [N, Z] prior samples for the N real objects (packed, row-major over obj_mask).
            z_rand2: [N, Z] a second set of codes (mode seeking, ours): the sampling path then runs on
                both in one batch of 2B and ``img_rand2`` holds the second half.
            z_rec_updates_encoder: True (the reference): the latent regression's gradient also reaches
                the crop encoder's weights. False (BicycleGAN's ``backward_G_alone``): the encoder's
                weights are used detached for ``z_rand_rec``, so that term trains only the rest of G.

        Returns:
            GeneratorOutput.
        """
        b, o = objs.shape
        assert_shape(imgs, [b, 3, self.cfg.image_size, self.cfg.image_size], "imgs")
        assert_shape(z_rand, [int(obj_mask.sum()), self.cfg.z_dim], "z_rand")
        self._check_layout(objs, bboxes, None, obj_mask)
        obj_to_img = torch.arange(b, device=objs.device)[:, None].expand(b, o)[obj_mask]  # [N]
        objs_p, bboxes_p = objs[obj_mask], bboxes[obj_mask]
        crops_real = self.crop(imgs, bboxes_p, obj_to_img)
        code = self.crop_encoder(crops_real, objs_p)
        # The two paths run separately, as the reference, so batch-norm statistics stay per path.
        img_rec = self.generate(objs, bboxes, self._pad(code.z, obj_mask), obj_mask)
        img_rand2 = None
        if z_rand2 is None:
            img_rand = self.generate(objs, bboxes, self._pad(z_rand, obj_mask), obj_mask)
        else:
            both = self.generate(objs.repeat(2, 1), bboxes.repeat(2, 1, 1),
                                 torch.cat([self._pad(z_rand, obj_mask), self._pad(z_rand2, obj_mask)]),
                                 obj_mask.repeat(2, 1))  # [2B, 3, 64, 64]
            img_rand, img_rand2 = both[:b], both[b:]
        crops_rec = self.crop(img_rec, bboxes_p, obj_to_img)
        crops_rand = self.crop(img_rand, bboxes_p, obj_to_img)
        if z_rec_updates_encoder:
            z_rand_rec = self.crop_encoder(crops_rand, objs_p, sample=False).mu
        else:
            frozen = {k: v.detach() for k, v in self.crop_encoder.named_parameters()}
            z_rand_rec = torch.func.functional_call(self.crop_encoder, frozen, (crops_rand, objs_p),
                                                    {"sample": False}).mu
        return GeneratorOutput(crops_real=crops_real, crops_rec=crops_rec, crops_rand=crops_rand,
                               img_rec=img_rec, img_rand=img_rand, mu=code.mu, logvar=code.logvar,
                               z_rand=z_rand, z_rand_rec=z_rand_rec, img_rand2=img_rand2)
