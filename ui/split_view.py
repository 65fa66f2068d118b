"""Before/after comparison: the source frame left of a draggable split, the stylized frame right.

Both images are drawn into the same aspect-fitted rectangle, so the split line shows the same
pixel column of each; dragging (or clicking) moves the split. At 1:1 one image pixel is one screen
pixel, also on a HiDPI screen (200 %: half as many logical pixels), on a whole-pixel position; a
frame larger than the view is panned with the middle button or Shift+drag (or a plain drag when
only A or B shows), so the face need not be in the middle of the plate to be looked at.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

SPLIT, SHOW_A, SHOW_B = "split", "a", "b"


class SplitCompareView(QWidget):
    """Custom-painted split view; ``split`` is the fraction of the image width showing "before"."""

    split_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._before = QPixmap()
        self._after = QPixmap()
        self._split = 0.5
        self.mode = SPLIT
        """``split``: before left of the line, after right; ``a``: only the source; ``b``: only the result."""
        self.one_to_one = False
        """Draw at 1:1 pixels (cropped by the view, panned by ``pan``) instead of fitting the view."""
        self.pan = QPointF(0, 0)
        """At 1:1: how far the frame's centre is moved from the view's (logical pixels; kept inside)."""
        self._pan_start: tuple[QPointF, QPointF] | None = None  # (press position, pan then) while panning
        # a 960x540 window (1080p at 200 %) with a title bar above it still gives the queue its rows
        self.setMinimumSize(200, 64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(False)
        self.setCursor(Qt.CursorShape.SplitHCursor)

    # --- images -------------------------------------------------------------------------------
    def set_images(self, before: QImage, after: QImage) -> None:
        """Show a new pair (converted to pixmaps here, on the UI thread, as Qt requires)."""
        self._after = QPixmap.fromImage(after)
        self._before = QPixmap.fromImage(before) if not before.isNull() else QPixmap()
        self.update()

    def clear(self) -> None:
        self._before, self._after = QPixmap(), QPixmap()
        self.update()

    def before_pixmap(self) -> QPixmap:
        return self._before

    def after_pixmap(self) -> QPixmap:
        return self._after

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._show_cursor()
        self.update()

    def set_one_to_one(self, on: bool) -> None:
        self.one_to_one = bool(on)
        self.pan = QPointF(0, 0)  # each 1:1 look starts at the middle
        self._show_cursor()
        self.update()

    def _show_cursor(self) -> None:
        """What a plain drag does here: move the split, or (1:1, only A or B shown) pan the frame."""
        pans = self.one_to_one and self.mode != SPLIT
        self.setCursor(Qt.CursorShape.OpenHandCursor if pans else Qt.CursorShape.SplitHCursor)

    # --- split --------------------------------------------------------------------------------
    @property
    def split(self) -> float:
        return self._split

    def set_split(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction != self._split:
            self._split = fraction
            self.split_changed.emit(fraction)
            self.update()

    def image_rect(self) -> QRectF:
        """Where the images are drawn: the largest rect of the stylized image's aspect that fits."""
        source = self._after if not self._after.isNull() else self._before
        if source.isNull():
            return QRectF(self.rect())
        if self.one_to_one:  # device pixels: logical ones are 2 screen pixels at 200 %
            ratio = self.devicePixelRatioF()
            size = QSizeF(source.width() / ratio, source.height() / ratio)
        else:
            size = QSizeF(source.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio))
        x = (self.width() - size.width()) / 2
        y = (self.height() - size.height()) / 2
        if self.one_to_one:  # panned, never past the frame's edges (a frame smaller than the view stays centred)
            x += max(-abs(x), min(abs(x), self.pan.x())) if x < 0 else 0
            y += max(-abs(y), min(abs(y), self.pan.y())) if y < 0 else 0
        return QRectF(x, y, size.width(), size.height())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button, shift = event.button(), event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        if self.one_to_one and (button == Qt.MouseButton.MiddleButton or
                                (button == Qt.MouseButton.LeftButton and (shift or self.mode != SPLIT))):
            self._pan_start = (event.position(), QPointF(self.pan))
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if button == Qt.MouseButton.LeftButton:
            self._drag_to(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_start is not None:
            pressed, pan = self._pan_start
            self.pan = self._clamped(pan + event.position() - pressed)
            self.update()
        elif event.buttons() & Qt.MouseButton.LeftButton:
            self._drag_to(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_start is not None:
            self._pan_start = None
            self._show_cursor()

    def _clamped(self, pan: QPointF) -> QPointF:
        """``pan`` held to what shows the frame's edge at most at the view's edge."""
        self.pan = QPointF(0, 0)
        centred = self.image_rect()
        room_x, room_y = max(0.0, -centred.left()), max(0.0, -centred.top())
        return QPointF(max(-room_x, min(room_x, pan.x())), max(-room_y, min(room_y, pan.y())))

    def _drag_to(self, pos: QPointF) -> None:
        rect = self.image_rect()
        if rect.width() > 0:
            self.set_split((pos.x() - rect.left()) / rect.width())

    def sizeHint(self) -> QSize:
        return QSize(480, 360)

    # --- painting -----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(32, 32, 36))
        if self._after.isNull() and self._before.isNull():
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No preview yet")
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        target = self.image_rect()
        if self.one_to_one:  # on whole screen pixels: a half-pixel offset would blur every pixel
            device = painter.deviceTransform()
            corner = device.map(target.topLeft())
            target.moveTopLeft(device.inverted()[0].map(QPointF(round(corner.x()), round(corner.y()))))
        split = {SHOW_A: 1.0, SHOW_B: 0.0}.get(self.mode, self._split)
        split_x = target.left() + split * target.width()
        left = QRectF(target.left(), target.top(), split_x - target.left(), target.height())
        right = QRectF(split_x, target.top(), target.right() - split_x, target.height())
        if not self._before.isNull():
            painter.save()
            painter.setClipRect(left)
            painter.drawPixmap(target, self._before, QRectF(self._before.rect()))
            painter.restore()
        if not self._after.isNull():
            painter.save()
            painter.setClipRect(right)
            painter.drawPixmap(target, self._after, QRectF(self._after.rect()))
            painter.restore()
        painter.setPen(QColor(255, 255, 255))
        if self.mode != SPLIT:
            label = "source (A)" if self.mode == SHOW_A else "stylized (B)"
            painter.drawText(target.adjusted(6, 4, -6, -4), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                             label)
            return
        painter.setPen(QPen(QColor(255, 255, 255, 220), 2))
        painter.drawLine(QPointF(split_x, target.top()), QPointF(split_x, target.bottom()))
        handle = QRect(int(split_x) - 5, int(target.center().y()) - 14, 10, 28)
        painter.fillRect(handle, QColor(255, 255, 255, 200))
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(target.adjusted(6, 4, -6, -4), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                         "source")
        painter.drawText(target.adjusted(6, 4, -6, -4), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                         "stylized")
