"""Label propagation against DINO's ``eval_video_segmentation.py`` (facebookresearch/dino), re-implemented here from
that code: frames read with OpenCV and resized to a short side of 480 with the long side floored to a multiple of
64, DINO's colour normalisation, the first annotation downsampled with PIL's nearest and one-hot encoded over ids
0..max, the queue of the 7 preceding frames, the dense affinity exp(cos / 0.1) under the square neighbourhood mask
of radius 12, top-5 per query, the labels upsampled by the patch size, ``norm_mask``, argmax and a nearest resize
to the original frame. Features come from the same frozen model on both sides (a ViT's last layer without its CLS
token, as DINO's ``extract_feature``; for a convolutional encoder its stride-16 stage, the stride playing the patch
size). The video is a generated DAVIS-layout sequence at DAVIS's 854 x 480.
"""

import copy
import queue

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vito_hf import VitoModel, load_preset
from vito_hf.evaluation.davis import read_davis
from vito_hf.evaluation.metrics import load_metric
from vito_hf.evaluation.propagation import (
    DINO_IMAGE_MEAN,
    DINO_IMAGE_STD,
    PropagationProtocol,
    evaluate_sequences,
    frame_feature_maps,
)
from vito_hf.evaluation.synthetic_davis import write_synthetic_davis

cv2 = pytest.importorskip("cv2")

N_LAST_FRAMES, SIZE_MASK_NEIGHBORHOOD, TOPK = 7, 12, 5


# ---- eval_video_segmentation.py, with the model's forward pass given as ``extract_feature`` ----
def color_normalize(x, mean=(0.485, 0.456, 0.406), std=(0.228, 0.224, 0.225)):
    for t, m, s in zip(x, mean, std):
        t.sub_(m)
        t.div_(s)
    return x


def read_frame(frame_dir, scale_size=(480,)):
    img = cv2.imread(frame_dir)
    ori_h, ori_w, _ = img.shape
    if ori_h > ori_w:
        tw = scale_size[0]
        th = (tw * ori_h) / ori_w
        th = int((th // 64) * 64)
    else:
        th = scale_size[0]
        tw = (th * ori_w) / ori_h
        tw = int((tw // 64) * 64)
    img = cv2.resize(img, (tw, th))
    img = img.astype(np.float32)
    img = img / 255.0
    img = img[:, :, ::-1]
    img = np.transpose(img.copy(), (2, 0, 1))
    img = torch.from_numpy(img).float()
    img = color_normalize(img)
    return img, ori_h, ori_w


def to_one_hot(y_tensor, n_dims=None):
    if n_dims is None:
        n_dims = int(y_tensor.max() + 1)
    _, h, w = y_tensor.size()
    y_tensor = y_tensor.type(torch.LongTensor).view(-1, 1)
    y_one_hot = torch.zeros(y_tensor.size()[0], n_dims).scatter_(1, y_tensor, 1)
    y_one_hot = y_one_hot.view(h, w, n_dims)
    return y_one_hot.permute(2, 0, 1).unsqueeze(0)


def read_seg(seg_dir, factor, scale_size=(480,)):
    seg = Image.open(seg_dir)
    _w, _h = seg.size
    if _w > _h:
        _th = scale_size[0]
        _tw = (_th * _w) / _h
        _tw = int((_tw // 64) * 64)
    else:
        _tw = scale_size[0]
        _th = (_tw * _h) / _w
        _th = int((_th // 64) * 64)
    small_seg = np.array(seg.resize((_tw // factor, _th // factor), 0))
    small_seg = torch.from_numpy(small_seg.copy()).contiguous().float().unsqueeze(0)
    return to_one_hot(small_seg), np.asarray(seg)


def restrict_neighborhood(h, w):
    # DINO's four nested loops; the two innermost (the window around (i, j), clipped to the grid) as one slice.
    mask = torch.zeros(h, w, h, w)
    r = SIZE_MASK_NEIGHBORHOOD
    for i in range(h):
        for j in range(w):
            mask[i, j, max(0, i - r) : min(h, i + r + 1), max(0, j - r) : min(w, j + r + 1)] = 1
    return mask.reshape(h * w, h * w)


def norm_mask(mask):
    c, h, w = mask.size()
    for cnt in range(c):
        mask_cnt = mask[cnt, :, :]
        if mask_cnt.max() > 0:
            mask_cnt = mask_cnt - mask_cnt.min()
            mask_cnt = mask_cnt / mask_cnt.max()
            mask[cnt, :, :] = mask_cnt
    return mask


def label_propagation(extract_feature, frame_tar, list_frame_feats, list_segs, mask_neighborhood=None):
    feat_tar, h, w = extract_feature(frame_tar, return_h_w=True)
    return_feat_tar = feat_tar.T
    ncontext = len(list_frame_feats)
    feat_sources = torch.stack(list_frame_feats)
    feat_tar = F.normalize(feat_tar, dim=1, p=2)
    feat_sources = F.normalize(feat_sources, dim=1, p=2)
    feat_tar = feat_tar.unsqueeze(0).repeat(ncontext, 1, 1)
    aff = torch.exp(torch.bmm(feat_tar, feat_sources) / 0.1)
    if SIZE_MASK_NEIGHBORHOOD > 0:
        if mask_neighborhood is None:
            mask_neighborhood = restrict_neighborhood(h, w)
            mask_neighborhood = mask_neighborhood.unsqueeze(0).repeat(ncontext, 1, 1)
        aff *= mask_neighborhood
    aff = aff.transpose(2, 1).reshape(-1, h * w)
    tk_val, _ = torch.topk(aff, dim=0, k=TOPK)
    tk_val_min, _ = torch.min(tk_val, dim=0)
    aff[aff < tk_val_min] = 0
    aff = aff / torch.sum(aff, keepdim=True, axis=0)
    segs = torch.cat(list_segs)
    nmb_context, C, h, w = segs.shape
    segs = segs.reshape(nmb_context, C, -1).transpose(2, 1).reshape(-1, C).T
    seg_tar = torch.mm(segs, aff)
    seg_tar = seg_tar.reshape(1, C, h, w)
    return seg_tar, return_feat_tar, mask_neighborhood


def eval_video_tracking_davis(extract_feature, patch_size, frame_list, first_seg, seg_ori):
    """DINO's loop; returns the label maps it would write as PNGs (frame 0: the given annotation)."""
    que = queue.Queue(N_LAST_FRAMES)
    frame1, ori_h, ori_w = read_frame(frame_list[0])
    frame1_feat = extract_feature(frame1).T
    outputs = [np.asarray(seg_ori)]
    mask_neighborhood = None
    for cnt in range(1, len(frame_list)):
        frame_tar = read_frame(frame_list[cnt])[0]
        used_frame_feats = [frame1_feat] + [pair[0] for pair in list(que.queue)]
        used_segs = [first_seg] + [pair[1] for pair in list(que.queue)]
        frame_tar_avg, feat_tar, mask_neighborhood = label_propagation(
            extract_feature, frame_tar, used_frame_feats, used_segs, mask_neighborhood
        )
        if que.qsize() == N_LAST_FRAMES:
            que.get()
        seg = copy.deepcopy(frame_tar_avg)
        que.put([feat_tar, seg])
        frame_tar_avg = F.interpolate(
            frame_tar_avg, scale_factor=patch_size, mode="bilinear", align_corners=False, recompute_scale_factor=False
        )[0]
        frame_tar_avg = norm_mask(frame_tar_avg)
        _, frame_tar_seg = torch.max(frame_tar_avg, dim=0)
        frame_tar_seg = frame_tar_seg.squeeze().cpu().numpy().astype(np.uint8)
        frame_tar_seg = np.array(Image.fromarray(frame_tar_seg).resize((ori_w, ori_h), 0))
        outputs.append(frame_tar_seg)
    return np.stack(outputs)


# ---- the two encoders, as DINO's extract_feature would see them ----
def vit_extractor(model, patch):
    @torch.no_grad()
    def extract_feature(frame, return_h_w=False):
        out = model(pixel_values=frame.unsqueeze(0), interpolate_pos_encoding=True).last_hidden_state
        out = out[:, 1:, :]  # we discard the [CLS] token
        h, w = int(frame.shape[1] / patch), int(frame.shape[2] / patch)
        dim = out.shape[-1]
        out = out[0].reshape(h, w, dim).reshape(-1, dim)
        return (out, h, w) if return_h_w else out

    return extract_feature


def conv_extractor(model):
    @torch.no_grad()
    def extract_feature(frame, return_h_w=False):
        out = model(pixel_values=frame.unsqueeze(0), output_hidden_states=True).hidden_states[-2][0]  # C x h x w
        dim, h, w = out.shape
        out = out.permute(1, 2, 0).reshape(-1, dim)
        return (out, h, w) if return_h_w else out

    return extract_feature


def vit_model():
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       patch_size=16, image_size=224)
    return ViTModel(config, add_pooling_layer=False).eval()


def vito_model():
    torch.manual_seed(0)
    return VitoModel(load_preset("tiny")).eval()


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    root = write_synthetic_davis(tmp_path_factory.mktemp("davis"), num_sequences=1, num_frames=10, height=480,
                                 num_objects=3)
    (sequence,) = read_davis(root)
    return sequence


def dino_reference(sequence, extract_feature, patch_size):
    frame_list = [str(path) for path in sequence.frames]
    first_seg, seg_ori = read_seg(str(sequence.annotations[0]), patch_size)
    return eval_video_tracking_davis(extract_feature, patch_size, frame_list, first_seg, seg_ori)


def agreement(ours, reference):
    return float((ours[1:] == reference[1:]).mean())


@pytest.mark.parametrize("architecture", ["vit", "vito"])
def test_propagation_equals_dinos_on_a_generated_video(sequence, architecture):
    model = vit_model() if architecture == "vit" else vito_model()
    extract = vit_extractor(model, 16) if architecture == "vit" else conv_extractor(model)
    reference = dino_reference(sequence, extract, patch_size=16)
    assert reference.shape == (10, 480, 854)

    def encode(frames):
        assert frames.shape[1:3] == (480, 832)  # DINO's 854 -> 832
        return frame_feature_maps(model, frames, image_mean=DINO_IMAGE_MEAN, image_std=DINO_IMAGE_STD)

    result, predictions = evaluate_sequences([sequence], encode)
    ours = predictions[sequence.name]
    assert agreement(ours, reference) >= 0.999, agreement(ours, reference)
    assert result["per_sequence"][sequence.name]["stride"] == 16
    assert result["per_sequence"][sequence.name]["feature_grid"] == [30, 52]
    assert result["protocol"]["propagation"]["seed_labels"] == "one-hot"
    # Scored the same way, DINO's label maps give the same J&F.
    annotations = sequence.read_annotations()
    dino = load_metric("davis_jf").compute(
        predictions=list(reference), references=list(annotations), allow_missing_objects=True
    )
    assert result["JF_mean"] == pytest.approx(dino["JF_mean"], abs=2e-3)

    # vito_hf's earlier choices (soft area-pooled seeds, bilinear straight to the frame, frames at their own size,
    # ImageNet's std) stay available, and are not DINO's protocol.
    earlier = PropagationProtocol(short_side=None, seed_labels="area", upsample="frame", normalisation="processor")
    _, old = evaluate_sequences([sequence], lambda frames: frame_feature_maps(model, frames), protocol=earlier)
    assert agreement(old[sequence.name], reference) < agreement(ours, reference)


def test_dino_resize_rule():
    protocol = PropagationProtocol()
    assert protocol.frame_size(480, 854) == (480, 832)
    assert protocol.frame_size(480, 910) == (480, 896)
    assert protocol.frame_size(854, 480) == (832, 480)  # portrait: the width is the short side
    assert protocol.frame_size(240, 427) == (480, 832)  # smaller frames are enlarged to the short side
    assert PropagationProtocol(short_side=None).frame_size(97, 123) == (97, 123)
    with pytest.raises(ValueError, match="seed_labels must be one of"):
        PropagationProtocol(seed_labels="soft")
