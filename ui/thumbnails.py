"""First-frame thumbnails, decoded on a pool thread so a large plate never stalls the panel.

Images (and the first file of a sequence) are read with ``QImageReader``; videos with PyAV when it is
installed (the panel itself does not need it: without it, video sources show no thumbnail).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader

from engine.video_streams import ffmpeg_file_name, picture_stream
from ui.sources import first_frame_file, is_video


def read_first_frame(source: str, max_side_px: int = 256) -> QImage:
    """The source's first frame scaled to fit ``max_side_px``; a null QImage when unreadable."""
    path = first_frame_file(source)
    if path is None:
        return QImage()
    image = _read_video_frame(str(path)) if is_video(str(path)) else _read_image(str(path), max_side_px)
    if image.isNull():
        return image
    if max(image.width(), image.height()) > max_side_px:
        image = image.scaled(QSize(max_side_px, max_side_px), Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def _read_image(path: str, max_side_px: int) -> QImage:
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > max_side_px:
        size.scale(QSize(max_side_px, max_side_px), Qt.AspectRatioMode.KeepAspectRatio)
        reader.setScaledSize(size)
    return reader.read()


def _read_video_frame(path: str) -> QImage:
    try:
        import av  # optional: the panel runs without PyAV
    except ImportError:
        return QImage()
    try:
        with av.open(ffmpeg_file_name(path)) as container:
            stream = picture_stream(container)  # the engine's rule: cover art is not the clip's picture
            if stream is None:  # an audio file with artwork only: the engine refuses it, so no thumbnail
                return QImage()
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24")  # [H,W,3] uint8, rows may be padded
                height, width, _ = rgb.shape
                data = rgb.tobytes()  # packed rows: exactly 3 * width bytes each
                return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    except Exception:
        return QImage()
    return QImage()


class _ThumbnailJob(QRunnable):
    def __init__(self, loader: ThumbnailLoader, source: str, max_side_px: int) -> None:
        super().__init__()
        self._loader = loader
        self._source = source
        self._max_side_px = max_side_px

    def run(self) -> None:
        image = read_first_frame(self._source, self._max_side_px)
        try:
            self._loader.ready.emit(self._source, image)
        except RuntimeError:
            pass  # the panel was closed while the frame was read


class ThumbnailLoader(QObject):
    """``load(source)`` returns at once; ``ready(source, image)`` follows from a pool thread."""

    ready = Signal(str, QImage)

    def __init__(self, max_side_px: int = 256, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._max_side_px = max_side_px
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)

    def load(self, source: str) -> None:
        self._pool.start(_ThumbnailJob(self, source, self._max_side_px))

    def wait(self, timeout_ms: int = 10000) -> bool:
        return self._pool.waitForDone(timeout_ms)
