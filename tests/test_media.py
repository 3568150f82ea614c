"""Test media maker: every output is checked by decoding it again with PyAV (and Decord where
the scan relies on it). All clips here are synthetic re-encodings of the bundled real clips."""

from __future__ import annotations

from pathlib import Path

import av
import damaged_media
import decord
import numpy as np
import pytest

from vidfake import media

SOURCE = "cosanlab__single_face.mp4"  # 640x360, 30 fps, 72 frames, one frontal face
OTHER = "OpenTalker__s.mp4"  # 256x256, 25 fps


def _decode(path: Path) -> tuple[list[np.ndarray], av.video.stream.VideoStream, list[int]]:
    """All frames (RGB), the video stream and each frame's rotation, via PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, rotations = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            rotations.append(frame.rotation)
        return frames, stream, rotations


@pytest.fixture(scope="module")
def base(tmp_path_factory, sample_dir) -> Path:
    """A 12-frame synthetic cut of a real clip, the input for the re-encoding tests."""
    dst = tmp_path_factory.mktemp("media") / "base.mp4"
    return media.cut(sample_dir / "clips" / SOURCE, dst, max_frames=12)


def test_cut_by_frames_and_by_time(tmp_path, sample_dir, base):
    frames, stream, _ = _decode(base)
    assert len(frames) == 12
    assert frames[0].shape == (360, 640, 3)
    assert stream.codec_context.name == "h264"

    timed = media.cut(sample_dir / "clips" / SOURCE, tmp_path / "t.mp4", 1.0, 0.5)
    later, _, _ = _decode(timed)
    assert len(later) == 15  # 0.5 s at 30 fps
    # Starting 1 s in gives different pictures than the start of the clip.
    assert np.abs(later[0].astype(int) - frames[0].astype(int)).mean() > 1.0


@pytest.mark.parametrize(
    ("codec", "suffix", "decoded_as"),
    [
        ("libx264", ".mp4", "h264"),
        ("libx264", ".264", "h264"),
        ("mpeg4", ".avi", "mpeg4"),
        ("mpeg1video", ".mpg", "mpeg1video"),
        ("libvpx", ".webm", "vp8"),
        ("gif", ".gif", "gif"),
    ],
)
def test_reencode_codecs(tmp_path, base, codec, suffix, decoded_as):
    out = media.reencode(base, tmp_path / f"clip{suffix}", codec=codec, fps=25)
    frames, stream, _ = _decode(out)
    assert stream.codec_context.name == decoded_as
    assert len(frames) == 10  # 12 frames at 30 fps last 0.4 s -> 10 frames at 25 fps


def test_reencode_fps_and_scale(tmp_path, base):
    out = media.reencode(base, tmp_path / "small.mp4", fps=10, scale=0.5)
    frames, stream, _ = _decode(out)
    assert len(frames) == 4
    assert float(stream.average_rate) == pytest.approx(10.0)
    assert frames[0].shape == (180, 320, 3)

    odd = media.reencode(base, tmp_path / "odd.mp4", scale=(161, 91))
    frames, _, _ = _decode(odd)
    assert len(frames) == 12
    assert frames[0].shape == (91, 161, 3)
    assert decord.VideoReader(str(odd))[0].shape == (91, 161, 3)


def test_rotation_metadata_reads_back(tmp_path, base):
    out = media.reencode(base, tmp_path / "rot.mp4", rotation=90)
    frames, _, rotations = _decode(out)
    assert frames[0].shape == (360, 640, 3)  # pixels are stored unrotated
    assert {r % 360 for r in rotations} == {90}
    # Decord applies the display matrix: the frame comes back portrait.
    assert decord.VideoReader(str(out))[0].shape == (640, 360, 3)
    # cut keeps the source's rotation.
    again = media.cut(out, tmp_path / "rot_cut.mp4", max_frames=3)
    assert {r % 360 for r in _decode(again)[2]} == {90}


def test_compose_side_by_side(tmp_path, sample_dir, base):
    other = media.cut(sample_dir / "clips" / OTHER, tmp_path / "other.mp4", max_frames=8)
    out = media.compose([base, other], tmp_path / "two.mp4")
    frames, _, _ = _decode(out)
    assert len(frames) == 8  # the shorter source
    assert frames[0].shape == (360, 640 + 360, 3)  # 256x256 scaled to height 360
    tall = media.compose([base, other], tmp_path / "tall.mp4", layout="vstack")
    assert _decode(tall)[0][0].shape == (360 + 640, 640, 3)
    with pytest.raises(ValueError, match="unknown layout"):
        media.compose([base], tmp_path / "x.mp4", layout="diagonal")


def test_render_frames(tmp_path):
    # Synthetic frames: a grey ramp, to check pixels survive the round trip.
    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))
    out = media.render_frames([ramp] * 5, tmp_path / "ramp.mp4", fps=5)
    frames, _, _ = _decode(out)
    assert len(frames) == 5
    assert np.abs(frames[2].astype(int) - ramp.astype(int)).mean() < 6
    with pytest.raises(ValueError, match="no frames"):
        media.render_frames([], tmp_path / "none.mp4", fps=5)
    assert not (tmp_path / "none.mp4").exists()


@pytest.mark.parametrize("kind", damaged_media.DAMAGED_KINDS)
def test_damaged_kinds(tmp_path, kind):
    path = damaged_media.make_damaged(kind, tmp_path / f"{kind}.mp4")
    assert path.exists()
    if kind in ("truncated", "zero_bytes", "random_bytes", "text"):
        with pytest.raises(av.error.InvalidDataError):
            av.open(str(path))
        if kind == "zero_bytes":
            assert path.stat().st_size == 0
        if kind == "truncated":
            assert path.stat().st_size > 1000
        return
    with av.open(str(path)) as container:
        if kind == "audio_only":
            assert not container.streams.video
            assert container.streams.audio[0].codec_context.name == "aac"
            assert sum(f.samples for f in container.decode(audio=0)) >= 44100
            return
    if (
        kind == "bit_flips"
    ):  # a whole decode stops at the first bad packet; packets after it are fine
        with av.open(str(path)) as container, pytest.raises(av.error.InvalidDataError):
            for _ in container.decode(video=0):
                pass
        return
    frames, _, _ = _decode(path)
    if kind == "one_frame":
        assert len(frames) == 1
    else:
        assert len(frames) == 10
        assert frames[0].shape == (16, 16, 3)


def test_bad_requests_are_clear(tmp_path):
    with pytest.raises(ValueError, match="unknown damaged kind"):
        damaged_media.make_damaged("melted", tmp_path / "x.mp4")
    audio = damaged_media.make_damaged("audio_only", tmp_path / "audio.mp4")
    with pytest.raises(ValueError, match="no video stream"):
        media.cut(audio, tmp_path / "y.mp4")


def test_still_clip_drifts_over_a_real_photo(tmp_path, sample_dir):
    photo = sample_dir / "photos" / "face_recognition" / "obama.jpg"
    clip = media.still_clip(photo, tmp_path / "still.mp4", seconds=2.0, fps=10, seed=1)
    vr = decord.VideoReader(str(clip))
    assert len(vr) == 20 and vr.get_avg_fps() == pytest.approx(10)
    first, last = vr[0].asnumpy().astype(int), vr[19].asnumpy().astype(int)
    assert first.shape[0] % 2 == 0 and first.shape[1] % 2 == 0
    assert np.abs(first - last).mean() > 3, "the camera drifts"
    with pytest.raises(ValueError, match="not a readable image"):
        media.still_clip(tmp_path / "still.mp4", tmp_path / "x.mp4")
